"""The engine polling a real RabbitMQ queue: ack after commit, redelivery deduplicated."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from erpbridge.config import load_project_text
from erpbridge.connectors.amqp import SPEC, AmqpConnector, AmqpSettings
from erpbridge.engine.clock import ManualClock
from erpbridge.engine.intake import poll_flow
from erpbridge.engine.plans import build_plans
from erpbridge.engine.runtime import Runtime
from erpbridge.engine.worker import Worker
from erpbridge.spi import ConnectorRegistry, Limits
from erpbridge.store import open_store
from tests.connectors.amqp.conftest import Broker
from tests.engine.memory import MemoryConnector, MemorySystem, memory_spec

PROJECT = """\
connections:
  bus: {type: amqp, url: "amqp://guest@127.0.0.1:5672/"}
  erp: {type: memory}
flows:
  accounts:
    entity: customer
    source: {connection: bus, object: Account, trigger: {poll: 1m}, page_size: 2}
    target: {connection: erp, object: Customer, write: upsert, key: Code}
    map:
      Code: source.id
      Name: source.Name
"""


def _runtime(tmp_path: Path, bus: AmqpConnector, erp: MemorySystem) -> Runtime:
    registry = ConnectorRegistry(builtin={}, use_entry_points=False)
    registry.register(memory_spec())
    registry.register(SPEC)
    project = load_project_text(
        PROJECT, path=tmp_path / "erpbridge.yaml", registry=registry, environ={}
    )
    connectors = {"bus": bus, "erp": MemoryConnector(erp, Limits(batch_size=50))}
    return Runtime(project, registry, ManualClock(), connectors=connectors)  # type: ignore[dict-item]


async def test_polled_messages_become_records_in_the_target_and_are_acked(
    settings_for: Callable[..., AmqpSettings], broker: Broker, store_url: str, tmp_path: Path
) -> None:
    bus, erp = AmqpConnector(settings_for()), MemorySystem("erp")
    runtime = _runtime(tmp_path, bus, erp)
    store = open_store(store_url)
    queue = bus.settings.objects["Account"].queue or ""
    try:
        await bus.check()
        for n in range(5):
            body = json.dumps({"id": f"A{n}", "Name": f"客户{n}"}).encode()
            await broker.publish(queue, body, message_id=f"m{n}")

        result = await poll_flow(store, runtime, "accounts", runtime.clock)
        plans = build_plans(runtime.project)
        worker = Worker(store, runtime, plans, clock=runtime.clock, worker_id="w1")
        for _ in range(10):
            if await worker.run_once() == 0:
                break
        waiting = await broker.waiting(queue)
    finally:
        await bus.aclose()
        store.dispose()

    assert result.queued == 5
    assert waiting == 0
    assert sorted(str(r.fields["Name"]) for r in erp.all("Customer")) == [
        f"客户{n}" for n in range(5)
    ]


async def test_page_committed_but_not_acked_is_redelivered_and_deduplicated(
    settings_for: Callable[..., AmqpSettings], broker: Broker, store_url: str, tmp_path: Path
) -> None:
    bus = AmqpConnector(settings_for())
    runtime = _runtime(tmp_path, bus, MemorySystem("erp"))
    store = open_store(store_url)
    queue = bus.settings.objects["Account"].queue or ""
    try:
        await bus.check()
        for n in range(5):
            body = json.dumps({"id": f"A{n}", "Name": "x"}).encode()
            await broker.publish(queue, body, message_id=f"m{n}")
        # The engine stops after one committed page: that page is never acked.
        first = await poll_flow(store, runtime, "accounts", runtime.clock, max_pages=1)
        back_on_queue = await broker.until_waiting(queue, 5)

        again = await poll_flow(store, runtime, "accounts", runtime.clock)
        left = await broker.waiting(queue)
    finally:
        await bus.aclose()
        store.dispose()

    assert first.queued == 2
    assert back_on_queue == 5  # nothing acked before the engine asked for the next page
    assert (again.queued, again.duplicates) == (3, 2)  # the redelivered page deduplicated
    assert left == 0
