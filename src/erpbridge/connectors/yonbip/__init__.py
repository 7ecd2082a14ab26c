"""YonBIP / YonSuite (用友 BIP) connector: the open platform's self-built app APIs (README.md)."""

from __future__ import annotations

from pathlib import Path

import httpx

from erpbridge.connectors._http import build_client
from erpbridge.connectors.yonbip.connector import YonBipConnector
from erpbridge.connectors.yonbip.settings import YonBipSettings
from erpbridge.spi.registry import ConnectorSpec
from erpbridge.spi.settings import ConnectionSettings

__all__ = ["SPEC", "YonBipConnector", "YonBipSettings", "create"]


def create(settings: ConnectionSettings, http: httpx.AsyncClient | None) -> YonBipConnector:
    """Build a connector; makes an HTTP client from the limits when none is given."""
    if not isinstance(settings, YonBipSettings):
        raise TypeError("the yonbip connector needs YonBipSettings")
    if http is None:
        ca = Path(settings.ca_file) if settings.ca_file else None
        http = build_client(settings.limits, ca_file=ca)
    return YonBipConnector(settings, http)


SPEC = ConnectorSpec(
    name="yonbip",
    settings=YonBipSettings,
    create=create,
    summary="Yonyou YonBIP / YonSuite 用友BIP (open API: 客户, 销售订单, 物料, 现存量)",
    kind="erp",
)
