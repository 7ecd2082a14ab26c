"""RabbitMQ (AMQP 0-9-1) connector: change events out, commands and changes in (README.md)."""

from __future__ import annotations

import httpx

from erpbridge.connectors.amqp.connector import AmqpConnector
from erpbridge.connectors.amqp.settings import AmqpObject, AmqpSettings
from erpbridge.spi.registry import ConnectorSpec
from erpbridge.spi.settings import ConnectionSettings

__all__ = ["SPEC", "AmqpConnector", "AmqpObject", "AmqpSettings", "create"]


def create(settings: ConnectionSettings, http: httpx.AsyncClient | None) -> AmqpConnector:
    """Build a connector (AMQP does not use the HTTP client; it is ignored)."""
    if not isinstance(settings, AmqpSettings):
        raise TypeError("the amqp connector needs AmqpSettings")
    return AmqpConnector(settings)


SPEC = ConnectorSpec(
    name="amqp",
    settings=AmqpSettings,
    create=create,
    summary="RabbitMQ / AMQP 0-9-1 (topic-exchange change events with confirms, queue intake)",
    kind="generic",
)
