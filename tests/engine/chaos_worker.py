"""A worker process for the chaos test: ``python -m tests.engine.chaos_worker STORE TARGET SEED``."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from erpbridge.config import load_project_text
from erpbridge.engine.plans import build_plans
from erpbridge.engine.runtime import Runtime
from erpbridge.engine.worker import Worker
from erpbridge.spi import ConnectorRegistry
from erpbridge.store import open_store
from tests.engine.tablesys import TableConnector, table_spec

PROJECT = """\
connections:
  src: {type: table}
  dst: {type: table}
flows:
  items:
    entity: item
    source: {connection: src, object: Item, trigger: {webhook: true}}
    target: {connection: dst, object: Item, write: upsert, key: Key}
    map:
      Key: source.Key
      Version: source.Version
      Name: source.Name
    retry: {max_attempts: 60, initial: 10ms, max_interval: 200ms}
"""


def registry() -> ConnectorRegistry:
    found = ConnectorRegistry(builtin={}, use_entry_points=False)
    found.register(table_spec())
    return found


async def main(store_url: str, target_url: str, seed: int) -> None:
    project = load_project_text(PROJECT, path=Path("chaos.yaml"), registry=registry(), environ={})
    runtime = Runtime(
        project,
        registry(),
        connectors={
            "src": TableConnector(target_url, seed=seed),
            "dst": TableConnector(target_url, seed=seed, fault_rate=0.2),
        },
    )
    worker = Worker(
        open_store(store_url, migrate=False),
        runtime,
        build_plans(project),
        worker_id=f"chaos-{seed}",
        claim_size=40,
        lease_s=3,
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await worker.run(stop, idle_s=0.05)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
