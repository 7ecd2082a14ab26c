"""NATS JetStream connector: change events out, commands and changes in (README.md)."""

from __future__ import annotations

import httpx

from erpbridge.connectors.nats.connector import NatsConnector
from erpbridge.connectors.nats.settings import NatsObject, NatsSettings
from erpbridge.spi.registry import ConnectorSpec
from erpbridge.spi.settings import ConnectionSettings

__all__ = ["SPEC", "NatsConnector", "NatsObject", "NatsSettings", "create"]


def create(settings: ConnectionSettings, http: httpx.AsyncClient | None) -> NatsConnector:
    """Build a connector (NATS does not use the HTTP client; it is ignored)."""
    if not isinstance(settings, NatsSettings):
        raise TypeError("the nats connector needs NatsSettings")
    return NatsConnector(settings)


SPEC = ConnectorSpec(
    name="nats",
    settings=NatsSettings,
    create=create,
    summary="NATS JetStream (change events stored with PubAck, durable pull-consumer intake)",
    kind="generic",
)
