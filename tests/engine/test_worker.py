from __future__ import annotations

import json
from datetime import timedelta

from erpbridge.engine.intake import poll_flow
from erpbridge.engine.queue import claim_jobs
from tests.engine.conftest import Harness


def _customers(harness: Harness, n: int, name: str = "客户") -> None:
    for i in range(n):
        harness.crm.put(
            "Account", f"A{i:03d}", {"AccountNumber": f"C{i:03d}", "Name": f"{name}{i}"}
        )


async def test_records_reach_the_target_once_with_xref(harness: Harness) -> None:
    _customers(harness, 120)
    await poll_flow(harness.store, harness.runtime, "customers", harness.clock)
    await harness.drain()
    customers = harness.erp.all("Customer")
    assert len(customers) == 120
    assert {c.fields["Code"] for c in customers} == {f"C{i:03d}" for i in range(120)}
    assert harness.rows("select count(*) from xref where entity = 'customer'") == [(120,)]
    assert harness.rows("select state, count(*) from jobs group by state") == [("done", 120)]
    writes = [c for c in harness.erp.calls if c[0] == "write"]
    assert [n for *_, n in writes] == [50, 50, 20]  # batched to the connection's batch size


async def test_change_of_a_synced_record_updates_through_the_xref(harness: Harness) -> None:
    _customers(harness, 1)
    await poll_flow(harness.store, harness.runtime, "customers", harness.clock)
    await harness.drain()
    harness.clock.advance(60)
    harness.crm.put("Account", "A000", {"AccountNumber": "C000", "Name": "改名"})
    await poll_flow(harness.store, harness.runtime, "customers", harness.clock)
    await harness.drain()
    [customer] = harness.erp.all("Customer")
    assert customer.fields["Name"] == "改名"
    assert harness.rows("select outcome from jobs order by id") == [("created",), ("updated",)]


async def test_crash_between_create_and_xref_makes_no_duplicate(harness: Harness) -> None:
    _customers(harness, 3)
    harness.erp.faults.lost_answers = 1  # the target creates, then the answer is lost
    await poll_flow(harness.store, harness.runtime, "customers", harness.clock)
    await harness.drain(step_s=40)
    assert len(harness.erp.all("Customer")) == 3
    assert sorted(r[0] for r in harness.rows("select outcome from jobs")) == ["unchanged"] * 3
    assert harness.rows("select count(*) from attempts where outcome = 'failed'") == [(3,)]


async def test_validation_error_goes_to_dead_letters_with_everything_to_replay(
    harness: Harness,
) -> None:
    harness.crm.put("Account", "A1", {"AccountNumber": "C1", "Name": "INVALID"})
    harness.crm.put("Account", "A2", {"AccountNumber": "C2", "Name": "fine"})
    await poll_flow(harness.store, harness.runtime, "customers", harness.clock)
    await harness.drain()
    [(error_class, message, raw, hint, snapshot, payload)] = harness.rows(
        "select error_class, error_message, error_raw, hint, source_snapshot, mapped_payload from dead_letters"
    )
    assert error_class == "validation"
    assert "Name is not valid" in str(message)
    assert raw == '{"errorCode":"FIELD_INVALID"}'
    assert "Name" in str(hint)
    snapshot = snapshot if isinstance(snapshot, dict) else json.loads(str(snapshot))
    payload = payload if isinstance(payload, dict) else json.loads(str(payload))
    assert snapshot["fields"]["Name"] == "INVALID" and payload == {"Code": "C1", "Name": "INVALID"}
    assert len(harness.erp.all("Customer")) == 1
    assert harness.rows("select attempts from jobs where state = 'dead'") == [(1,)]  # not retried


async def test_rate_limited_write_waits_retry_after(harness: Harness) -> None:
    _customers(harness, 1)
    harness.erp.faults.rate_limited_writes = 1
    harness.erp.faults.retry_after_s = 7
    await poll_flow(harness.store, harness.runtime, "customers", harness.clock)
    worker = harness.worker()
    await worker.run_once()
    [(state,)] = harness.rows("select state from jobs")
    assert state == "queued"
    harness.clock.advance(6.9)
    assert await worker.run_once() == 0  # not before Retry-After
    harness.clock.advance(0.2)
    assert await worker.run_once() == 1
    assert len(harness.erp.all("Customer")) == 1


async def test_transient_errors_retry_then_dead_letter_when_exhausted(harness: Harness) -> None:
    _customers(harness, 1)
    harness.erp.faults.transient_writes = 10
    await poll_flow(harness.store, harness.runtime, "customers", harness.clock)
    await harness.drain(step_s=60, rounds=10)
    assert harness.rows("select state, attempts from jobs") == [("dead", 3)]
    [(error_class, hint)] = harness.rows("select error_class, hint from dead_letters")
    assert error_class == "transient" and "gave up after 3 attempts" in str(hint)


async def test_order_waits_for_its_customer_then_flows(harness: Harness) -> None:
    harness.crm.put("Account", "A1", {"AccountNumber": "C1", "Name": "华东贸易"})
    harness.crm.put(
        "Order",
        "O1",
        {"OrderNumber": "PO-1", "AccountId": "A1", "Status": "Activated", "Amount": "99.50"},
    )
    await poll_flow(harness.store, harness.runtime, "orders", harness.clock)
    worker = harness.worker()
    await worker.run_once()
    assert harness.rows("select flow, state from jobs order by id") == [
        ("orders", "parked"),
        ("customers", "queued"),
    ]
    await worker.run_once()  # the dependency job syncs the customer
    harness.clock.advance(5)
    await worker.run_once()
    [order] = harness.erp.all("SalesOrder")
    [customer] = harness.erp.all("Customer")
    assert order.fields == {"PoNumber": "PO-1", "Customer": customer.id, "Amount": "99.50"}


async def test_order_whose_customer_never_syncs_is_dead_lettered_after_the_wait(
    harness: Harness,
) -> None:
    harness.crm.put(
        "Order",
        "O1",
        {"OrderNumber": "PO-1", "AccountId": "GONE", "Status": "Activated", "Amount": "1"},
    )
    await poll_flow(harness.store, harness.runtime, "orders", harness.clock)
    await harness.drain(step_s=10, rounds=12)
    assert harness.rows("select error_class from dead_letters") == [("dependency",)]


async def test_when_filter_skips_records(harness: Harness) -> None:
    harness.crm.put(
        "Order", "O1", {"OrderNumber": "PO-1", "AccountId": "A1", "Status": "Draft", "Amount": "1"}
    )
    await poll_flow(harness.store, harness.runtime, "orders", harness.clock)
    await harness.drain()
    assert harness.rows("select outcome from jobs") == [("filtered",)]
    assert harness.erp.all("SalesOrder") == []


async def test_echo_of_own_write_changes_nothing_and_ends_there(harness: Harness) -> None:
    _customers(harness, 2)
    await poll_flow(harness.store, harness.runtime, "customers", harness.clock)
    await harness.drain()
    await poll_flow(harness.store, harness.runtime, "customers-back", harness.clock)
    await harness.drain()
    # our write comes back: it maps to what the CRM already holds, so nothing changes there
    assert harness.rows(
        "select outcome, count(*) from jobs where flow = 'customers-back' group by outcome"
    ) == [("unchanged", 2)]
    await poll_flow(harness.store, harness.runtime, "customers", harness.clock)
    await harness.drain()
    assert len([c for c in harness.erp.calls if c[0] == "write"]) == 1  # no loop
    # a real edit on the ERP side does flow back, onto the CRM account the xref names
    [first, _] = sorted(harness.erp.all("Customer"), key=lambda r: r.id)
    harness.erp.put("Customer", first.id, {**first.fields, "Name": "ERP 改名"})
    await poll_flow(harness.store, harness.runtime, "customers-back", harness.clock)
    await harness.drain()
    crm_names = sorted(str(r.fields["Name"]) for r in harness.crm.all("Account"))
    assert "ERP 改名" in crm_names


async def test_open_circuit_releases_jobs_without_burning_attempts(harness: Harness) -> None:
    _customers(harness, 1)
    harness.erp.faults.transient_writes = 100
    await poll_flow(harness.store, harness.runtime, "customers", harness.clock)
    breaker = harness.runtime.guard("erp").breaker
    breaker.threshold = 1
    worker = harness.worker()
    await worker.run_once()  # fails, opens the breaker
    harness.clock.advance(10)
    await worker.run_once()  # breaker open: released, not attempted
    assert harness.rows("select attempts, state from jobs") == [(1, "queued")]
    assert [c for c in harness.erp.calls if c[0] == "write"] == [("write", "Customer", 1)]


async def test_source_get_failure_retries_the_job(harness: Harness) -> None:
    from erpbridge.engine.intake import intake_changes
    from erpbridge.engine.jobs import Trigger
    from erpbridge.spi import Change

    harness.crm.put("Account", "A1", {"AccountNumber": "C1", "Name": "n"})
    harness.crm.faults.failing_gets = 1
    intake_changes(
        harness.store,
        ["customers"],
        [Change(object="Account", record_id="A1", version="v9")],
        Trigger.WEBHOOK,
        harness.clock,
    )
    await harness.drain(step_s=5, rounds=5)
    assert harness.rows("select state, attempts from jobs") == [("done", 2)]
    assert len(harness.erp.all("Customer")) == 1


async def test_source_edit_after_a_write_back_is_not_taken_for_an_echo(harness: Harness) -> None:
    _customers(harness, 1)
    await poll_flow(harness.store, harness.runtime, "customers", harness.clock)
    await harness.drain()
    [customer] = harness.erp.all("Customer")
    harness.erp.put("Customer", customer.id, {**customer.fields, "Name": "ERP 改名"})
    await poll_flow(harness.store, harness.runtime, "customers-back", harness.clock)
    await harness.drain()  # writes Name back onto the CRM account
    [account] = harness.crm.all("Account")
    assert account.fields["Name"] == "ERP 改名"
    harness.crm.put(
        "Account", account.id, {**account.fields, "AccountNumber": "C-NEW"}
    )  # a person edits another field
    await poll_flow(harness.store, harness.runtime, "customers", harness.clock)
    await harness.drain()
    [customer] = harness.erp.all("Customer")
    assert customer.fields["Code"] == "C-NEW"


async def test_unchanged_payload_is_not_written_again_but_a_forced_sync_writes_it(
    harness: Harness,
) -> None:
    from erpbridge.engine.intake import sync_flow
    from erpbridge.engine.jobs import Trigger

    _customers(harness, 1)
    await poll_flow(harness.store, harness.runtime, "customers", harness.clock)
    await harness.drain()
    [account] = harness.crm.all("Account")
    harness.crm.put(
        "Account", account.id, {**account.fields, "Unmapped__c": "x"}
    )  # not a mapped field
    await poll_flow(harness.store, harness.runtime, "customers", harness.clock)
    await harness.drain()
    writes = [c for c in harness.erp.calls if c[0] == "write"]
    assert len(writes) == 1
    assert harness.rows("select outcome from jobs order by id") == [("created",), ("unchanged",)]
    harness.crm.put("Account", account.id, {**account.fields, "Unmapped__c": "y"})
    await sync_flow(harness.store, harness.runtime, "customers", harness.clock, ids=[account.id])
    await harness.drain()
    assert len([c for c in harness.erp.calls if c[0] == "write"]) == 1  # a plain sync: still equal
    harness.crm.put("Account", account.id, {**account.fields, "Unmapped__c": "z"})
    await sync_flow(
        harness.store,
        harness.runtime,
        "customers",
        harness.clock,
        ids=[account.id],
        trigger=Trigger.RESYNC,
    )
    await harness.drain()
    assert len([c for c in harness.erp.calls if c[0] == "write"]) == 2


async def test_update_flow_skips_records_the_target_does_not_have(harness: Harness) -> None:
    harness.erp.put("Customer", None, {"Code": "ERP-ONLY", "Name": "只在 ERP"})
    await poll_flow(harness.store, harness.runtime, "customers-back", harness.clock)
    await harness.drain()
    assert harness.rows("select state, outcome from jobs") == [("done", "no_target")]
    assert harness.rows("select count(*) from dead_letters") == [(0,)]


async def test_update_flow_can_dead_letter_a_missing_target(harness: Harness) -> None:
    from dataclasses import replace

    from erpbridge.engine.plans import build_plans
    from erpbridge.engine.worker import Worker

    plans = build_plans(harness.project)
    back = plans["customers-back"]
    target = back.spec.target.model_copy(update={"on_missing": "dead_letter"})
    plans["customers-back"] = replace(back, spec=back.spec.model_copy(update={"target": target}))
    harness.erp.put("Customer", None, {"Code": "ERP-ONLY", "Name": "只在 ERP"})
    await poll_flow(harness.store, harness.runtime, "customers-back", harness.clock)
    await Worker(harness.store, harness.runtime, plans, clock=harness.clock).run_once()
    assert harness.rows("select error_class from dead_letters") == [("not_found",)]


async def test_a_bug_in_a_connector_neither_kills_the_worker_nor_loses_the_job(
    harness: Harness,
) -> None:
    import asyncio

    _customers(harness, 1)
    await poll_flow(harness.store, harness.runtime, "customers", harness.clock)
    erp = harness.runtime.connector("erp")
    real_write = erp.write

    async def broken(*args: object, **kwargs: object) -> object:
        raise KeyError("oops")

    erp.write = broken  # type: ignore[method-assign]
    worker = harness.worker()
    await worker.run_once()
    assert harness.rows("select state, attempts from jobs") == [("queued", 1)]
    [(message,)] = harness.rows("select error_message from attempts")
    assert "internal error: KeyError" in str(message)
    erp.write = real_write  # type: ignore[method-assign]
    harness.clock.advance(60)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop, idle_s=0.01))
    for _ in range(100):
        await asyncio.sleep(0.01)
        if harness.erp.all("Customer"):
            break
    stop.set()
    await task
    assert len(harness.erp.all("Customer")) == 1


async def test_order_whose_customer_is_a_dead_letter_names_it_and_makes_no_second_one(
    harness: Harness,
) -> None:
    harness.crm.put("Account", "A1", {"AccountNumber": "C1", "Name": "INVALID"})
    await poll_flow(harness.store, harness.runtime, "customers", harness.clock)
    await harness.drain()
    harness.crm.put(
        "Order",
        "O1",
        {"OrderNumber": "PO-1", "AccountId": "A1", "Status": "Activated", "Amount": "1"},
    )
    await poll_flow(harness.store, harness.runtime, "orders", harness.clock)
    await harness.drain(step_s=10, rounds=12)
    rows = harness.rows("select flow, error_class, hint from dead_letters order by id")
    assert [(flow, kind) for flow, kind, _ in rows] == [
        ("customers", "validation"),
        ("orders", "dependency"),
    ]
    hint = str(rows[1][2])
    assert "is a dead letter in customers" in hint and "Name is not valid" in hint


async def test_idle_worker_looks_at_once_when_woken(harness: Harness) -> None:
    import asyncio

    worker = harness.worker()
    stop, wake = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(worker.run(stop, idle_s=3600, wake=wake))
    await asyncio.sleep(0.05)  # its first round finds nothing: it idles for an hour
    _customers(harness, 1)
    await poll_flow(harness.store, harness.runtime, "customers", harness.clock)
    wake.set()  # what the hub does after a webhook's jobs are committed
    for _ in range(500):
        await asyncio.sleep(0.01)
        if harness.erp.all("Customer"):
            break
    stop.set()
    await task
    assert len(harness.erp.all("Customer")) == 1
    assert not wake.is_set()


async def test_a_busy_worker_looks_for_ended_leases_once_a_second(harness: Harness) -> None:
    """The rounds within a second of the last look claim queued jobs only; the job whose
    lease ended is taken once the second is over."""
    _customers(harness, 5)
    await poll_flow(harness.store, harness.runtime, "customers", harness.clock)
    with harness.store.begin() as conn:  # a worker that dies holding A000
        [held] = claim_jobs(conn, "gone", 1, timedelta(seconds=0.5), harness.clock.now())
    assert held.source_id == "A000"
    worker = harness.worker(claim_size=2)
    assert await worker.run_once() == 2  # A001, A002
    harness.clock.advance(0.6)  # A000's lease has ended, but within the second
    assert await worker.run_once() == 2  # A003, A004
    assert harness.rows("select lease_owner from jobs where source_id = 'A000'") == [("gone",)]
    harness.clock.advance(0.5)
    assert await worker.run_once() == 1
    assert harness.rows("select state from jobs where source_id = 'A000'") == [("done",)]


async def test_an_idle_worker_takes_an_ended_lease_within_a_second(harness: Harness) -> None:
    _customers(harness, 1)
    await poll_flow(harness.store, harness.runtime, "customers", harness.clock)
    with harness.store.begin() as conn:
        claim_jobs(conn, "gone", 1, timedelta(seconds=0.5), harness.clock.now())
    worker = harness.worker()
    assert await worker.run_once() == 0  # nothing claimable: the lease runs
    harness.clock.advance(0.6)
    assert await worker.run_once() == 0  # ended, but looked for a second after the last look
    harness.clock.advance(0.5)
    assert await worker.run_once() == 1
