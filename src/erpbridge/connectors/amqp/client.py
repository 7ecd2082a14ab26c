"""The wire side: one AMQP connection, a publish channel with confirms, the topology.

One connection per connector, opened on first use and reopened after it was lost (not
``connect_robust``: a lost connection must surface as a transient error on the call in
flight, never as a publish that silently waits for a reconnect). Publishing shares one
channel in confirm mode; every ``read_changes`` opens its own channel, so closing it
hands back exactly that read's unacknowledged messages.
"""

from __future__ import annotations

import asyncio

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange
from aiormq.abc import FieldTable
from aiormq.exceptions import InvalidFrameError
from yarl import URL

from erpbridge.connectors.amqp.errors import SYSTEM, classify_error, map_errors
from erpbridge.connectors.amqp.settings import AmqpSettings
from erpbridge.spi.errors import AuthError, ConnectorError

__all__ = ["AmqpClient"]


class AmqpClient:
    """Connection, channels and topology of one ``amqp`` connection.

    Args:
        settings: the connection's settings.
    """

    def __init__(self, settings: AmqpSettings) -> None:
        self.settings = settings
        self._connection: AbstractConnection | None = None
        self._publish_channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._lock = asyncio.Lock()

    async def connection(self) -> AbstractConnection:
        """The open connection, (re)connecting first when needed.

        Raises:
            AuthError: the broker refused the login or the virtual host.
            TransientError: the broker cannot be reached in ``limits.timeout_s``.
        """
        async with self._lock:
            if self._connection is not None and not self._connection.is_closed:
                return self._connection
            self._publish_channel = self._exchange = None
            url = URL(self.settings.url)
            password = self.settings.password.reveal() if self.settings.password else None
            if password is not None:
                url = url.with_password(password)
            try:
                self._connection = await aio_pika.connect(
                    url, timeout=self.settings.limits.timeout_s
                )
            except (TimeoutError, OSError, aio_pika.exceptions.AMQPError) as exc:
                doing = f"connect to {_safe(self.settings.url)}"
                if isinstance(exc, InvalidFrameError) and "Connection.Close" in str(exc):
                    # RabbitMQ answers Connection.Open with Connection.Close (530
                    # NOT_ALLOWED) for an unknown vhost or one the user may not use;
                    # aiormq reports it as an unexpected frame without the reply text.
                    raise AuthError(
                        f"{doing}: the broker refused to open the virtual host "
                        f"{URL(self.settings.url).path or '/'!r} (unknown, or no access)",
                        system=SYSTEM,
                        raw=str(exc),
                    ) from None
                error = classify_error(exc, doing=doing)
                raise _scrubbed(error, password) from None
            if self.settings.declare:
                try:
                    with map_errors(doing="declare the exchange and queues"):
                        channel = await self._connection.channel(publisher_confirms=False)
                        await self._declare(channel)
                        await channel.close()
                except ConnectorError:
                    # Do not keep a connection whose topology is wrong; the next call retries.
                    await self.aclose()
                    raise
            return self._connection

    async def open_channel(self, *, prefetch: int | None = None) -> AbstractChannel:
        """A new channel in confirm mode (the caller closes it)."""
        connection = await self.connection()
        channel = await connection.channel(publisher_confirms=True)
        if prefetch is not None:
            await channel.set_qos(prefetch_count=prefetch)
        return channel

    async def exchange(self) -> AbstractExchange:
        """The events exchange on the shared confirm channel (reopened when closed)."""
        connection = await self.connection()
        if self._publish_channel is None or self._publish_channel.is_closed:
            self._exchange = None
            self._publish_channel = await connection.channel(
                publisher_confirms=True, on_return_raises=self.settings.mandatory
            )
        if self._exchange is None:
            self._exchange = await self._publish_channel.get_exchange(
                self.settings.exchange, ensure=True
            )
        return self._exchange

    def forget_channel(self) -> None:
        """Drop the publish channel (after a failure) so the next call opens a new one."""
        self._publish_channel = self._exchange = None

    async def aclose(self) -> None:
        """Close the connection (and with it every channel)."""
        connection, self._connection = self._connection, None
        self._publish_channel = self._exchange = None
        if connection is not None and not connection.is_closed:
            await connection.close()

    async def _declare(self, channel: AbstractChannel) -> None:
        """Declare the exchange, the dead-letter queue and each object's queue (idempotent)."""
        settings = self.settings
        exchange = await channel.declare_exchange(
            settings.exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        await channel.declare_queue(settings.dead_letter_queue, durable=True)
        for spec in settings.objects.values():
            if spec.queue is None:
                continue
            arguments: FieldTable | None = None
            if spec.queue_type != "classic":
                arguments = {"x-queue-type": str(spec.queue_type)}
            queue = await channel.declare_queue(spec.queue, durable=True, arguments=arguments)
            for pattern in spec.bindings:
                await queue.bind(exchange, routing_key=pattern)


def _safe(url: str) -> str:
    """The URL without user information (for messages)."""
    parsed = URL(url)
    return str(parsed.with_user(None)) if parsed.user else url


def _scrubbed(error: ConnectorError, password: str | None) -> ConnectorError:
    """``error`` with the password blanked from its texts (a library may echo the URL)."""
    if password:
        error.message = error.message.replace(password, "***")
        error.raw = error.raw.replace(password, "***") if error.raw else error.raw
        error.args = (error.message,)
    return error
