"""``target.on_delete``: what a flow does when its source record is deleted."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from erpbridge.config import load_project_text
from erpbridge.config.errors import ConfigErrors
from erpbridge.engine.intake import intake_changes, poll_flow
from erpbridge.engine.jobs import Trigger
from erpbridge.engine.plans import build_plans
from erpbridge.engine.worker import Worker
from erpbridge.spi import ConnectorRegistry
from erpbridge.spi.records import Change, ChangeKind, Record
from tests.engine.conftest import PROJECT, Harness, make_harness
from tests.engine.memory import memory_spec


def _worker(harness: Harness, on_delete: str) -> Worker:
    plans = build_plans(harness.project)
    flow = plans["customers"]
    target = flow.spec.target.model_copy(update={"on_delete": on_delete})
    plans["customers"] = replace(flow, spec=flow.spec.model_copy(update={"target": target}))
    return Worker(harness.store, harness.runtime, plans, clock=harness.clock)


async def _synced_customer(harness: Harness, worker: Worker) -> str:
    harness.crm.put("Account", "A1", {"AccountNumber": "C1", "Name": "上海精密"})
    await poll_flow(harness.store, harness.runtime, "customers", harness.clock)
    await harness.drain(worker)
    [customer] = harness.erp.all("Customer")
    return customer.id


def _deleted(harness: Harness, record_id: str = "A1") -> None:
    """The CRM says the account was deleted (as a webhook or a tombstone would)."""
    change = Change("Account", record_id, version="deleted-1", kind=ChangeKind.DELETE)
    intake_changes(harness.store, ["customers"], [change], Trigger.WEBHOOK, harness.clock)


def _last_job(harness: Harness) -> tuple[object, ...]:
    return harness.rows("select state, outcome, target_id from jobs order by id desc")[0]


async def test_deleted_source_is_ignored_by_default(harness: Harness) -> None:
    worker = harness.worker()
    customer = await _synced_customer(harness, worker)
    _deleted(harness)
    await harness.drain(worker)
    assert _last_job(harness)[:2] == ("done", "delete_ignored")
    assert [c.id for c in harness.erp.all("Customer")] == [customer]


async def test_on_delete_delete_removes_the_target_record_and_its_xref(harness: Harness) -> None:
    worker = _worker(harness, "delete")
    customer = await _synced_customer(harness, worker)
    _deleted(harness)
    await harness.drain(worker)
    assert _last_job(harness) == ("done", "deleted", customer)
    assert harness.erp.all("Customer") == []
    assert harness.rows("select count(*) from xref where entity = 'customer'") == [(0,)]
    # Synced again later (the account restored): created anew, not an update of the gone one.
    harness.crm.put("Account", "A1", {"AccountNumber": "C1", "Name": "上海精密"})
    await poll_flow(harness.store, harness.runtime, "customers", harness.clock)
    await harness.drain(worker)
    assert _last_job(harness)[:2] == ("done", "created")


async def test_on_delete_delete_without_xref_has_nothing_to_delete(harness: Harness) -> None:
    worker = _worker(harness, "delete")
    _deleted(harness, "NEVER-SYNCED")
    await harness.drain(worker)
    assert _last_job(harness) == ("done", "no_target", None)
    assert [c for c in harness.erp.calls if c[0] == "write"] == []


async def test_on_delete_delete_of_a_record_already_gone_is_done(harness: Harness) -> None:
    worker = _worker(harness, "delete")
    customer = await _synced_customer(harness, worker)
    del harness.erp.records["Customer"][customer]  # someone deleted it in the ERP first
    _deleted(harness)
    await harness.drain(worker)
    assert _last_job(harness) == ("done", "deleted", customer)
    assert harness.rows("select count(*) from dead_letters") == [(0,)]


async def test_target_that_cannot_delete_answers_with_a_dead_letter(harness: Harness) -> None:
    worker = _worker(harness, "delete")
    customer = await _synced_customer(harness, worker)
    harness.erp.undeletable.add("Customer")
    _deleted(harness)
    await harness.drain(worker)
    [(error_class, message, hint)] = harness.rows(
        "select error_class, error_message, hint from dead_letters"
    )
    assert error_class == "validation"
    assert "Customer records cannot be deleted through the API" in str(message)
    assert str(hint).startswith("erp:Customer refused the delete; delete or cancel the record")
    assert [c.id for c in harness.erp.all("Customer")] == [customer]


async def test_transient_failure_of_a_delete_is_retried(harness: Harness) -> None:
    worker = _worker(harness, "delete")
    await _synced_customer(harness, worker)
    harness.erp.faults.transient_writes = 1
    _deleted(harness)
    await harness.drain(worker, step_s=40)
    assert _last_job(harness)[:2] == ("done", "deleted")
    assert harness.erp.all("Customer") == []


async def test_on_delete_dead_letter_asks_a_person(harness: Harness) -> None:
    worker = _worker(harness, "dead_letter")
    customer = await _synced_customer(harness, worker)
    _deleted(harness)
    await harness.drain(worker)
    [(error_class, message, hint)] = harness.rows(
        "select error_class, error_message, hint from dead_letters"
    )
    assert (error_class, message) == (
        "deleted",
        "the source record A1 was deleted (on_delete: dead_letter)",
    )
    assert "erp:Customer" in str(hint) and "discard" in str(hint)
    assert [c.id for c in harness.erp.all("Customer")] == [customer]


def test_unknown_on_delete_value_is_refused_at_load(tmp_path: Path) -> None:
    registry = ConnectorRegistry(builtin={}, use_entry_points=False)
    registry.register(memory_spec())
    text = PROJECT.replace(
        "write: upsert, key: Code}", "write: upsert, key: Code, on_delete: purge}", 1
    )
    with pytest.raises(ConfigErrors, match=r"target\.on_delete: input should be 'ignore'"):
        load_project_text(text, path=tmp_path / "erpbridge.yaml", registry=registry, environ={})


# A two-way entity: customers (CRM -> ERP, deletes propagated) and customers-back
# (ERP -> CRM), and a flow on each side that finds customers by their natural key, so
# both records of a pair have xref_keys rows.
TWO_WAY = (
    PROJECT.replace("write: upsert, key: Code}", "write: upsert, key: Code, on_delete: delete}", 1)
    + """\
  orders-by-code:
    entity: coded_order
    source: {connection: crm, object: CodedOrder, trigger: {poll: 1m}}
    target: {connection: erp, object: SalesOrder, write: upsert, key: PoNumber}
    map:
      PoNumber: source.OrderNumber
      Customer: xref.customer(source.CustomerCode, by="AccountNumber")
  invoices:
    source: {connection: erp, object: Invoice, trigger: {poll: 1m}}
    target: {connection: crm, object: Invoice__c, write: upsert, key: Number__c}
    map:
      Number__c: source.Number
      Account__c: xref.customer(source.CustomerCode, by="Code")
"""
)


@pytest.fixture
def two_way(store_url: str, tmp_path: Path) -> Iterator[Harness]:
    yield from make_harness(TWO_WAY, store_url, tmp_path)


async def _poll(harness: Harness, flow: str) -> None:
    await poll_flow(harness.store, harness.runtime, flow, harness.clock)
    await harness.drain(step_s=5)


async def _synced_both_ways(harness: Harness) -> Record:
    """A1 synced to the ERP, renamed there and the name synced back: both directions of
    the pair have an xref, natural keys and echo hashes. Returns the ERP customer."""
    harness.crm.put("Account", "A1", {"AccountNumber": "C1", "Name": "上海精密"})
    await _poll(harness, "customers")
    [customer] = harness.erp.all("Customer")
    harness.erp.put("Customer", customer.id, {**customer.fields, "Name": "上海精密机械"})
    await _poll(harness, "customers-back")
    assert harness.crm.all("Account")[0].fields["Name"] == "上海精密机械"
    return harness.erp.all("Customer")[0]


def _kept(harness: Harness) -> dict[str, list[tuple[object, ...]]]:
    return {
        "xref": harness.rows(
            "select source_connection, source_id, target_id from xref "
            "where entity = 'customer' order by source_connection"
        ),
        "xref_keys": harness.rows(
            "select source_connection, key_field, source_id from xref_keys "
            "where entity = 'customer' order by source_connection"
        ),
        "echo_hashes": harness.rows(
            "select connection, object, record_id, flow from echo_hashes order by connection, flow"
        ),
    }


async def test_deleting_a_two_way_pair_forgets_both_directions_keys_and_echoes(
    two_way: Harness,
) -> None:
    harness = two_way
    customer = await _synced_both_ways(harness)
    assert _kept(harness) == {
        "xref": [("crm", "A1", customer.id), ("erp", customer.id, "A1")],
        "xref_keys": [("crm", "AccountNumber", "A1"), ("erp", "Code", customer.id)],
        "echo_hashes": [
            ("crm", "Account", "A1", "customers-back"),
            ("erp", "Customer", customer.id, "customers"),
        ],
    }
    del harness.crm.records["Account"]["A1"]
    _deleted(harness)
    await harness.drain()
    assert _last_job(harness) == ("done", "deleted", customer.id)
    assert _kept(harness) == {"xref": [], "xref_keys": [], "echo_hashes": []}


async def test_after_a_two_way_delete_the_other_direction_does_not_update_the_gone_record(
    two_way: Harness,
) -> None:
    harness = two_way
    customer = await _synced_both_ways(harness)
    del harness.crm.records["Account"]["A1"]
    _deleted(harness)
    await harness.drain()
    # A change the ERP made just before its record went arrives late, with its snapshot.
    late = replace(customer, version="late", fields={**customer.fields, "Name": "迟到"})
    intake_changes(
        harness.store, ["customers-back"], [Change.of(late)], Trigger.WEBHOOK, harness.clock
    )
    crm_writes = len([c for c in harness.crm.calls if c[0] == "write"])
    await harness.drain()
    assert _last_job(harness) == ("done", "no_target", None)
    assert len([c for c in harness.crm.calls if c[0] == "write"]) == crm_writes
    assert harness.rows("select count(*) from dead_letters") == [(0,)]


async def test_a_record_restored_after_a_two_way_delete_is_created_afresh(
    two_way: Harness,
) -> None:
    harness = two_way
    await _synced_both_ways(harness)
    _deleted(harness)
    await harness.drain()
    # The CRM restores the account (same id, same natural key): a new ERP customer.
    harness.crm.put("Account", "A1", {"AccountNumber": "C1", "Name": "上海精密机械"})
    await _poll(harness, "customers")
    assert _last_job(harness)[:2] == ("done", "created")
    assert len(harness.erp.all("Customer")) == 1
    assert harness.rows("select count(*) from dead_letters") == [(0,)]


async def test_a_target_deleted_there_is_forgotten_both_ways_and_created_anew(
    two_way: Harness,
) -> None:
    harness = two_way
    customer = await _synced_both_ways(harness)
    del harness.erp.records["Customer"][customer.id]  # deleted in the ERP by a person
    [account] = harness.crm.all("Account")
    harness.crm.put("Account", "A1", {**account.fields, "Name": "上海精密机械有限公司"})
    await _poll(harness, "customers")
    [created] = harness.erp.all("Customer")
    assert created.id != customer.id and created.fields["Name"] == "上海精密机械有限公司"
    assert harness.rows("select state, outcome from jobs order by id desc")[0] == (
        "done",
        "created",
    )
    assert harness.rows(
        "select source_connection, source_id, target_id from xref where entity = 'customer'"
    ) == [("crm", "A1", created.id)]
