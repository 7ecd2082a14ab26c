"""SAP S/4HANA connector over OData V2 (see README.md): the registry entry ``SPEC``."""

from __future__ import annotations

import httpx

from erpbridge.connectors.sap.connector import SapConnector
from erpbridge.connectors.sap.settings import SapSettings
from erpbridge.spi.errors import ConfigError
from erpbridge.spi.registry import ConnectorSpec
from erpbridge.spi.settings import ConnectionSettings

__all__ = ["SPEC", "SapConnector", "SapSettings", "create"]


def create(settings: ConnectionSettings, http: httpx.AsyncClient | None) -> SapConnector:
    """Build a connector from validated settings and the caller's HTTP client (or None).

    Raises:
        ConfigError: the settings are not ``SapSettings``.
    """
    if not isinstance(settings, SapSettings):
        raise ConfigError(f"sap connector needs SapSettings, not {type(settings).__name__}")
    return SapConnector(settings, http)


SPEC = ConnectorSpec(
    name="sap",
    settings=SapSettings,
    create=create,
    summary="SAP S/4HANA OData V2: partners, customers, sales orders, products, stock, credit",
    kind="erp",
)
