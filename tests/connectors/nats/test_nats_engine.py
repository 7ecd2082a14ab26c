"""The engine polling a real JetStream consumer: ack after commit, redelivery deduplicated."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

from erpbridge.config import load_project_text
from erpbridge.connectors.nats import SPEC, NatsConnector, NatsSettings
from erpbridge.engine.clock import ManualClock
from erpbridge.engine.intake import poll_flow
from erpbridge.engine.runtime import Runtime
from erpbridge.spi import ConnectorRegistry, Limits
from erpbridge.store import open_store
from tests.connectors.nats.conftest import Bus
from tests.engine.memory import MemoryConnector, MemorySystem, memory_spec

PROJECT = """\
connections:
  bus: {type: nats, url: "nats://127.0.0.1:4222"}
  erp: {type: memory}
flows:
  accounts:
    entity: customer
    source: {connection: bus, object: Account, trigger: {poll: 1m}, page_size: 2}
    target: {connection: erp, object: Customer, write: upsert, key: Code}
    map:
      Code: source.id
"""


async def test_page_committed_but_not_acked_is_redelivered_and_deduplicated(
    settings_for: Callable[..., NatsSettings], bus: Bus, store_url: str, tmp_path: Path
) -> None:
    registry = ConnectorRegistry(builtin={}, use_entry_points=False)
    registry.register(memory_spec())
    registry.register(SPEC)
    project = load_project_text(PROJECT, path=tmp_path / "p.yaml", registry=registry, environ={})
    connector = NatsConnector(settings_for())
    erp = MemoryConnector(MemorySystem("erp"), Limits(batch_size=50))
    runtime = Runtime(project, registry, ManualClock(), connectors={"bus": connector, "erp": erp})  # type: ignore[dict-item]
    store = open_store(store_url)
    stream = connector.settings.objects["Account"].stream or ""
    try:
        await connector.check()
        for n in range(5):
            body = json.dumps({"id": f"A{n}"}).encode()
            await bus.js.publish(
                f"{bus.prefix}wms.Account.updated", body, headers={"Nats-Msg-Id": f"m{n}"}
            )
        # The engine stops after one committed page: that page is nak'ed, never acked.
        first = await poll_flow(store, runtime, "accounts", runtime.clock, max_pages=1)
        for _ in range(100):  # yield (no timed sleep) so the abandoned read's finaliser naks
            await asyncio.sleep(0)
        await connector.client.flush()  # the server has processed the naks

        again = await poll_flow(store, runtime, "accounts", runtime.clock)
        left = await bus.waiting(stream, "erpbridge_Account")
    finally:
        await connector.aclose()
        store.dispose()

    assert first.queued == 2
    assert (again.queued, again.duplicates) == (3, 2)
    assert left == 0
