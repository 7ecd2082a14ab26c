"""Oracle Fusion Cloud connector over REST (see README.md): the registry entry ``SPEC``."""

from __future__ import annotations

import httpx

from erpbridge.connectors.oracle.connector import OracleConnector
from erpbridge.connectors.oracle.settings import OracleSettings
from erpbridge.spi.errors import ConfigError
from erpbridge.spi.registry import ConnectorSpec
from erpbridge.spi.settings import ConnectionSettings

__all__ = ["SPEC", "OracleConnector", "OracleSettings", "create"]


def create(settings: ConnectionSettings, http: httpx.AsyncClient | None) -> OracleConnector:
    """Build a connector from validated settings and the caller's HTTP client (or None).

    Raises:
        ConfigError: the settings are not ``OracleSettings``.
    """
    if not isinstance(settings, OracleSettings):
        raise ConfigError(f"oracle connector needs OracleSettings, not {type(settings).__name__}")
    return OracleConnector(settings, http)


SPEC = ConnectorSpec(
    name="oracle",
    settings=OracleSettings,
    create=create,
    summary="Oracle Fusion Cloud REST: order hub sales orders, customer accounts, items, "
    "on-hand, requisitions, credit",
    kind="erp",
)
