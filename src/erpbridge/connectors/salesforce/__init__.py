"""Salesforce connector (REST API, sObject Collections, Outbound Messaging); exports ``SPEC``."""

from __future__ import annotations

import httpx

from erpbridge.connectors._http import build_client
from erpbridge.connectors.salesforce.connector import SalesforceConnector
from erpbridge.connectors.salesforce.settings import SalesforceSettings
from erpbridge.spi.connector import Connector
from erpbridge.spi.errors import ConfigError
from erpbridge.spi.registry import ConnectorSpec
from erpbridge.spi.settings import ConnectionSettings

__all__ = ["SPEC", "SalesforceConnector", "SalesforceSettings", "create_connector"]


def create_connector(
    settings: ConnectionSettings, http: httpx.AsyncClient | None = None
) -> Connector:
    """Build a connector; without ``http`` it makes (and later closes) its own client.

    Raises:
        ConfigError: ``settings`` is not a :class:`SalesforceSettings`.
    """
    if not isinstance(settings, SalesforceSettings):
        raise ConfigError(f"salesforce needs SalesforceSettings, not {type(settings).__name__}")
    if http is None:
        client = build_client(settings.limits, ca_file=settings.ca_file)
        return SalesforceConnector(settings, client, owns_http=True)
    return SalesforceConnector(settings, http)


SPEC = ConnectorSpec(
    name="salesforce",
    settings=SalesforceSettings,
    create=create_connector,
    summary="Salesforce REST API: SOQL change reads, sObject Collections writes, outbound messages",
    kind="crm",
)
