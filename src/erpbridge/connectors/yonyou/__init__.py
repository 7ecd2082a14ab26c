"""Yonyou U8 / U8+ connector over the U8 OpenAPI (api.yonyouup.com); see README.md."""

from __future__ import annotations

from pathlib import Path

import httpx

from erpbridge.connectors._http import build_client
from erpbridge.connectors.yonyou.connector import U8Connector
from erpbridge.connectors.yonyou.settings import U8Settings
from erpbridge.spi.registry import ConnectorSpec
from erpbridge.spi.settings import ConnectionSettings

__all__ = ["SPEC", "U8Connector", "U8Settings", "create"]


def create(settings: ConnectionSettings, http: httpx.AsyncClient | None) -> U8Connector:
    """Build a connector; makes an HTTP client from the limits when none is given."""
    if not isinstance(settings, U8Settings):
        raise TypeError("the yonyou connector needs U8Settings")
    if http is None:
        ca = Path(settings.ca_file) if settings.ca_file else None
        http = build_client(settings.limits, ca_file=ca)
    return U8Connector(settings, http)


SPEC = ConnectorSpec(
    name="yonyou",
    settings=U8Settings,
    create=create,
    summary="Yonyou U8 / U8+ 用友U8 (OpenAPI: 客户, 存货, 现存量, 销售订单 with tradeid)",
    kind="erp",
)
