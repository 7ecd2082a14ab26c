"""xref lookups by natural key: ``xref.customer(source.CustomerCode, by="AccountNumber")``."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from erpbridge.config import ConfigErrors, load_project_text
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
  erp: {type: memory, limits: {batch_size: 50}}
flows:
  customers:
    entity: customer
    source: {connection: crm, object: Account, trigger: {poll: 1m}}
    target: {connection: erp, object: Customer, write: upsert, key: Code}
    map:
      Code: source.AccountNumber
      Name: source.Name
  orders:
    entity: order
    source: {connection: crm, object: Order, trigger: {poll: 1m}}
    target: {connection: erp, object: SalesOrder, write: upsert, key: PoNumber}
    map:
      PoNumber: source.OrderNumber
      Customer: xref.customer(source.CustomerCode, by="AccountNumber")
      CustomerCode: xref.customer(source.CustomerCode, by="AccountNumber", returns="key")
    retry: {max_attempts: 3, initial: 1s, max_interval: 30s, dependency_timeout: 1m}
"""


@dataclass
class Keys:
    store: sa.Engine
    crm: MemorySystem
    erp: MemorySystem
    clock: ManualClock
    runtime: Runtime
    worker: Worker

    async def drain(self, rounds: int = 20, step_s: float = 6.0) -> None:
        for _ in range(rounds):
            if await self.worker.run_once() == 0:
                with self.store.connect() as conn:
                    open_jobs = conn.execute(
                        sa.text("select count(*) from jobs where state in ('queued', 'parked')")
                    ).scalar_one()
                if not open_jobs:
                    return
                self.clock.advance(step_s)

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        with self.store.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql))]

    def finds(self) -> int:
        return len([c for c in self.crm.calls if c[0] == "find"])


def _registry() -> ConnectorRegistry:
    registry = ConnectorRegistry(builtin={}, use_entry_points=False)
    registry.register(memory_spec())
    return registry


@pytest.fixture
def keys(store_url: str, tmp_path: Path) -> Iterator[Keys]:
    registry = _registry()
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
    worker = Worker(store, runtime, build_plans(project), clock=clock, rng=random.Random(3))
    yield Keys(store, crm, erp, clock, runtime, worker)
    store.dispose()


def _order(keys: Keys, record_id: str, number: str, code: str) -> None:
    keys.crm.put("Order", record_id, {"OrderNumber": number, "CustomerCode": code})


async def test_order_naming_its_customer_by_code_waits_for_it_then_flows(keys: Keys) -> None:
    keys.crm.put("Account", "A1", {"AccountNumber": "C-001", "Name": "华东贸易"})
    _order(keys, "O1", "PO-1", "C-001")
    await poll_flow(keys.store, keys.runtime, "orders", keys.clock)
    await keys.worker.run_once()
    assert keys.rows("select flow, source_id, state from jobs order by id") == [
        ("orders", "O1", "parked"),
        ("customers", "A1", "queued"),  # found by its code, synced by its id
    ]
    await keys.drain()
    [customer] = keys.erp.all("Customer")
    [order] = keys.erp.all("SalesOrder")
    assert order.fields == {"PoNumber": "PO-1", "Customer": customer.id, "CustomerCode": "C-001"}
    assert keys.rows("select key_field, key_value, source_id from xref_keys") == [
        ("AccountNumber", "C-001", "A1")
    ]


async def test_known_keys_come_from_the_store_without_asking_the_source(keys: Keys) -> None:
    for n in range(30):
        keys.crm.put("Account", f"A{n}", {"AccountNumber": f"C-{n:03d}", "Name": f"客户{n}"})
    await poll_flow(keys.store, keys.runtime, "customers", keys.clock)
    await keys.drain()  # the customer flow remembers the keys others find it by
    for n in range(30):
        _order(keys, f"O{n}", f"PO-{n}", f"C-{n:03d}")
    await poll_flow(keys.store, keys.runtime, "orders", keys.clock)
    await keys.drain()
    assert len(keys.erp.all("SalesOrder")) == 30
    assert keys.finds() == 0
    assert keys.rows("select count(*) from jobs where state = 'parked'") == [(0,)]


async def test_unknown_keys_are_asked_with_one_find_per_batch(keys: Keys) -> None:
    for n in range(30):
        keys.crm.put("Account", f"A{n}", {"AccountNumber": f"C-{n:03d}", "Name": f"客户{n}"})
        _order(keys, f"O{n}", f"PO-{n}", f"C-{n:03d}")
    await poll_flow(keys.store, keys.runtime, "orders", keys.clock)
    await keys.drain()
    assert len(keys.erp.all("SalesOrder")) == 30
    assert len(keys.erp.all("Customer")) == 30
    assert [c for c in keys.crm.calls if c[0] == "find"] == [("find", "Account", 30)]


async def test_a_key_that_moved_to_another_record_follows_it(keys: Keys) -> None:
    keys.crm.put("Account", "A1", {"AccountNumber": "C-001", "Name": "旧客户"})
    await poll_flow(keys.store, keys.runtime, "customers", keys.clock)
    await keys.drain()
    keys.clock.advance(60)
    # The code is given to a new record; the old one gets another code and syncs again.
    keys.crm.put("Account", "A1", {"AccountNumber": "C-OLD", "Name": "旧客户"})
    keys.crm.put("Account", "A2", {"AccountNumber": "C-001", "Name": "新客户"})
    await poll_flow(keys.store, keys.runtime, "customers", keys.clock)
    await keys.drain()
    _order(keys, "O1", "PO-1", "C-001")
    await poll_flow(keys.store, keys.runtime, "orders", keys.clock)
    await keys.drain()
    [order] = keys.erp.all("SalesOrder")
    new = next(c for c in keys.erp.all("Customer") if c.fields["Name"] == "新客户")
    assert order.fields["Customer"] == new.id


async def test_a_key_no_source_record_holds_waits_then_dead_letters_naming_it(
    keys: Keys,
) -> None:
    _order(keys, "O1", "PO-1", "C-404")
    await poll_flow(keys.store, keys.runtime, "orders", keys.clock)
    await keys.drain(rounds=30, step_s=10)
    [(error_class, message, hint)] = keys.rows(
        "select error_class, error_message, hint from dead_letters"
    )
    assert error_class == "dependency"
    assert "xref.customer('C-404', by='AccountNumber')" in str(message)
    assert "no customer record in crm has this key" in str(message)
    assert str(hint).startswith("no customer with AccountNumber 'C-404' ever synced")
    assert keys.erp.all("SalesOrder") == []


async def test_a_key_two_source_records_hold_is_a_dead_letter_at_once(keys: Keys) -> None:
    keys.crm.put("Account", "A1", {"AccountNumber": "C-001", "Name": "甲"})
    keys.crm.put("Account", "A2", {"AccountNumber": "C-001", "Name": "乙"})
    _order(keys, "O1", "PO-1", "C-001")
    await poll_flow(keys.store, keys.runtime, "orders", keys.clock)
    await keys.drain()
    [(error_class, message)] = keys.rows("select error_class, error_message from dead_letters")
    assert error_class == "mapping"
    assert "2 customer records in crm have this key (ids A1, A2)" in str(message)
    assert keys.erp.all("SalesOrder") == []


def test_a_lookup_by_key_needs_a_flow_that_keeps_the_entity(tmp_path: Path) -> None:
    text = PROJECT.replace(
        "    source: {connection: crm, object: Account",
        "    source: {connection: erp, object: Account",
    )
    with pytest.raises(ConfigErrors) as caught:
        build_plans(
            load_project_text(
                text, path=tmp_path / "erpbridge.yaml", registry=_registry(), environ={}
            )
        )
    [first, *_] = caught.value.errors
    assert first.line == 18 and first.column is not None
    assert "no flow keeps customer from that connection" in first.reason


def test_returns_key_needs_by(tmp_path: Path) -> None:
    text = PROJECT.replace(', by="AccountNumber", returns="key")', ', returns="key")')
    with pytest.raises(ConfigErrors) as caught:
        build_plans(
            load_project_text(
                text, path=tmp_path / "erpbridge.yaml", registry=_registry(), environ={}
            )
        )
    assert ['returns="key" needs by="<key field>"' in e.reason for e in caught.value.errors] == [
        True
    ]


async def test_a_key_longer_than_the_store_keeps_is_found_each_time(keys: Keys) -> None:
    code = "C-" + "长" * 300
    keys.crm.put("Account", "A1", {"AccountNumber": code, "Name": "长编码客户"})
    _order(keys, "O1", "PO-1", code)
    await poll_flow(keys.store, keys.runtime, "orders", keys.clock)
    await keys.drain()
    [order] = keys.erp.all("SalesOrder")
    assert order.fields["CustomerCode"] == code
    assert keys.rows("select count(*) from xref_keys") == [(0,)]
    assert keys.rows("select count(*) from dead_letters") == [(0,)]


async def test_a_customer_found_by_code_that_is_a_dead_letter_is_named_in_the_hint(
    keys: Keys,
) -> None:
    keys.crm.put("Account", "A1", {"AccountNumber": "C-001", "Name": "INVALID"})
    _order(keys, "O1", "PO-1", "C-001")
    await poll_flow(keys.store, keys.runtime, "orders", keys.clock)
    await keys.drain(rounds=30, step_s=10)
    rows = keys.rows("select flow, source_id, hint from dead_letters order by id")
    assert [(flow, source) for flow, source, _ in rows] == [("customers", "A1"), ("orders", "O1")]
    assert "is a dead letter in customers" in str(rows[1][2])
    assert "Name is not valid" in str(rows[1][2])
