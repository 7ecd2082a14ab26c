"""A change that carries nothing new for its flow is done as it is taken in (engine/unchanged.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from erpbridge.engine.enqueue import IntakeResult
from erpbridge.engine.intake import poll_flow, sync_flow
from erpbridge.engine.plans import build_plans
from erpbridge.engine.snapshot import record_to_snapshot
from erpbridge.engine.unchanged import content_key
from erpbridge.spi.records import Record
from tests.engine.conftest import Harness, make_harness

# orders-back writes the ERP's number onto the CRM order, which gives the order a new
# version; orders reads that number only in its filter (as sf-sap's orders-to-sap does),
# so the new version is nothing new for it while the order stays activated.
PROJECT = """\
connections:
  crm: {type: memory}
  erp: {type: memory}
flows:
  customers:
    entity: customer
    source: {connection: crm, object: Account, trigger: {poll: 1m}}
    target: {connection: erp, object: Customer, write: upsert, key: Code}
    map:
      Code: source.AccountNumber
  orders:
    entity: order
    source: {connection: crm, object: Order, trigger: {poll: 1m}}
    target: {connection: erp, object: SalesOrder, write: upsert, key: PoNumber}
    when: >-
      source.Status == "Activated" or
      (source.Status == "Cancelled" and not is_blank(source.ERP_Number__c))
    map:
      PoNumber: source.OrderNumber
      Customer: xref.customer(source.AccountId)
      Amount: source.Amount
  orders-back:
    entity: order
    source: {connection: erp, object: SalesOrder, trigger: {poll: 1m}}
    target: {connection: crm, object: Order, write: update}
    map:
      ERP_Number__c: source.Number
"""


@pytest.fixture
def harness(store_url: str, tmp_path: Path) -> Iterator[Harness]:
    yield from make_harness(PROJECT, store_url, tmp_path)


async def _poll(harness: Harness, flow: str) -> IntakeResult:
    result = await poll_flow(harness.store, harness.runtime, flow, harness.clock)
    await harness.drain()
    return result


def _erp_writes(harness: Harness) -> int:
    return len([c for c in harness.erp.calls if c[0] == "write"])


def _order(harness: Harness, **fields: object) -> Record:
    [order] = harness.crm.all("Order")
    return harness.crm.put("Order", order.id, {**order.fields, **fields})


async def _order_in_erp_with_its_number_back(harness: Harness) -> None:
    """An activated order sent to the ERP, numbered there, the number back on the order."""
    harness.crm.put("Account", "A1", {"AccountNumber": "C1"})
    harness.crm.put(
        "Order",
        "O1",
        {"OrderNumber": "PO-1", "AccountId": "A1", "Amount": "10.00", "Status": "Activated"},
    )
    await _poll(harness, "customers")
    await _poll(harness, "orders")
    [sales_order] = harness.erp.all("SalesOrder")
    harness.erp.put("SalesOrder", sales_order.id, {**sales_order.fields, "Number": "4711"})
    await _poll(harness, "orders-back")
    assert _order(harness).fields["ERP_Number__c"] == "4711"


async def test_the_number_written_back_comes_round_as_done_not_queued(harness: Harness) -> None:
    await _order_in_erp_with_its_number_back(harness)
    writes = _erp_writes(harness)
    result = await _poll(harness, "orders")
    assert (result.queued, result.unchanged) == (0, 1)
    assert _erp_writes(harness) == writes
    # The version is in the record's history, done at intake: no attempt, the pair's target.
    [target] = harness.rows(
        "select target_id from jobs where flow = 'orders' and outcome = 'created'"
    )
    assert harness.rows(
        "select state, outcome, attempts, target_id from jobs where flow = 'orders' order by id"
    ) == [("done", "created", 1, target[0]), ("done", "unchanged", 0, target[0])]
    assert harness.rows(
        "select count(*) from attempts a join jobs j on j.id = a.job_id where j.flow = 'orders'"
    ) == [(1,)]
    # Read again (a poll's overlap): a duplicate, not a second job.
    harness.clock.advance(1)
    again = await poll_flow(harness.store, harness.runtime, "orders", harness.clock)
    assert (again.queued, again.unchanged) == (0, 0)
    assert harness.rows("select count(*) from jobs where flow = 'orders'") == [(2,)]
    # The run counts it with the duplicates (read, not queued).
    assert harness.rows(
        "select read, queued, duplicates from runs where flow = 'orders' order by id"
    )[-2:] == [(1, 0, 1), (1, 0, 1)]


async def test_a_change_to_a_field_the_flow_maps_is_queued_and_written(harness: Harness) -> None:
    await _order_in_erp_with_its_number_back(harness)
    _order(harness, Amount="12.50")
    result = await _poll(harness, "orders")
    assert (result.queued, result.unchanged) == (1, 0)
    [sales_order] = harness.erp.all("SalesOrder")
    assert sales_order.fields["Amount"] == "12.50"
    # and the change after it, in a field the flow does not read, is nothing new again
    _order(harness, Description="note")
    assert (await _poll(harness, "orders")).unchanged == 1


async def test_a_filter_whose_answer_changes_queues_and_one_that_stays_does_not(
    harness: Harness,
) -> None:
    await _order_in_erp_with_its_number_back(harness)
    # Cancelled with the ERP's number on it: the filter still passes, the payload is the
    # same; the status is not mapped, so this is nothing new for the flow.
    _order(harness, Status="Cancelled")
    assert (await _poll(harness, "orders")).unchanged == 1
    # Cancelled without the number: the filter now fails, which is news: skipped as it is
    # taken in (engine/enqueue.py), never queued.
    _order(harness, ERP_Number__c=None)
    result = await _poll(harness, "orders")
    assert (result.queued, result.unchanged, result.filtered) == (0, 0, 1)
    assert harness.rows("select outcome from jobs where flow = 'orders' order by id desc")[0] == (
        "filtered",
    )
    # Filtered is not a write: a change after it is never "nothing new" (skipped again).
    _order(harness, Description="note")
    again = await _poll(harness, "orders")
    assert (again.queued, again.unchanged, again.filtered) == (0, 0, 1)


async def test_a_sync_queues_what_a_poll_takes_in_as_done(harness: Harness) -> None:
    await _order_in_erp_with_its_number_back(harness)
    result = await sync_flow(harness.store, harness.runtime, "orders", harness.clock, ids=["O1"])
    assert (result.queued, result.unchanged) == (1, 0)
    await harness.drain()
    # the worker's echo check ends it: the ERP already holds the payload
    assert harness.rows("select outcome, attempts from jobs where flow = 'orders' order by id")[
        -1
    ] == ("unchanged", 1)


async def test_an_open_job_of_the_record_makes_the_change_queue(harness: Harness) -> None:
    await _order_in_erp_with_its_number_back(harness)
    _order(harness, Amount="12.50")
    await poll_flow(harness.store, harness.runtime, "orders", harness.clock)  # queued, not worked
    _order(harness, Description="note")
    result = await poll_flow(harness.store, harness.runtime, "orders", harness.clock)
    assert (result.queued, result.unchanged) == (1, 0)


def _snapshot(fields: dict[str, object], asked: list[str] | None = None) -> dict[str, object]:
    record = Record(object="Order", id="O1", fields=fields, version="1")
    return record_to_snapshot(record, asked)


def test_the_digest_covers_the_mapped_fields_the_filter_answer_and_the_configuration(
    harness: Harness, tmp_path: Path, store_url: str
) -> None:
    key = content_key(build_plans(harness.project)["orders"])
    assert key is not None
    base = {"OrderNumber": "PO-1", "AccountId": "A1", "Amount": "10.00", "Status": "Activated"}
    digest = key.assess(_snapshot(base)).digest
    assert digest is not None
    assert key.assess(_snapshot({**base, "Description": "x"})).digest == digest  # not read
    assert key.assess(_snapshot({**base, "ERP_Number__c": "1"})).digest == digest  # filter only
    assert key.assess(_snapshot({**base, "Amount": "11.00"})).digest != digest  # mapped
    assert key.assess(_snapshot({**base, "Status": "Draft"})).digest != digest  # filter's answer
    # read with a field list narrower than the flow's: not known, so never taken as unchanged
    assert key.assess(_snapshot(base, asked=["Amount", "OrderNumber"])).digest is None
    # another mapping of the same flow: another key, so its first change is queued
    other = next(
        make_harness(
            PROJECT.replace("Amount: source.Amount", "Amount: '\"1\"'"),
            store_url,
            tmp_path / "other",
        )
    )
    other_key = content_key(build_plans(other.project)["orders"])
    assert other_key is not None and other_key.assess(_snapshot(base)).digest != digest


def test_a_flow_that_reads_the_whole_record_has_no_key(tmp_path: Path, store_url: str) -> None:
    text = PROJECT.replace("Amount: source.Amount", "Amount: text(source)")
    harness = next(make_harness(text, store_url, tmp_path))
    assert content_key(build_plans(harness.project)["orders"]) is None
