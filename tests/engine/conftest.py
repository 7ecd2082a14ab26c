"""An engine harness: a project on two in-memory systems, a store per backend, a clock."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from erpbridge.config import Project, load_project_text
from erpbridge.engine.clock import ManualClock
from erpbridge.engine.plans import build_plans
from erpbridge.engine.runtime import Runtime
from erpbridge.engine.worker import Worker
from erpbridge.spi import ConnectorRegistry, Limits
from erpbridge.store import open_store
from tests.engine.memory import MemoryConnector, MemorySystem, memory_spec

PROJECT = """\
connections:
  crm: {type: memory}
  erp: {type: memory, limits: {batch_size: 50}}
flows:
  customers:
    entity: customer
    source: {connection: crm, object: Account, trigger: {poll: 1m}}
    target: {connection: erp, object: Customer, write: upsert, key: Code}
    map:
      Code: source.AccountNumber
      Name: source.Name
    retry: {max_attempts: 3, initial: 1s, max_interval: 30s, dependency_timeout: 1m}
  orders:
    entity: order
    depends_on: [customers]
    source: {connection: crm, object: Order, trigger: {poll: 1m}}
    target: {connection: erp, object: SalesOrder, write: upsert, key: PoNumber}
    when: source.Status == "Activated"
    map:
      PoNumber: source.OrderNumber
      Customer: xref.customer(source.AccountId)
      Amount: source.Amount
    retry: {max_attempts: 3, initial: 1s, max_interval: 30s, dependency_timeout: 1m}
  customers-back:
    entity: customer
    source: {connection: erp, object: Customer, trigger: {poll: 1m}}
    target: {connection: crm, object: Account, write: update}
    map:
      Name: source.Name
"""


@dataclass
class Harness:
    project: Project
    store: sa.Engine
    crm: MemorySystem
    erp: MemorySystem
    clock: ManualClock
    runtime: Runtime

    def worker(self, name: str = "w1", **kw: object) -> Worker:
        plans = build_plans(self.project)
        return Worker(
            self.store,
            self.runtime,
            plans,
            clock=self.clock,
            worker_id=name,
            rng=random.Random(7),
            **kw,
        )  # type: ignore[arg-type]

    async def drain(
        self, worker: Worker | None = None, rounds: int = 50, step_s: float = 0.0
    ) -> None:
        """Work until nothing is claimable (moving the clock by step_s between rounds)."""
        worker = worker or self.worker()
        for _ in range(rounds):
            if await worker.run_once() == 0 and step_s == 0:
                return
            self.clock.advance(step_s)

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        with self.store.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql))]


@pytest.fixture
def harness(store_url: str, tmp_path: Path) -> Iterator[Harness]:
    yield from make_harness(PROJECT, store_url, tmp_path)


def make_harness(text: str, store_url: str, tmp_path: Path) -> Iterator[Harness]:
    """A harness for the project ``text`` (connections ``crm`` and ``erp``, memory type)."""
    registry = ConnectorRegistry(builtin={}, use_entry_points=False)
    registry.register(memory_spec())
    project = load_project_text(
        text, path=tmp_path / "erpbridge.yaml", registry=registry, environ={}
    )
    crm, erp = MemorySystem("crm"), MemorySystem("erp")
    clock = ManualClock()
    runtime = Runtime(
        project,
        registry,
        clock,
        connectors={
            "crm": MemoryConnector(crm),
            "erp": MemoryConnector(erp, Limits(batch_size=50)),
        },
    )
    store = open_store(store_url)
    yield Harness(project, store, crm, erp, clock, runtime)
    store.dispose()
