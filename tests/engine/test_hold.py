"""Holds (credit hold): held, superseded, released by approval / by a person / by a
recheck, rejected, audited, and bad hold expressions refused with their position."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from erpbridge.config import ConfigErrors, Project, load_project_text
from erpbridge.engine.clock import ManualClock
from erpbridge.engine.held_jobs import list_held, reject_held, release_held
from erpbridge.engine.hold_recheck import recheck_held
from erpbridge.engine.hub import Hub
from erpbridge.engine.intake import poll_flow
from erpbridge.engine.metrics import Metrics
from erpbridge.engine.plans import build_plans, mapping_problems, schema_problems
from erpbridge.engine.runtime import Runtime
from erpbridge.engine.scheduler import Scheduler
from erpbridge.engine.worker import Worker
from erpbridge.spi import ConnectorRegistry
from erpbridge.spi.schema import Catalog, Field, ObjectSchema
from erpbridge.store import open_store
from erpbridge.store.audit import verify_audit_log
from tests.engine.memory import MemoryConnector, MemorySystem, memory_spec

PROJECT = """\
connections:
  crm: {type: memory}
  erp: {type: memory}
flows:
  orders:
    entity: order
    source: {connection: crm, object: Order, trigger: {poll: 1m}}
    target: {connection: erp, object: SalesOrder, write: upsert, key: PoNumber}
    when: source.Status == "Activated"
    map:
      PoNumber: source.OrderNumber
      Amount: number(source.Amount)
    hold:
      related:
        account: {object: Account, id: source.AccountId}
      when: number(source.Amount) > related.account.Limit - default(related.account.Exposure, 0)
      reason: '"over credit: " + text(source.Amount) + " > " + text(related.account.Limit - default(related.account.Exposure, 0))'
      release_when: source.Approved == true
      recheck: 10m
      flag:
        set: {Hold: 'true', HoldReason: hold.reason}
        clear: {Hold: 'false', HoldReason: '""'}
"""


@dataclass
class Bench:
    project: Project
    store: sa.Engine
    crm: MemorySystem
    erp: MemorySystem
    clock: ManualClock
    runtime: Runtime
    metrics: Metrics

    def worker(self) -> Worker:
        return Worker(
            self.store,
            self.runtime,
            build_plans(self.project),
            clock=self.clock,
            worker_id="w1",
            rng=random.Random(7),
            metrics=self.metrics,
        )

    async def sync(self) -> None:
        """Poll the orders (new versions, our flag writes too) and work until idle."""
        worker = self.worker()
        for _ in range(10):
            self.clock.advance(1)
            await poll_flow(self.store, self.runtime, "orders", self.clock)
            if await worker.run_once() == 0:
                return

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        with self.store.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql))]

    def held(self) -> list[dict[str, object]]:
        with self.store.connect() as conn:
            return list_held(conn)

    def count(self, action: str, by: str = "") -> float:
        value = self.metrics.registry.get_sample_value(
            "erpbridge_holds_total", {"flow": "orders", "action": action, "by": by}
        )
        return value or 0.0


def _project(text: str, path: Path) -> tuple[Project, ConnectorRegistry]:
    registry = ConnectorRegistry(builtin={}, use_entry_points=False)
    registry.register(memory_spec())
    return load_project_text(text, path=path, registry=registry, environ={}), registry


@pytest.fixture
def bench(store_url: str, tmp_path: Path) -> Iterator[Bench]:
    yield from _bench(store_url, tmp_path, PROJECT)


def _bench(store_url: str, tmp_path: Path, text: str) -> Iterator[Bench]:
    path = tmp_path / "erpbridge.yaml"
    path.write_text(text, encoding="utf-8")
    project, registry = _project(text, path)
    crm, erp = MemorySystem("crm"), MemorySystem("erp")
    clock = ManualClock()
    runtime = Runtime(
        project,
        registry,
        clock,
        connectors={"crm": MemoryConnector(crm), "erp": MemoryConnector(erp)},
    )
    crm.put(
        "Account",
        "A1",
        {"Name": "华东贸易", "Code": "C1", "Limit": Decimal(1000), "Exposure": Decimal(200)},
    )
    store = open_store(store_url)
    yield Bench(project, store, crm, erp, clock, runtime, Metrics())
    store.dispose()


def _order(bench: Bench, order_id: str, amount: int, **extra: object) -> None:
    current = bench.crm.records.get("Order", {}).get(order_id)
    fields = dict(current.fields) if current else {}
    fields.update(
        {"OrderNumber": f"PO-{order_id}", "AccountId": "A1", "Status": "Activated"},
        Amount=Decimal(amount),
        **extra,
    )
    bench.crm.put("Order", order_id, fields)


def _flag(bench: Bench, order_id: str) -> tuple[object, object]:
    fields = bench.crm.records["Order"][order_id].fields
    return fields.get("Hold"), fields.get("HoldReason")


async def test_order_over_credit_is_held_flagged_and_not_written(bench: Bench) -> None:
    _order(bench, "O1", 500)  # available 800: flows
    _order(bench, "O2", 900)  # over
    await bench.sync()
    assert [o.fields["PoNumber"] for o in bench.erp.all("SalesOrder")] == ["PO-O1"]
    [held] = bench.held()
    assert held["source_id"] == "O2"
    assert held["hold_reason"] == "over credit: 900 > 800"
    assert held["held_at"] is not None
    assert _flag(bench, "O2") == (True, "over credit: 900 > 800")
    assert _flag(bench, "O1") == (None, None)  # never held: never flagged
    assert bench.count("held") == 1


async def test_flag_write_the_crm_refuses_for_now_is_tried_again(bench: Bench) -> None:
    bench.crm.faults.rate_limited_writes = 1  # 简道云's 8303, Salesforce's REQUEST_LIMIT
    bench.crm.faults.retry_after_s = 0.05
    _order(bench, "O2", 900)
    await bench.sync()
    assert _flag(bench, "O2") == (True, "over credit: 900 > 800")
    assert [c for c in bench.crm.calls if c[0] == "write"][:2] == [
        ("write", "Order", 1),
        ("write", "Order", 1),
    ]


async def test_flag_write_refused_every_time_leaves_the_job_held_unflagged(
    bench: Bench,
) -> None:
    bench.crm.faults.rate_limited_writes = 10
    bench.crm.faults.retry_after_s = 0.01
    _order(bench, "O2", 900)
    await bench.sync()
    assert [h["source_id"] for h in bench.held()] == ["O2"]  # held all the same, not sent
    assert bench.erp.all("SalesOrder") == []
    assert _flag(bench, "O2") == (None, None)
    writes = [c for c in bench.crm.calls if c[0] == "write"]
    assert len(writes) == 3  # bounded: FLAG_ATTEMPTS tries, then the recheck's turn


async def test_flag_write_coming_back_supersedes_the_held_job_without_looping(
    bench: Bench,
) -> None:
    _order(bench, "O2", 900)
    await bench.sync()
    first_held_at = bench.rows("select min(held_at) from jobs")[0][0]
    flag_writes = [c for c in bench.crm.calls if c[0] == "write"]
    assert len(flag_writes) == 1  # the flag's own version came back and was not written again
    states = bench.rows("select state from jobs order by id")
    assert states == [("superseded",), ("held",)]
    [held] = bench.held()
    assert str(held["held_at"])[:19] == str(first_held_at)[:19]  # held since the first version
    assert bench.count("held") == 1


async def test_new_version_supersedes_held_job_and_is_checked_afresh(bench: Bench) -> None:
    _order(bench, "O2", 900)
    await bench.sync()
    _order(bench, "O2", 700)  # the sales rep lowers the order below the available 800
    await bench.sync()
    [order] = bench.erp.all("SalesOrder")
    assert order.fields["Amount"] == Decimal(700)
    assert bench.held() == []
    assert _flag(bench, "O2") == (False, "")  # cleared
    assert bench.count("released", "check") == 1


async def test_approval_in_the_source_releases_and_writes_exactly_once(bench: Bench) -> None:
    _order(bench, "O2", 900)
    await bench.sync()
    _order(bench, "O2", 900, Approved=True)
    await bench.sync()
    await bench.sync()
    [order] = bench.erp.all("SalesOrder")
    assert order.fields == {"PoNumber": "PO-O2", "Amount": Decimal(900)}
    assert len([c for c in bench.erp.calls if c[0] == "write"]) == 1
    assert _flag(bench, "O2") == (False, "")
    assert bench.held() == []
    assert bench.count("released", "approval") == 1


async def test_person_release_writes_regardless_and_is_audited(bench: Bench) -> None:
    _order(bench, "O2", 900)
    await bench.sync()
    [held] = bench.held()
    with bench.store.begin() as conn:
        [done] = release_held(
            conn, [int(str(held["id"]))], actor="cli:finance", now=bench.clock.now(), note="ok"
        )
    assert done.action == "released"
    await bench.sync()
    [order] = bench.erp.all("SalesOrder")
    assert order.fields["Amount"] == Decimal(900)
    assert _flag(bench, "O2") == (False, "")
    assert bench.count("released", "person") == 1
    [(actor, action, details)] = bench.rows("select actor, action, details from audit_log")
    assert (actor, action) == ("cli:finance", "job.release")
    details = details if isinstance(details, dict) else json.loads(str(details))
    assert details["record"] == "O2" and details["reason"] == "over credit: 900 > 800"
    with bench.store.connect() as conn:
        assert verify_audit_log(conn)[0]


async def test_reject_ends_the_job_keeps_the_flag_and_is_audited(bench: Bench) -> None:
    _order(bench, "O2", 900)
    await bench.sync()
    [held] = bench.held()
    job_id = int(str(held["id"]))
    with bench.store.begin() as conn:
        [done] = reject_held(conn, [job_id], actor="cli:finance", now=bench.clock.now())
        [again] = release_held(conn, [job_id], actor="cli:finance", now=bench.clock.now())
    assert done.action == "rejected"
    assert again.action == "refused: it is done"
    await bench.sync()
    assert bench.erp.all("SalesOrder") == []
    assert bench.rows(f"select state, outcome from jobs where id = {job_id}") == [
        ("done", "rejected")
    ]
    assert _flag(bench, "O2") == (True, "over credit: 900 > 800")
    assert [r[0] for r in bench.rows("select action from audit_log")] == ["job.reject"]


async def test_recheck_releases_when_credit_frees_up(bench: Bench) -> None:
    _order(bench, "O2", 900)
    await bench.sync()
    checked = await recheck_held(
        bench.store, bench.runtime, build_plans(bench.project), bench.clock
    )
    assert (checked.released, checked.held) == (0, 0)  # not due yet
    bench.clock.advance(601)
    checked = await recheck_held(
        bench.store, bench.runtime, build_plans(bench.project), bench.clock
    )
    assert (checked.released, checked.held) == (0, 1)  # due, still over
    bench.crm.put("Account", "A1", {"Name": "华东贸易", "Limit": Decimal(2000), "Exposure": 0})
    checked = await recheck_held(
        bench.store, bench.runtime, build_plans(bench.project), bench.clock, due_only=False
    )
    assert (checked.released, checked.held) == (1, 0)
    await bench.sync()
    [order] = bench.erp.all("SalesOrder")
    assert order.fields["PoNumber"] == "PO-O2"
    assert _flag(bench, "O2") == (False, "")
    assert bench.count("released", "recheck") == 1


async def test_held_job_is_never_claimed_and_blocks_older_versions(bench: Bench) -> None:
    _order(bench, "O2", 900)
    await bench.sync()
    bench.clock.advance(3600)  # long past the recheck time: only the recheck looks at it
    assert await bench.worker().run_once() == 0
    assert bench.rows("select count(*) from jobs where state = 'held'") == [(1,)]


async def test_missing_related_record_holds_with_a_reason(bench: Bench) -> None:
    _order(bench, "O3", 10, AccountId="A-GONE")
    _order(bench, "O4", 10, AccountId=None)
    await bench.sync()
    reasons = {h["source_id"]: h["hold_reason"] for h in bench.held()}
    assert reasons["O3"] == "cannot check: account 'A-GONE' not found in crm:Account"
    assert reasons["O4"] == "cannot check: no account (source.AccountId is empty)"
    assert bench.erp.all("SalesOrder") == []


async def test_non_numeric_amount_holds_with_the_mapping_error(bench: Bench) -> None:
    _order(bench, "O5", 10)
    bench.crm.put("Order", "O5", {**bench.crm.records["Order"]["O5"].fields, "Amount": "lots"})
    await bench.sync()
    [held] = bench.held()
    assert held["hold_reason"] == (
        'cannot check: orders › hold.when: number(): "lots" is not a number (source.Amount)'
    )


async def test_failing_related_read_retries_the_job(bench: Bench) -> None:
    _order(bench, "O2", 100)
    bench.crm.faults.failing_gets = 1
    await poll_flow(bench.store, bench.runtime, "orders", bench.clock)
    await bench.worker().run_once()
    assert bench.rows("select state from jobs") == [("queued",)]  # retried later, not held
    bench.clock.advance(60)
    await bench.sync()
    assert len(bench.erp.all("SalesOrder")) == 1


async def test_already_written_record_is_not_held_on_update(bench: Bench) -> None:
    _order(bench, "O1", 500)
    await bench.sync()
    _order(bench, "O1", 5000)  # an update of an order already in the ERP
    await bench.sync()
    [order] = bench.erp.all("SalesOrder")
    assert order.fields["Amount"] == Decimal(5000)
    assert bench.held() == []


def test_bad_hold_expressions_are_reported_at_their_line_and_column(tmp_path: Path) -> None:
    text = PROJECT.replace(
        "when: number(source.Amount) > related.account.Limit",
        "when: number(source.Amount) > relatd.account.Limit",
    ).replace("clear: {Hold: 'false'", "clear: {Hold: 'flase'")
    path = tmp_path / "erpbridge.yaml"
    path.write_text(text, encoding="utf-8")
    project, _ = _project(text, path)
    errors = sorted(mapping_problems(project), key=lambda e: e.line or 0)
    lines = text.splitlines()
    when_line = next(i for i, line in enumerate(lines, 1) if "relatd" in line)
    clear_line = next(i for i, line in enumerate(lines, 1) if "flase" in line)
    assert [(e.line, e.field) for e in errors] == [
        (when_line, "flows.orders.hold.when"),
        (clear_line, "flows.orders.hold.flag.clear.Hold"),
    ]
    assert errors[0].column == lines[when_line - 1].index("relatd") + 1
    assert "did you mean 'related'" in errors[0].reason
    assert "unknown name 'flase'" in errors[1].reason
    with pytest.raises(ConfigErrors):
        build_plans(project)


def test_unknown_connection_in_hold_is_refused(tmp_path: Path) -> None:
    text = PROJECT.replace(
        "account: {object: Account", "account: {connection: crn, object: Account"
    )
    with pytest.raises(ConfigErrors) as caught:
        _project(text, tmp_path / "erpbridge.yaml")
    [error] = caught.value.errors
    assert error.field == "flows.orders.hold.related.account.connection"
    assert "did you mean 'crm'" in error.reason


async def test_scheduler_rechecks_due_held_jobs_and_hub_reports_the_held_gauge(
    bench: Bench,
) -> None:
    _order(bench, "O2", 900)
    await bench.sync()
    hub = Hub(bench.project, bench.store, bench.runtime, build_plans(bench.project),
              clock=bench.clock, metrics=bench.metrics)  # fmt: skip
    hub.refresh_gauges()
    assert bench.metrics.registry.get_sample_value("erpbridge_jobs_held", {"flow": "orders"}) == 1
    bench.crm.put("Account", "A1", {"Name": "华东贸易", "Limit": Decimal(5000)})
    bench.clock.advance(601)
    scheduler = Scheduler(bench.store, bench.runtime, hub.plans, bench.clock, bench.metrics)
    stop = asyncio.Event()
    task = asyncio.create_task(scheduler.run(stop))
    for _ in range(200):  # the first recheck runs at once; bounded wait for the task
        await asyncio.sleep(0.01)
        if bench.rows("select state from jobs where state = 'held'") == []:
            break
    stop.set()
    await task
    assert bench.rows("select count(*) from jobs where state = 'queued'") == [(1,)]
    hub.refresh_gauges()
    assert bench.metrics.registry.get_sample_value("erpbridge_jobs_held", {"flow": "orders"}) == 0


async def test_related_record_found_by_its_natural_key(store_url: str, tmp_path: Path) -> None:
    text = PROJECT.replace(
        "account: {object: Account, id: source.AccountId}",
        "account: {object: Account, key: Code, id: source.AccountCode}",
    )
    for bench in _bench(store_url, tmp_path, text):
        _order(bench, "O1", 500, AccountCode="C1")
        _order(bench, "O2", 900, AccountCode="C1")
        _order(bench, "O3", 10, AccountCode="C-GONE")
        await bench.sync()
        assert [o.fields["PoNumber"] for o in bench.erp.all("SalesOrder")] == ["PO-O1"]
        reasons = {h["source_id"]: h["hold_reason"] for h in bench.held()}
        assert reasons == {
            "O2": "over credit: 900 > 800",
            "O3": "cannot check: account 'C-GONE' not found in crm:Account by Code",
        }
        assert [c for c in bench.crm.calls if c[0] == "find"]


def test_plan_shows_the_hold_and_what_it_reads(tmp_path: Path) -> None:
    from erpbridge.cli.project import plan_rows

    project, _ = _project(PROJECT, tmp_path / "erpbridge.yaml")
    [row] = plan_rows(project)
    assert row["hold"]["related"] == {"account": "crm:Account"}
    assert row["hold"]["recheck_s"] == 600.0
    assert row["hold"]["when"].startswith("number(source.Amount) >")


def test_unknown_related_name_and_hold_attribute_are_refused_offline(tmp_path: Path) -> None:
    text = PROJECT.replace("> related.account.Limit -", "> related.acount.Limit -").replace(
        "HoldReason: hold.reason}", "HoldReason: hold.reasn}"
    )
    path = tmp_path / "erpbridge.yaml"
    path.write_text(text, encoding="utf-8")
    project, _ = _project(text, path)
    errors = sorted(mapping_problems(project), key=lambda e: e.line or 0)
    assert [(e.field, e.reason) for e in errors] == [
        (
            "flows.orders.hold.when",
            "no related record 'acount' (related: account); did you mean 'account'?",
        ),
        ("flows.orders.hold.flag.set.HoldReason", "hold.reasn: a hold offers hold.reason only"),
    ]
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "related.acount" in t)
    assert errors[0].line == line
    assert errors[0].column == text.splitlines()[line - 1].index("related.acount") + 1


async def test_validate_online_checks_hold_fields_against_the_schemas(tmp_path: Path) -> None:
    text = PROJECT.replace(
        "- default(related.account.Exposure", "- default(related.account.Exposur"
    ).replace("set: {Hold: 'true'", "set: {Hld: 'true'")
    path = tmp_path / "erpbridge.yaml"
    path.write_text(text, encoding="utf-8")
    project, _ = _project(text, path)
    order = ObjectSchema(
        "Order",
        [
            Field(n)
            for n in (
                "OrderNumber",
                "Status",
                "Amount",
                "AccountId",
                "Approved",
                "Hold",
                "HoldReason",
            )
        ],
    )
    account = ObjectSchema("Account", [Field(n) for n in ("Name", "Code", "Limit", "Exposure")])
    sales = ObjectSchema("SalesOrder", [Field("PoNumber"), Field("Amount")])
    catalogs = {
        "crm": Catalog({"Order": order, "Account": account}),
        "erp": Catalog({"SalesOrder": sales}),
    }
    errors, _ = await schema_problems(project, catalogs)
    reasons = sorted((e.field, e.reason) for e in errors)
    assert reasons == [
        (
            "flows.orders.hold.flag.set.Hld",
            "Order has no field 'Hld' to flag; did you mean 'Hold'?",
        ),
        (
            "flows.orders.hold.reason",
            "Account has no field 'Exposur' (related.account.Exposur); did you mean 'Exposure'?",
        ),
        (
            "flows.orders.hold.when",
            "Account has no field 'Exposur' (related.account.Exposur); did you mean 'Exposure'?",
        ),
    ]
