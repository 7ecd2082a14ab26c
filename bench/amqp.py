"""Broker connector throughput against the real RabbitMQ on this machine.

Steps, each on its own randomly named exchange and queue (deleted at the end):

- write: N change events published through ``write`` in batches of ``--batch`` (every
  batch awaited until RabbitMQ confirmed each event; persistent messages, durable queue);
- read: the same N events consumed through ``read_changes`` in pages of ``--page``,
  each page acknowledged when the next one is asked for (as the engine does);
- read with poison: N messages of which 1 in 10 is not JSON (parked on the dead-letter
  queue with confirms before the page is acknowledged);
- read a stream: N messages in a RabbitMQ stream (``queue_type: stream``), consumed from
  the start with ``x-stream-offset``, each page carrying its last offset as the cursor.

Reports messages per second and this process's CPU seconds (RabbitMQ's CPU is the rest).

``--broker nats`` runs the same steps on the nats connector against the real NATS
JetStream at 127.0.0.1:4222 (file storage; streams deleted at the end).

Run: ``.venv/bin/python bench/amqp.py [--broker amqp|nats] [--messages 20000] [--batch 500]
[--page 500]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import time
import uuid
from collections.abc import Awaitable, Callable

import aio_pika
import nats
import structlog
from yarl import URL

from erpbridge.connectors.amqp import AmqpConnector, AmqpObject, AmqpSettings
from erpbridge.connectors.nats import NatsConnector, NatsObject, NatsSettings
from erpbridge.spi.records import WriteMode, WriteOp, WriteOutcome
from erpbridge.spi.secrets import Secret

URL_TEXT = os.environ.get("ERPBRIDGE_TEST_AMQP_URL", "amqp://guest@127.0.0.1:5672/")
NATS_URL = os.environ.get("ERPBRIDGE_TEST_NATS_URL", "nats://127.0.0.1:4222")
PASSWORD = os.environ.get("ERPBRIDGE_TEST_AMQP_PASSWORD", "guest")


async def _timed(label: str, count: int, step: Callable[[], Awaitable[int]]) -> None:
    cpu, wall = time.process_time(), time.perf_counter()
    done = await step()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert done == count, f"{label}: {done} of {count}"
    print(f"| {label} | {count} | {wall:.2f} | {count / wall:,.0f} | {cpu:.2f} |")


async def main(messages: int, batch: int, page: int) -> None:
    """Run the three steps and print a Markdown table."""
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    settings = AmqpSettings(
        url=URL_TEXT,
        password=Secret.literal(PASSWORD),
        exchange=f"{prefix}.events",
        dead_letter_queue=f"{prefix}.dead_letter",
        system="crm",
        read_limit=messages,
        objects={
            "Account": AmqpObject(queue=f"{prefix}.accounts", bindings=("crm.Account.*",)),
            "Order": AmqpObject(queue=f"{prefix}.orders"),
            "Stream": AmqpObject(queue=f"{prefix}.stream", queue_type="stream"),
        },
    )
    connector = AmqpConnector(settings)
    peer = await aio_pika.connect(URL(URL_TEXT).with_password(PASSWORD))
    channel = await peer.channel()
    fields = {"Name": "华北机械有限公司", "City": "天津", "CreditLimit": "500000.00", "Tier": "A"}

    async def write() -> int:
        confirmed = 0
        for start in range(0, messages, batch):
            ops = [
                WriteOp(WriteMode.UPSERT, {"id": f"A{n}", **fields}, idempotency_key=f"f:A{n}:1")
                for n in range(start, min(start + batch, messages))
            ]
            results = await connector.write("Account", ops)
            confirmed += sum(r.outcome is WriteOutcome.CREATED for r in results)
        return confirmed

    async def read(object: str) -> int:
        seen = 0
        async for p in connector.read_changes(object, None, page):
            seen += len(p.records) + len(p.errors)
        return seen

    async def fill_orders() -> None:
        for n in range(messages):
            body = b"{broken" if n % 10 == 0 else json.dumps({"id": f"O{n}", **fields}).encode()
            await channel.default_exchange.publish(
                aio_pika.Message(body, message_id=f"o{n}"), routing_key=f"{prefix}.orders"
            )

    polls: list[int] = []

    async def read_stream() -> int:
        # Polls as the engine makes them: each hands the last page's cursor to the next
        # (the broker may still be appending what fill_stream sent without confirms).
        seen, cursor, idle = 0, None, 0
        while seen < messages and idle < 20:
            polls.append(seen)
            before = seen
            async for p in connector.read_changes("Stream", cursor, page):
                seen += len(p.records) + len(p.errors)
                cursor = p.cursor or cursor
            idle = idle + 1 if seen == before else 0
        return seen

    async def fill_stream() -> None:
        for n in range(messages):
            body = json.dumps({"id": f"S{n}", **fields}).encode()
            await channel.default_exchange.publish(
                aio_pika.Message(body, message_id=f"s{n}"), routing_key=f"{prefix}.stream"
            )

    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print("| step | messages | wall s | messages/s | connector CPU s |")
    print("|---|---|---|---|---|")
    try:
        await connector.check()
        await _timed(f"write: publish with confirms ({batch} per call)", messages, write)
        label = f"read_changes: consume + ack per page ({page}/page)"
        await _timed(label, messages, lambda: read("Account"))
        await fill_orders()
        await _timed(f"read_changes with 10% poison ({page}/page)", messages, lambda: read("Order"))
        await fill_stream()
        label = f"read_changes from a stream, offset in the cursor ({page}/page)"
        await _timed(label, messages, read_stream)
        print(f"(the stream read took {len(polls)} read_changes calls, cursor handed on)")
    finally:
        queues = ("accounts", "orders", "dead_letter", "stream")
        for queue in (f"{prefix}.{name}" for name in queues):
            await channel.queue_delete(queue)
        await channel.exchange_delete(f"{prefix}.events")
        await peer.close()
        await connector.aclose()


async def main_nats(messages: int, batch: int, page: int) -> None:
    """The same steps on NATS JetStream."""

    p = f"bench{uuid.uuid4().hex[:8]}"
    settings = NatsSettings(
        url=NATS_URL,
        system=p,
        stream=f"{p.upper()}_EVENTS",
        dead_letter_subject=f"{p}dead.letter",
        dead_letter_stream=f"{p.upper()}_DEAD",
        read_limit=messages,
        objects={
            "Account": NatsObject(stream=f"{p.upper()}_EVENTS", subjects=(f"{p}.Account.*",)),
            "Order": NatsObject(stream=f"{p.upper()}_IN", subjects=(f"{p}in.Order.*",)),
        },
    )
    connector = NatsConnector(settings)
    peer = await nats.connect(NATS_URL)
    js = peer.jetstream()
    fields = {"Name": "华北机械有限公司", "City": "天津", "CreditLimit": "500000.00", "Tier": "A"}

    async def write() -> int:
        stored = 0
        for start in range(0, messages, batch):
            ops = [
                WriteOp(WriteMode.UPSERT, {"id": f"A{n}", **fields}, idempotency_key=f"f:A{n}:1")
                for n in range(start, min(start + batch, messages))
            ]
            results = await connector.write("Account", ops)
            stored += sum(r.outcome is WriteOutcome.CREATED for r in results)
        return stored

    async def read(object: str) -> int:
        seen = 0
        async for pg in connector.read_changes(object, None, page):
            seen += len(pg.records) + len(pg.errors)
        return seen

    async def fill_orders() -> None:
        for start in range(0, messages, batch):
            acks = [
                await js.publish_async(
                    f"{p}in.Order.updated",
                    b"{broken" if n % 10 == 0 else json.dumps({"id": f"O{n}", **fields}).encode(),
                )
                for n in range(start, min(start + batch, messages))
            ]
            await asyncio.gather(*acks)

    python = platform.python_version()
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {python} (NATS)")
    print("| step | messages | wall s | messages/s | connector CPU s |")
    print("|---|---|---|---|---|")
    try:
        await connector.check()
        await _timed(f"write: publish, PubAck awaited ({batch} per call)", messages, write)
        label = f"read_changes: fetch + ack per page ({page}/page)"
        await _timed(label, messages, lambda: read("Account"))
        await fill_orders()
        await _timed(f"read_changes with 10% poison ({page}/page)", messages, lambda: read("Order"))
    finally:
        for stream in (f"{p.upper()}_EVENTS", f"{p.upper()}_DEAD", f"{p.upper()}_IN"):
            await js.delete_stream(stream)
        await peer.close()
        await connector.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", choices=("amqp", "nats"), default="amqp")
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--page", type=int, default=500)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    run = main if args.broker == "amqp" else main_nats
    asyncio.run(run(args.messages, args.batch, args.page))
