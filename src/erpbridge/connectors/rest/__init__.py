"""Generic REST connector: any JSON-over-HTTP API described in settings (README.md)."""

from __future__ import annotations

from pathlib import Path

import httpx

from erpbridge.connectors._http import build_client
from erpbridge.connectors.rest.connector import RestConnector
from erpbridge.connectors.rest.settings import RestObject, RestSettings
from erpbridge.spi.registry import ConnectorSpec
from erpbridge.spi.settings import ConnectionSettings

__all__ = ["SPEC", "RestConnector", "RestObject", "RestSettings", "create"]


def create(settings: ConnectionSettings, http: httpx.AsyncClient | None) -> RestConnector:
    """Build a connector; makes an HTTP client from the limits when none is given."""
    if not isinstance(settings, RestSettings):
        raise TypeError("the rest connector needs RestSettings")
    if http is None:
        http = build_client(
            settings.limits, ca_file=Path(settings.ca_file) if settings.ca_file else None
        )
    return RestConnector(settings, http)


SPEC = ConnectorSpec(
    name="rest",
    settings=RestSettings,
    create=create,
    summary="Any JSON REST API (basic/bearer/API key/OAuth2; offset/page/cursor/link paging)",
    kind="generic",
)
