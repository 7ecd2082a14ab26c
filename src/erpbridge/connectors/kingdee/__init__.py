"""Kingdee K/3 Cloud (金蝶云星空) connector: WebAPI DynamicFormService (see README.md)."""

from __future__ import annotations

from pathlib import Path

import httpx

from erpbridge.connectors._http import build_client
from erpbridge.connectors.kingdee.connector import KingdeeConnector
from erpbridge.connectors.kingdee.settings import KingdeeSettings
from erpbridge.spi.registry import ConnectorSpec
from erpbridge.spi.settings import ConnectionSettings

__all__ = ["SPEC", "KingdeeConnector", "KingdeeSettings", "create"]


def create(settings: ConnectionSettings, http: httpx.AsyncClient | None) -> KingdeeConnector:
    """Build a connector; makes an HTTP client from the limits when none is given."""
    if not isinstance(settings, KingdeeSettings):
        raise TypeError("the kingdee connector needs KingdeeSettings")
    if http is None:
        ca = Path(settings.ca_file) if settings.ca_file else None
        http = build_client(settings.limits, ca_file=ca)
    return KingdeeConnector(settings, http)


SPEC = ConnectorSpec(
    name="kingdee",
    settings=KingdeeSettings,
    create=create,
    summary="Kingdee K/3 Cloud 金蝶云星空 (WebAPI: BatchSave, ExecuteBillQuery, Submit/Audit)",
    kind="erp",
)
