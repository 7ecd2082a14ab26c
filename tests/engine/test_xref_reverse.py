"""xref lookups in the other direction: an ERP -> CRM flow names a record the CRM sent.

``xref.product(source.Material)`` in a flow from the ERP to the CRM asks for the CRM id of
an ERP material. When the CRM -> ERP product flow created that material, the pair is in
its xref (CRM id -> ERP id); the lookup reads it the other way round.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from erpbridge.config import load_project_text
from erpbridge.engine.clock import ManualClock
from erpbridge.engine.intake import poll_flow
from erpbridge.engine.plans import build_plans
from erpbridge.engine.runtime import Runtime
from erpbridge.engine.worker import Worker
from erpbridge.spi import ConnectorRegistry, Limits
from erpbridge.store import open_store
from tests.engine.memory import MemoryConnector, MemorySystem, memory_spec

PROJECT = """\
connections:
  crm: {type: memory}
  erp: {type: memory}
flows:
  products:
    entity: product
    source: {connection: crm, object: Product, trigger: {poll: 1m}}
    target: {connection: erp, object: Material, write: upsert, key: Code}
    map:
      Code: source.Code
  stock:
    entity: stock
    source: {connection: erp, object: Stock, trigger: {poll: 1m}}
    target: {connection: crm, object: ProductStock, write: upsert, key: Key}
    map:
      Key: concat(source.Material, source.Plant, sep="/")
      Product: xref.product(source.Material, optional=true)
      Quantity: source.Quantity
"""


@dataclass
class Pair:
    store: sa.Engine
    crm: MemorySystem
    erp: MemorySystem
    clock: ManualClock
    runtime: Runtime
    worker: Worker

    async def run(self, flow: str) -> None:
        await poll_flow(self.store, self.runtime, flow, self.clock)
        for _ in range(10):
            if await self.worker.run_once() == 0:
                return


@pytest.fixture
def pair(store_url: str, tmp_path: Path) -> Iterator[Pair]:
    registry = ConnectorRegistry(builtin={}, use_entry_points=False)
    registry.register(memory_spec())
    project = load_project_text(
        PROJECT, path=tmp_path / "erpbridge.yaml", registry=registry, environ={}
    )
    crm, erp = MemorySystem("crm"), MemorySystem("erp")
    clock = ManualClock()
    runtime = Runtime(
        project,
        registry,
        clock,
        connectors={"crm": MemoryConnector(crm), "erp": MemoryConnector(erp, Limits())},
    )
    store = open_store(store_url)
    worker = Worker(store, runtime, build_plans(project), clock=clock, rng=random.Random(5))
    yield Pair(store, crm, erp, clock, runtime, worker)
    store.dispose()


async def test_erp_to_crm_lookup_finds_the_crm_record_through_the_other_flows_xref(
    pair: Pair,
) -> None:
    pair.crm.put("Product", "P1", {"Code": "M-1"})
    await pair.run("products")
    [material] = pair.erp.all("Material")
    pair.erp.put("Stock", "S1", {"Material": material.id, "Plant": "1710", "Quantity": 12})
    pair.erp.put("Stock", "S2", {"Material": "ERP-ONLY", "Plant": "1710", "Quantity": 3})

    await pair.run("stock")

    stock = {r.fields["Key"]: r.fields for r in pair.crm.all("ProductStock")}
    assert stock[f"{material.id}/1710"]["Product"] == "P1"
    assert stock["ERP-ONLY/1710"]["Product"] is None  # optional: the CRM never had it


async def test_no_reverse_lookup_when_a_flow_creates_the_entity_in_this_direction(
    store_url: str, tmp_path: Path
) -> None:
    """Then a missing xref means "not synced yet" (optional: null), not the other pair."""
    text = PROJECT + (
        "  products-back:\n"
        "    entity: product\n"
        "    source: {connection: erp, object: Material, trigger: {poll: 1m}}\n"
        "    target: {connection: crm, object: Product, write: upsert, key: Code}\n"
        "    map: {Code: source.Code}\n"
    )
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
        connectors={"crm": MemoryConnector(crm), "erp": MemoryConnector(erp)},
    )
    store = open_store(store_url)
    worker = Worker(store, runtime, build_plans(project), clock=clock, rng=random.Random(5))
    pair = Pair(store, crm, erp, clock, runtime, worker)
    try:
        crm.put("Product", "P1", {"Code": "M-1"})
        await pair.run("products")
        [material] = erp.all("Material")
        erp.put("Stock", "S1", {"Material": material.id, "Plant": "1710", "Quantity": 12})

        await pair.run("stock")

        [stock] = crm.all("ProductStock")
        assert stock.fields["Product"] is None
    finally:
        store.dispose()
