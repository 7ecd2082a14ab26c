"""Fixtures: the real RabbitMQ on this machine, with throw-away exchanges and queues.

RabbitMQ runs at 127.0.0.1:5672 as guest/guest (override with ERPBRIDGE_TEST_AMQP_URL,
no password in it, and ERPBRIDGE_TEST_AMQP_PASSWORD). Each test gets its own randomly
named exchange, queues and dead-letter queue, deleted at the end. With CI=true an
unreachable broker fails the test loudly instead of skipping it.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractConnection
from yarl import URL

from erpbridge.connectors.amqp import AmqpConnector, AmqpObject, AmqpSettings
from erpbridge.spi.secrets import Secret

AMQP_URL = os.environ.get("ERPBRIDGE_TEST_AMQP_URL", "amqp://guest@127.0.0.1:5672/")
AMQP_PASSWORD = os.environ.get("ERPBRIDGE_TEST_AMQP_PASSWORD", "guest")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@dataclass
class Broker:
    """A peer on the bus (another ESB member) plus the names this test may use."""

    connection: AbstractConnection
    channel: AbstractChannel
    prefix: str
    exchanges: list[str] = field(default_factory=list)
    queues: list[str] = field(default_factory=list)

    def name(self, what: str) -> str:
        """A fresh name, remembered for deletion at the end of the test."""
        name = f"{self.prefix}.{what}"
        if what.startswith("x"):
            self.exchanges.append(name)
        else:
            self.queues.append(name)
        return name

    async def publish(
        self, queue: str, body: bytes, *, message_id: str | None = None, routing_key: str = ""
    ) -> None:
        """Publish straight into ``queue`` (default exchange), confirmed."""
        message = aio_pika.Message(body=body, message_id=message_id)
        await self.channel.default_exchange.publish(message, routing_key=routing_key or queue)

    async def drain(
        self, queue: str, limit: int = 1000
    ) -> list[aio_pika.abc.AbstractIncomingMessage]:
        """Every message waiting on ``queue``, acked (basic.get until empty)."""
        q = await self.channel.get_queue(queue, ensure=True)
        out = []
        for _ in range(limit):
            message = await q.get(no_ack=True, fail=False, timeout=5)
            if message is None:
                break
            out.append(message)
        return out

    async def waiting(self, queue: str) -> int:
        """Messages ready on ``queue`` (not counting unacked ones)."""
        q = await self.channel.get_queue(queue, ensure=True)
        ok = await q.declare()
        return int(ok.message_count or 0)

    async def until_waiting(self, queue: str, count: int) -> int:
        """Poll (bounded, 5 s) until ``count`` messages are ready on ``queue``; the last count.

        RabbitMQ puts unacked messages back asynchronously after a channel closes, so a
        count taken at once may not see them yet on a busy machine.
        """
        waiting = await self.waiting(queue)
        for _ in range(250):
            if waiting == count:
                break
            await asyncio.sleep(0.02)
            waiting = await self.waiting(queue)
        return waiting


@pytest.fixture
async def broker() -> AsyncIterator[Broker]:
    """A peer connection and a name prefix; everything named with it is deleted after."""
    url = URL(AMQP_URL).with_password(AMQP_PASSWORD)
    try:
        connection = await aio_pika.connect(url, timeout=5)
    except (TimeoutError, OSError, aio_pika.exceptions.AMQPError) as exc:
        message = f"RabbitMQ not reachable at {AMQP_URL}: {exc!r}"
        if IN_CI:
            pytest.fail(f"CI=true requires RabbitMQ; {message}", pytrace=False)
        pytest.skip(message)
    channel = await connection.channel()
    peer = Broker(connection, channel, f"t{uuid.uuid4().hex[:10]}")
    try:
        yield peer
    finally:
        cleanup = await connection.channel()
        for queue in peer.queues:
            await cleanup.queue_delete(queue)
        for exchange in peer.exchanges:
            await cleanup.exchange_delete(exchange)
        await connection.close()


@pytest.fixture
def settings_for(broker: Broker) -> Callable[..., AmqpSettings]:
    """Settings on this test's names: exchange ``x``, queue ``accounts``, its dead letters."""

    def make(**overrides: object) -> AmqpSettings:
        values: dict[str, object] = {
            "url": AMQP_URL,
            "password": Secret.literal(AMQP_PASSWORD),
            "exchange": broker.name("xevents"),
            "dead_letter_queue": broker.name("dead_letter"),
            "system": "crm",
            "wait_s": 0.2,
            "objects": {
                "Account": AmqpObject(
                    queue=broker.name("accounts"), bindings=("crm.Account.*", "wms.Account.*")
                )
            },
        }
        values.update(overrides)
        return AmqpSettings.model_validate(values)

    return make


@pytest.fixture
async def connector(settings_for: Callable[..., AmqpSettings]) -> AsyncIterator[AmqpConnector]:
    """A connector on fresh names (declared on first use)."""
    conn = AmqpConnector(settings_for())
    try:
        yield conn
    finally:
        await conn.aclose()
