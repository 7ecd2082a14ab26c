"""RabbitMQ streams (``x-queue-type: stream``) over AMQP 0-9-1: the offset lives in the cursor."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import aio_pika
import pytest

from erpbridge.config import load_project_text
from erpbridge.connectors.amqp import SPEC, AmqpConnector, AmqpObject, AmqpSettings
from erpbridge.connectors.amqp.stream import stream_offset
from erpbridge.engine.clock import ManualClock
from erpbridge.engine.intake import load_cursor, poll_flow
from erpbridge.engine.plans import build_plans
from erpbridge.engine.runtime import Runtime
from erpbridge.engine.worker import Worker
from erpbridge.spi import ConnectorRegistry, Limits
from erpbridge.spi.records import ChangePage, Cursor
from erpbridge.store import open_store
from tests.connectors.amqp.conftest import Broker
from tests.engine.memory import MemoryConnector, MemorySystem, memory_spec


def _stream_settings(
    settings_for: Callable[..., AmqpSettings], broker: Broker, **obj: object
) -> AmqpSettings:
    spec = AmqpObject(queue=broker.name("orders-stream"), queue_type="stream", **obj)  # type: ignore[arg-type]
    return settings_for(objects={"Order": spec})


async def _publish(broker: Broker, stream: str, ids: range, body: bytes | None = None) -> None:
    for n in ids:
        payload = body or json.dumps({"id": f"O{n}", "n": n}).encode()
        await broker.publish(stream, payload, message_id=f"m{n}")


async def _read(conn: AmqpConnector, cursor: Cursor | None, page_size: int = 3) -> list[ChangePage]:
    return [p async for p in conn.read_changes("Order", cursor, page_size)]


async def test_stream_pages_carry_the_offset_and_a_cursor_resumes_after_it(
    settings_for: Callable[..., AmqpSettings], broker: Broker
) -> None:
    conn = AmqpConnector(_stream_settings(settings_for, broker))
    stream = conn.settings.objects["Order"].queue or ""
    try:
        await conn.check()  # declares the stream
        await _publish(broker, stream, range(7))
        first = await _read(conn, None)
        await _publish(broker, stream, range(7, 9))
        second = await _read(conn, first[-1].cursor)
        from_middle = await _read(conn, first[0].cursor)
        nothing = await _read(conn, second[-1].cursor)
        everything = await _read(conn, None, page_size=20)
    finally:
        await conn.aclose()

    assert [[r.id for r in p.records] for p in first] == [
        ["O0", "O1", "O2"],
        ["O3", "O4", "O5"],
        ["O6"],
    ]
    assert [stream_offset(p.cursor) for p in first] == [2, 5, 6]
    assert [p.has_more for p in first] == [True, True, False]
    assert [r.id for p in second for r in p.records] == ["O7", "O8"]
    assert [r.id for p in from_middle for r in p.records] == [f"O{n}" for n in range(3, 9)]
    assert nothing == []
    assert len(everything[0].records) == 9  # reading consumed nothing: a stream is a log


async def test_without_a_cursor_stream_start_next_reads_only_new_messages(
    settings_for: Callable[..., AmqpSettings], broker: Broker
) -> None:
    conn = AmqpConnector(_stream_settings(settings_for, broker, stream_start="next"))
    stream = conn.settings.objects["Order"].queue or ""
    try:
        await conn.check()
        await _publish(broker, stream, range(3))
        pages = await _read(conn, None)
    finally:
        await conn.aclose()

    assert pages == []


async def test_poison_messages_in_a_stream_are_read_errors_and_the_offset_moves_past(
    settings_for: Callable[..., AmqpSettings], broker: Broker
) -> None:
    conn = AmqpConnector(_stream_settings(settings_for, broker))
    stream = conn.settings.objects["Order"].queue or ""
    try:
        await conn.check()
        await _publish(broker, stream, range(2))
        await broker.publish(stream, b"not json", message_id="bad-1")
        (page,) = await _read(conn, None, page_size=10)
        after = await _read(conn, page.cursor)
    finally:
        await conn.aclose()

    assert [r.id for r in page.records] == ["O0", "O1"]
    (error,) = page.errors
    assert error.position == f"stream {stream}, offset 2, message id bad-1"
    assert stream_offset(page.cursor) == 2 and after == []


async def test_a_stream_is_declared_with_its_queue_type_and_refuses_a_classic_redeclare(
    settings_for: Callable[..., AmqpSettings], broker: Broker
) -> None:
    conn = AmqpConnector(_stream_settings(settings_for, broker))
    stream = conn.settings.objects["Order"].queue or ""
    try:
        await conn.check()
        channel = await broker.connection.channel()
        with pytest.raises(aio_pika.exceptions.ChannelPreconditionFailed, match="x-queue-type"):
            await channel.declare_queue(stream, durable=True)  # classic: not the same queue
    finally:
        await conn.aclose()


PROJECT = """\
connections:
  bus:
    type: amqp
    url: "amqp://guest@127.0.0.1:5672/"
    objects:
      Order: {{queue: {stream}, queue_type: stream}}
  erp: {{type: memory}}
flows:
  orders:
    source: {{connection: bus, object: Order, trigger: {{poll: 1m}}, page_size: 2}}
    target: {{connection: erp, object: SalesOrder, write: upsert, key: No}}
    map:
      No: source.id
"""


async def test_a_restart_resumes_after_the_last_committed_page(
    settings_for: Callable[..., AmqpSettings], broker: Broker, store_url: str, tmp_path: Path
) -> None:
    settings = _stream_settings(settings_for, broker)
    stream = settings.objects["Order"].queue or ""
    registry = ConnectorRegistry(builtin={}, use_entry_points=False)
    registry.register(memory_spec())
    registry.register(SPEC)
    project = load_project_text(
        PROJECT.format(stream=stream), path=tmp_path / "erpbridge.yaml", registry=registry
    )
    erp = MemorySystem("erp")
    store = open_store(store_url)

    def process() -> tuple[Runtime, AmqpConnector]:
        bus = AmqpConnector(settings)  # a new process: a new connection, only the store kept
        connectors = {"bus": bus, "erp": MemoryConnector(erp, Limits())}
        return Runtime(project, registry, ManualClock(), connectors=connectors), bus  # type: ignore[dict-item]

    try:
        first, bus = process()
        await bus.check()
        await _publish(broker, stream, range(5))
        stopped = await poll_flow(store, first, "orders", first.clock, max_pages=2)
        await bus.aclose()  # "crash" after two committed pages
        with store.connect() as conn:
            committed = stream_offset(load_cursor(conn, "orders"))
        second, bus = process()
        resumed = await poll_flow(store, second, "orders", second.clock)
        worker = Worker(store, second, build_plans(project), clock=second.clock)
        while await worker.run_once():
            pass
        await bus.aclose()
    finally:
        store.dispose()

    assert stopped.queued == 4 and committed == 3
    assert (resumed.queued, resumed.duplicates) == (1, 0)  # only O4: nothing read twice
    assert sorted(str(r.fields["No"]) for r in erp.all("SalesOrder")) == [f"O{n}" for n in range(5)]
