"""A change for which the flow's ``when:`` is false is skipped as it is taken in
(engine/enqueue.py): stored done, outcome ``filtered``, with the worker's attempt, never
claimed. What intake cannot judge from the snapshot is left to the worker, as before."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from prometheus_client import generate_latest

from erpbridge.engine.intake import intake_changes, poll_flow, sync_flow
from erpbridge.engine.jobs import Trigger
from erpbridge.engine.metrics import Metrics
from erpbridge.engine.unchanged import ContentKey
from erpbridge.spi.records import Change, ChangeKind
from tests.engine.conftest import Harness, make_harness

# The harness's project (tests/engine/conftest.py): orders' when: is
# source.Status == "Activated", and orders depend on customers.


async def _customer_synced(h: Harness) -> None:
    h.crm.put("Account", "A1", {"AccountNumber": "C1", "Name": "Acme"})
    await poll_flow(h.store, h.runtime, "customers", h.clock)
    await h.drain()


def _order(h: Harness, status: str) -> None:
    h.crm.put(
        "Order",
        "O1",
        {"OrderNumber": "PO-1", "AccountId": "A1", "Amount": "10.00", "Status": status},
    )


def _key(h: Harness) -> dict[str, ContentKey | None]:
    """What the hub hands intake for a webhook: the flow's content key."""
    return {"orders": h.runtime.content_key("orders")}


def _order_jobs(h: Harness) -> list[tuple[object, ...]]:
    return h.rows("select state, outcome from jobs where flow = 'orders' order by id")


async def test_a_draft_is_skipped_as_it_is_taken_in_and_never_claimed(harness: Harness) -> None:
    h = harness
    await _customer_synced(h)
    _order(h, "Draft")
    metrics = Metrics()
    result = await poll_flow(h.store, h.runtime, "orders", h.clock, metrics)
    assert (result.queued, result.filtered, result.duplicates, result.unchanged) == (0, 1, 0, 0)
    assert await h.worker().run_once() == 0  # nothing to claim
    assert _order_jobs(h) == [("done", "filtered")]
    # the attempt the worker logs for it, so a person sees the same reason
    assert h.rows(
        "select a.number, a.worker, a.outcome, a.error_class, a.error_message, j.attempts "
        "from attempts a join jobs j on j.id = a.job_id where j.flow = 'orders'"
    ) == [(1, "intake", "filtered", "when", "when: is false", 0)]
    assert h.rows("select read, queued, duplicates, filtered from runs where flow = 'orders'") == [
        (1, 0, 0, 1)
    ]
    text = generate_latest(metrics.registry).decode()
    assert 'erpbridge_intake_total{flow="orders",result="filtered",trigger="poll"} 1.0' in text
    assert 'erpbridge_jobs_skipped_total{by="when",flow="orders"} 1.0' in text
    assert 'erpbridge_jobs_total{flow="orders",state="done"} 1.0' in text
    assert h.erp.all("SalesOrder") == []

    # Activated later: a new version, queued and written.
    h.clock.advance(1)
    _order(h, "Activated")
    activated = await poll_flow(h.store, h.runtime, "orders", h.clock)
    assert (activated.queued, activated.filtered) == (1, 0)
    await h.drain()
    [sales_order] = h.erp.all("SalesOrder")
    assert sales_order.fields["PoNumber"] == "PO-1"


async def test_a_skipped_newer_version_supersedes_the_queued_one(harness: Harness) -> None:
    h = harness
    await _customer_synced(h)
    _order(h, "Activated")
    assert (await poll_flow(h.store, h.runtime, "orders", h.clock)).queued == 1
    # put back to draft before a worker took the activation: the draft is the state
    h.clock.advance(1)
    _order(h, "Draft")
    assert (await poll_flow(h.store, h.runtime, "orders", h.clock)).filtered == 1
    assert _order_jobs(h) == [("superseded", None), ("done", "filtered")]
    await h.drain()
    assert h.erp.all("SalesOrder") == []


async def test_a_change_without_the_fields_is_left_to_the_worker(harness: Harness) -> None:
    h = harness
    await _customer_synced(h)
    _order(h, "Draft")
    [order] = h.crm.all("Order")
    # an id-only webhook: intake has no values to judge; the worker loads and decides
    bare = Change(object="Order", record_id=order.id, version=order.version, stamp=order.stamp)
    result = intake_changes(h.store, ["orders"], [bare], Trigger.WEBHOOK, h.clock, content=_key(h))
    assert (result.queued, result.filtered) == (1, 0)
    await h.drain()
    assert _order_jobs(h) == [("done", "filtered")]
    assert h.rows(
        "select a.worker, a.error_class from attempts a join jobs j on j.id = a.job_id "
        "where j.flow = 'orders'"
    ) == [("w1", "when")]


async def test_a_delete_goes_to_the_worker_whatever_the_filter_says(harness: Harness) -> None:
    h = harness
    await _customer_synced(h)
    _order(h, "Draft")
    [order] = h.crm.all("Order")
    gone = Change(
        object="Order",
        record_id=order.id,
        version=f"{order.version}-deleted",
        stamp=order.stamp,
        kind=ChangeKind.DELETE,
        record=order,
    )
    # and a record that says it is deleted, whatever kind of change brought it
    marked = Change(
        object="Order",
        record_id="O2",
        version="v1",
        stamp=order.stamp,
        record=dataclasses.replace(order, id="O2", version="v1", deleted=True),
    )
    result = intake_changes(
        h.store, ["orders"], [gone, marked], Trigger.WEBHOOK, h.clock, content=_key(h)
    )
    assert (result.queued, result.filtered) == (2, 0)  # target.on_delete decides, not when:


async def test_a_manual_sync_of_a_draft_skips_it_too(harness: Harness) -> None:
    h = harness
    await _customer_synced(h)
    _order(h, "Draft")
    result = await sync_flow(h.store, h.runtime, "orders", h.clock, ids=["O1"])
    assert (result.queued, result.filtered) == (0, 1)
    assert h.rows("select trigger, read, queued, filtered from runs where flow = 'orders'") == [
        ("manual", 1, 0, 1)
    ]
    assert await h.worker().run_once() == 0


KEYED = """\
connections:
  crm: {type: memory}
  erp: {type: memory}
flows:
  customers:
    entity: customer
    source: {connection: crm, object: Account, trigger: {poll: 1m}}
    target: {connection: erp, object: Customer, write: upsert, key: Code}
    when: source.Active == true
    map:
      Code: source.AccountNumber
  orders:
    entity: order
    source: {connection: crm, object: Order, trigger: {poll: 1m}}
    target: {connection: erp, object: SalesOrder, write: upsert, key: PoNumber}
    map:
      PoNumber: source.OrderNumber
      Customer: xref.customer(source.CustomerCode, by="AccountNumber")
"""


async def test_the_keys_other_flows_find_a_skipped_record_by_are_saved(
    store_url: str, tmp_path: Path
) -> None:
    """As the worker saves the key fields of every record it loads, skipped ones too: a
    key that moved stays current (a stale one would name the wrong record)."""
    for h in make_harness(KEYED, store_url, tmp_path):
        h.crm.put("Account", "A1", {"AccountNumber": "C1", "Active": True})
        await poll_flow(h.store, h.runtime, "customers", h.clock)
        await h.drain()
        keys = "select source_id, key_value from xref_keys where entity = 'customer'"
        assert h.rows(keys) == [("A1", "C1")]
        # renumbered and made inactive at once: skipped at intake, its new key saved
        h.clock.advance(1)
        h.crm.put("Account", "A1", {"AccountNumber": "C9", "Active": False})
        result = await poll_flow(h.store, h.runtime, "customers", h.clock)
        assert (result.queued, result.filtered) == (0, 1)
        assert h.rows(keys) == [("A1", "C9")]
