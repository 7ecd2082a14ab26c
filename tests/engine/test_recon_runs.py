"""Recon runs: both reading modes, target scope, bad input, cancel and resume, schedules."""

from __future__ import annotations

import asyncio
import json
import pickle
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from erpbridge.config import load_project_text
from erpbridge.config.errors import ConfigErrors
from erpbridge.engine.intake import poll_flow
from erpbridge.engine.metrics import Metrics
from erpbridge.engine.plans import build_plans, mapping_problems
from erpbridge.engine.recon import (
    ReconOptions,
    cancel_recon,
    plan_repairs,
    resume_recon,
    run_recon,
)
from erpbridge.engine.recon_process import can_fork
from erpbridge.engine.scheduler import Scheduler
from erpbridge.spi import ChangePage, Cursor, ReadError, TransientError, ValidationError
from tests.engine.conftest import PROJECT, Harness

_PLANTED = [
    ("duplicate_source", "C008", None),
    ("duplicate_target", "C007", None),
    ("field", "C003", "Name"),
    ("missing_in_source", "X99", None),
    ("missing_in_target", "C005", None),
]


async def _synced(harness: Harness, n: int = 10) -> None:
    for i in range(n):
        harness.crm.put("Account", f"A{i:03d}", {"AccountNumber": f"C{i:03d}", "Name": f"客户{i}"})
    await poll_flow(harness.store, harness.runtime, "customers", harness.clock)
    await harness.drain()


def _by_code(harness: Harness, code: str) -> str:
    return next(r.id for r in harness.erp.all("Customer") if r.fields["Code"] == code)


def _plant(harness: Harness) -> None:
    harness.erp.put("Customer", _by_code(harness, "C003"), {"Code": "C003", "Name": "被人改了"})
    del harness.erp.records["Customer"][_by_code(harness, "C005")]
    harness.erp.put("Customer", None, {"Code": "X99", "Name": "只在 ERP"})
    harness.erp.put("Customer", None, {"Code": "C007", "Name": "客户7"})
    harness.crm.put("Account", "A900", {"AccountNumber": "C008", "Name": "客户8"})


def _doc(value: object) -> dict[str, object]:
    """A JSON column as read back (text on SQLite, already decoded on PostgreSQL)."""
    return json.loads(value) if isinstance(value, str) else dict(value)  # type: ignore[call-overload]


def _found(result: object) -> list[tuple[str, str, str | None]]:
    return sorted((d.kind.value, d.key, d.field) for d in result.differences)  # type: ignore[attr-defined]


@pytest.mark.parametrize("parallel", [True, False], ids=["two-processes", "one-process"])
async def test_both_reading_modes_find_exactly_the_planted_differences(
    harness: Harness, parallel: bool
) -> None:
    await _synced(harness)
    _plant(harness)
    plan = build_plans(harness.project)["customers"]
    options = ReconOptions(parallel=parallel, page_size=3)
    result = await run_recon(harness.store, harness.runtime, plan, options, harness.clock)
    assert (result.state, _found(result), result.matches) == ("done", _PLANTED, 6)
    assert result.read == {"source": 11, "target": 11}


def test_a_file_store_lets_the_source_side_run_in_a_child(harness: Harness) -> None:
    assert can_fork(harness.store)


async def test_equal_values_in_other_wire_forms_match(harness: Harness) -> None:
    await _synced(harness, 3)
    harness.erp.put("Customer", _by_code(harness, "C001"), {"Code": " C001 ", "Name": "客户1  "})
    plan = build_plans(harness.project)["customers"]
    result = await run_recon(harness.store, harness.runtime, plan, ReconOptions(), harness.clock)
    assert (result.differences, result.matches) == ([], 3)


async def test_xref_scope_leaves_out_target_records_that_never_came_from_the_source(
    harness: Harness,
) -> None:
    await _synced(harness)
    _plant(harness)
    plan = build_plans(harness.project)["customers"]
    options = ReconOptions(target_scope="xref")
    result = await run_recon(harness.store, harness.runtime, plan, options, harness.clock)
    # X99 and the second C007 were typed in the ERP: out of scope, so no longer reported
    assert _found(result) == [
        ("duplicate_source", "C008", None),
        ("field", "C003", "Name"),
        ("missing_in_target", "C005", None),
    ]


async def test_target_when_restricts_the_target_side(harness: Harness) -> None:
    await _synced(harness)
    _plant(harness)
    plan = build_plans(harness.project)["customers"]
    options = ReconOptions(target_when='target.Code != "X99"')
    result = await run_recon(harness.store, harness.runtime, plan, options, harness.clock)
    assert ("missing_in_source", "X99", None) not in _found(result)
    assert len(_found(result)) == len(_PLANTED) - 1


async def test_a_target_when_that_does_not_compile_fails_the_run_with_the_reason(
    harness: Harness,
) -> None:
    await _synced(harness, 2)
    plan = build_plans(harness.project)["customers"]
    options = ReconOptions(target_when="target.Code ==")
    result = await run_recon(harness.store, harness.runtime, plan, options, harness.clock)
    assert result.state == "failed" and "target_when" in str(result.error)


async def test_bad_input_is_reported_in_the_run_never_raised(harness: Harness) -> None:
    await _synced(harness, 4)
    harness.crm.put("Account", "A500", {"Name": "no number"})  # source record without a key
    harness.erp.put("Customer", None, {"Name": "no code"})  # target record without a key
    harness.erp.put("Customer", _by_code(harness, "C001"), {"Code": "C001", "Name": {"x": [1]}})
    harness.erp.put("Customer", _by_code(harness, "C002"), {"Code": "C002", "Name": 2.5})
    harness.erp.unreadable.append(
        ReadError(position="line 7", error=ValidationError("bad JSON"), object="Customer")
    )
    plan = build_plans(harness.project)["customers"]
    result = await run_recon(harness.store, harness.runtime, plan, ReconOptions(), harness.clock)
    found = _found(result)
    assert result.state == "done"
    assert ("unmappable", "A500", "Code") in found
    assert ("bad_record", "line 7", None) in found
    assert ("field", "C001", "Name") in found and ("field", "C002", "Name") in found
    assert sum(1 for kind, _, _ in found if kind == "bad_record") == 2
    assert plan_repairs(harness.store, result.run_id)  # a done run can be repaired
    since = await run_recon(
        harness.store,
        harness.runtime,
        plan,
        ReconOptions(since=harness.clock.now() - timedelta(days=1)),
        harness.clock,
    )
    assert ("bad_record", "line 7", None) in _found(since)
    assert sum(1 for kind, _, _ in _found(since) if kind == "bad_record") == 1
    assert since.totals["target_without_key"] == 1  # counted, not reported, with --since


class _FailsHalfway:
    """Wraps a connector: the second page of ``object`` fails (a 503, or ``error``)."""

    def __init__(self, inner: object, object_name: str, error: Exception | None = None) -> None:
        self.inner, self.object_name = inner, object_name
        self.error = error or TransientError("503 Service Unavailable", system="x")

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def read_changes(
        self, object: str, cursor: Cursor | None, page_size: int
    ) -> AsyncIterator[ChangePage]:
        pages = 0
        async for page in self.inner.read_changes(object, cursor, page_size):  # type: ignore[attr-defined]
            if object == self.object_name and pages == 1:
                raise self.error
            pages += 1
            yield page


@pytest.mark.parametrize("side", ["crm", "erp"])
@pytest.mark.parametrize("parallel", [True, False], ids=["two-processes", "one-process"])
async def test_a_side_failing_halfway_fails_the_run_and_nothing_is_repaired(
    harness: Harness, side: str, parallel: bool
) -> None:
    await _synced(harness)
    _plant(harness)
    obj = "Account" if side == "crm" else "Customer"
    harness.runtime._connectors[side] = _FailsHalfway(harness.runtime.connector(side), obj)  # type: ignore[assignment]
    plan = build_plans(harness.project)["customers"]
    options = ReconOptions(parallel=parallel, page_size=3)
    result = await run_recon(harness.store, harness.runtime, plan, options, harness.clock)
    assert result.state == "failed" and "503 Service Unavailable" in str(result.error)
    assert f"reading {side} failed" in str(result.error)
    assert plan_repairs(harness.store, result.run_id) == []
    assert harness.rows(
        f"select count(*) from recon_differences where run_id = {result.run_id}"
    ) == [(0,)]


@pytest.mark.parametrize("side", ["crm", "erp"])
async def test_a_bug_in_a_connector_fails_the_run_with_the_reason(
    harness: Harness, side: str
) -> None:
    await _synced(harness)
    obj = "Account" if side == "crm" else "Customer"
    bug = KeyError("Id")
    harness.runtime._connectors[side] = _FailsHalfway(harness.runtime.connector(side), obj, bug)  # type: ignore[assignment]
    plan = build_plans(harness.project)["customers"]
    options = ReconOptions(page_size=3)
    result = await run_recon(harness.store, harness.runtime, plan, options, harness.clock)
    assert result.state == "failed"
    assert f"reading {side} failed: internal error KeyError" in str(result.error)


class _CancelsOnRead:
    """Wraps a connector: asks to cancel the newest running recon when ``object`` is read
    (before its first page, or after its last with ``at_end``)."""

    def __init__(
        self, harness: Harness, inner: object, object_name: str, *, at_end: bool = False
    ) -> None:
        self.harness, self.inner, self.object_name = harness, inner, object_name
        self.reads: list[str] = []
        self.armed = True
        self.at_end = at_end

    def _cancel(self) -> None:
        [(run_id,)] = self.harness.rows("select max(id) from recon_runs where state = 'running'")
        assert cancel_recon(self.harness.store, int(str(run_id))) == "running"

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def read_changes(
        self, object: str, cursor: Cursor | None, page_size: int
    ) -> AsyncIterator[ChangePage]:
        self.reads.append(object)
        armed = object == self.object_name and self.armed
        if armed and not self.at_end:
            self._cancel()
        async for page in self.inner.read_changes(object, cursor, page_size):  # type: ignore[attr-defined]
            yield page
        if armed and self.at_end:
            self._cancel()


async def test_a_cancelled_run_repairs_nothing_and_resumes_without_rereading_the_source(
    harness: Harness, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    await _synced(harness)
    _plant(harness)
    crm = _CancelsOnRead(harness, harness.runtime.connector("crm"), "none")
    erp = _CancelsOnRead(harness, harness.runtime.connector("erp"), "Customer")
    harness.runtime._connectors.update(crm=crm, erp=erp)  # type: ignore[dict-item]
    plan = build_plans(harness.project)["customers"]
    options = ReconOptions(parallel=False, page_size=3, work_dir=work, cancel_check_s=0)
    first = await run_recon(harness.store, harness.runtime, plan, options, harness.clock)
    assert first.state == "cancelled" and plan_repairs(harness.store, first.run_id) == []
    assert crm.reads == ["Account"] and erp.reads == ["Customer"]
    erp.armed = False
    resumed = await resume_recon(harness.store, harness.runtime, plan, first.run_id, harness.clock)
    assert (resumed.run_id, resumed.state, _found(resumed)) == (first.run_id, "done", _PLANTED)
    assert crm.reads == ["Account"]  # the source side was read to its end before: not again
    assert erp.reads == ["Customer", "Customer"]
    assert list(work.iterdir()) == []  # the work folder is gone once the run is done


async def test_a_run_cancelled_while_joining_resumes_by_reading_both_sides_again(
    harness: Harness, tmp_path: Path
) -> None:
    await _synced(harness)
    _plant(harness)
    crm = _CancelsOnRead(harness, harness.runtime.connector("crm"), "none")
    erp = _CancelsOnRead(harness, harness.runtime.connector("erp"), "Customer", at_end=True)
    harness.runtime._connectors.update(crm=crm, erp=erp)  # type: ignore[dict-item]
    plan = build_plans(harness.project)["customers"]
    options = ReconOptions(parallel=False, page_size=3, work_dir=tmp_path / "w", cancel_check_s=0)
    first = await run_recon(harness.store, harness.runtime, plan, options, harness.clock)
    assert first.state == "cancelled"
    assert list((tmp_path / "w").iterdir()) == []  # nothing half-joined is kept
    erp.armed = False
    resumed = await resume_recon(harness.store, harness.runtime, plan, first.run_id, harness.clock)
    assert (resumed.state, _found(resumed)) == ("done", _PLANTED)
    assert erp.reads == ["Customer"] * 2  # read again (the source side is read by a child)


async def test_only_a_cancelled_run_resumes(harness: Harness) -> None:
    await _synced(harness, 2)
    plan = build_plans(harness.project)["customers"]
    done = await run_recon(harness.store, harness.runtime, plan, ReconOptions(), harness.clock)
    with pytest.raises(Exception, match="only a cancelled run resumes"):
        await resume_recon(harness.store, harness.runtime, plan, done.run_id, harness.clock)
    assert cancel_recon(harness.store, done.run_id) == "done"
    assert cancel_recon(harness.store, 99999) is None


_SCHEDULED = PROJECT.replace(
    "    retry: {max_attempts: 3, initial: 1s, max_interval: 30s, dependency_timeout: 1m}\n"
    "  orders:",
    "    retry: {max_attempts: 3, initial: 1s, max_interval: 30s, dependency_timeout: 1m}\n"
    "    recon:\n"
    "      schedule: {cron: '0 2 * * *', timezone: Asia/Shanghai}\n"
    "      scope: xref\n"
    "      repair: apply\n"
    "  orders:",
)


async def test_a_scheduled_recon_is_stored_and_repaired_as_configured(
    harness: Harness, tmp_path: Path
) -> None:
    registry = harness.runtime._registry
    project = load_project_text(
        _SCHEDULED, path=tmp_path / "scheduled.yaml", registry=registry, environ={}
    )
    harness.runtime.project = project
    await _synced(harness)
    _plant(harness)
    plans = build_plans(project)
    scheduler = Scheduler(harness.store, harness.runtime, plans, harness.clock, Metrics())
    result = await scheduler.run_scheduled_recon(plans["customers"])
    assert _found(result) == [
        ("duplicate_source", "C008", None),
        ("field", "C003", "Name"),
        ("missing_in_target", "C005", None),
    ]
    [(params, totals)] = harness.rows(
        f"select params, totals from recon_runs where id = {result.run_id}"
    )
    assert _doc(params)["trigger"] == "schedule"
    assert "queued" in str(totals)
    assert harness.rows("select count(*) from jobs where trigger = 'recon'") == [(2,)]


async def test_the_scheduler_runs_the_recon_at_its_cron_time_in_its_time_zone(
    harness: Harness, tmp_path: Path
) -> None:
    project = load_project_text(
        _SCHEDULED, path=tmp_path / "scheduled.yaml", registry=harness.runtime._registry, environ={}
    )
    harness.runtime.project = project
    await _synced(harness, 3)
    # 01:59:59.8 in Shanghai: the 02:00 run is 0.2 s away (it is 18:00 UTC the day before)
    harness.clock._now = datetime(2026, 3, 1, 17, 59, 59, 800000, tzinfo=UTC)
    plans = {"customers": build_plans(project)["customers"]}
    scheduler = Scheduler(harness.store, harness.runtime, plans, harness.clock, Metrics())
    stop = asyncio.Event()
    task = asyncio.create_task(scheduler.run(stop))
    for _ in range(300):  # up to 30 s on a busy machine
        await asyncio.sleep(0.1)
        if harness.rows("select count(*) from recon_runs where state = 'done'") == [(1,)]:
            break
    stop.set()
    await task
    [(params,)] = harness.rows("select params from recon_runs")
    assert _doc(params)["trigger"] == "schedule"


@pytest.mark.parametrize(
    ("block", "where", "reason"),
    [
        ("recon: {schedule: {cron: 'every day'}}", "flows.customers.recon.schedule.cron", "cron"),
        ("recon: {repair: always}", "flows.customers.recon.repair", "dry_run"),
        ("recon: {fields: [Nmae]}", "flows.customers.recon.fields", "Name"),
        ("recon: {target_when: 'target.Code =='}", "flows.customers.recon.target_when", ""),
        ("recon: {schedule: {cron: '0 2 * * *', timezone: Mars/Base}}", "timezone", "IANA"),
    ],
)
def test_a_bad_recon_block_is_refused_with_its_place(
    harness: Harness, tmp_path: Path, block: str, where: str, reason: str
) -> None:
    text = PROJECT.replace("  orders:\n", f"    {block}\n  orders:\n", 1)
    path = tmp_path / "bad.yaml"
    try:
        project = load_project_text(text, path=path, registry=harness.runtime._registry, environ={})
    except ConfigErrors as exc:
        errors = exc.errors
    else:
        errors = mapping_problems(project)
    assert errors, block
    error = errors[0]
    assert where in str(error.field) and error.line is not None and reason in error.reason


def test_options_keep_the_run_params_for_resume(tmp_path: Path) -> None:
    from erpbridge.engine.recon_options import options_from_params, params_of

    options = ReconOptions(fields=["Name"], target_scope="xref", target_when="target.A == 1")
    back = options_from_params(params_of(options, "Code", tmp_path))
    assert replace(back, work_dir=None) == replace(options, work_dir=None)


def test_equal_values_pickled_apart_are_a_match() -> None:
    from erpbridge.engine.recon_compare import PartitionJoin

    same = "同一个值"
    source = ("K1", "S1", pickle.dumps((same, same), 5), None)  # one object twice: memoised
    target = ("K1", "T1", pickle.dumps(("同一个值", "同一个值".encode().decode()), 5), None)
    assert source[2] != target[2]
    join = PartitionJoin(["A", "B"], {}, {}, None, since_filtered=False)
    join.join([source], [target])
    assert (join.matches, join.differences) == (1, [])
