"""Retention: prune finished jobs past the cutoff, keep what the engine still reads.

Runs on SQLite and PostgreSQL (``store_url``). Jobs are written straight into the store
with the states and times a long-running hub leaves behind; the stale check and the
dedup are then exercised through the real intake (``enqueue_changes``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from erpbridge.engine import scheduler as scheduler_module
from erpbridge.engine.clock import ManualClock
from erpbridge.engine.enqueue import enqueue_changes, last_done_stamps, partition_of
from erpbridge.engine.intake import intake_changes, poll_flow
from erpbridge.engine.jobs import Trigger
from erpbridge.engine.metrics import Metrics
from erpbridge.engine.retention import PruneResult, prune_jobs
from erpbridge.engine.scheduler import Scheduler
from erpbridge.spi.records import Change
from erpbridge.store import open_store
from erpbridge.store.audit import verify_audit_log
from erpbridge.store.schema import attempts, audit_log, dead_letters, jobs
from tests.engine.conftest import Harness

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=60)  # finished long before a 30-day cutoff
RECENT = NOW - timedelta(days=2)
AGE = timedelta(days=30)
FLOW = "orders"


@pytest.fixture
def store(store_url: str) -> Iterator[sa.Engine]:
    engine = open_store(store_url)
    yield engine
    engine.dispose()


def _job(
    conn: sa.Connection,
    record: str,
    version: str,
    state: str,
    *,
    stamp: datetime | None = None,
    at: datetime = OLD,
    tries: int = 1,
    flow: str = FLOW,
    **extra: Any,
) -> int:
    """One job row (and ``tries`` attempt rows) as a hub leaves it; returns its id."""
    job_id = int(
        conn.execute(
            jobs.insert()
            .values(
                flow=flow, source_id=record, source_version=version, source_stamp=stamp,
                kind="upsert", trigger="poll", state=state,
                partition=partition_of(flow, record), attempts=tries, next_attempt_at=at,
                created_at=at, updated_at=at, **extra,
            )
            .returning(jobs.c.id)
        ).scalar_one()
    )  # fmt: skip
    for number in range(1, tries + 1):
        conn.execute(
            attempts.insert().values(
                job_id=job_id, number=number, worker="w1", started_at=at, finished_at=at,
                outcome="updated" if state == "done" else "failed",
            )
        )  # fmt: skip
    return job_id


def _letter(
    conn: sa.Connection, job_id: int, record: str, state: str, resolved: datetime | None
) -> None:
    conn.execute(
        dead_letters.insert().values(
            job_id=job_id, flow=FLOW, source_id=record, error_class="validation",
            error_message="Name is required", state=state, created_at=OLD,
            resolved_at=resolved, resolved_by="ops" if resolved else None,
        )
    )  # fmt: skip


def _ids(store: sa.Engine, table: sa.Table = jobs) -> set[int]:
    with store.connect() as conn:
        return {int(r[0]) for r in conn.execute(sa.select(table.c.id))}


def _stamp(hours: int) -> datetime:
    return OLD - timedelta(days=10) + timedelta(hours=hours)


def test_last_done_stamps_are_each_records_newest_done_stamp_in_the_flow(
    store: sa.Engine,
) -> None:
    with store.begin() as conn:
        _job(conn, "A", "v1", "done", stamp=_stamp(1))
        _job(conn, "A", "v3", "done", stamp=_stamp(3))
        _job(conn, "A", "v5", "queued", stamp=_stamp(5))  # not done: not counted
        _job(conn, "A", "v9", "done", stamp=_stamp(9), flow="other")  # another flow's
        _job(conn, "B", "v1", "queued", stamp=_stamp(2))
        _job(conn, "C", "v1", "done")  # no stamp
    with store.connect() as conn:
        assert last_done_stamps(conn, FLOW, ["A", "B", "C", "D"]) == {"A": _stamp(3)}
        assert last_done_stamps(conn, "other", ["A"]) == {"A": _stamp(9)}
        assert last_done_stamps(conn, FLOW, []) == {}


def test_prune_keeps_newest_job_and_newest_done_version_so_stale_check_holds(
    store: sa.Engine,
) -> None:
    with store.begin() as conn:
        v1 = _job(conn, "A", "v1", "done", stamp=_stamp(1), tries=2)
        v3 = _job(conn, "A", "v3", "done", stamp=_stamp(3))  # the newest done version
        v2 = _job(conn, "A", "v2", "superseded", stamp=_stamp(2), outcome="stale")  # newest id
        b_old = _job(conn, "B", "v1", "done", stamp=_stamp(1))
        b_new = _job(conn, "B", "v2", "done", stamp=_stamp(2), at=RECENT)  # not past the cutoff
        c_only = _job(conn, "C", "v1", "done", stamp=None)  # a record's only job
    result = prune_jobs(store, older_than=AGE, now=NOW)
    assert (result.jobs, result.attempts, result.dead_letters) == (2, 3, 0)
    assert _ids(store) == {v3, v2, b_new, c_only}
    assert b_old not in _ids(store) and v1 not in _ids(store)
    with store.connect() as conn:
        left = {int(r[0]) for r in conn.execute(sa.select(attempts.c.job_id))}
    assert left == {v3, v2, b_new, c_only}  # the pruned jobs' attempts went with them

    # A late old version (pruned or never seen) is still dropped as stale; the newest
    # version read again is still a duplicate.
    with store.begin() as conn:
        late = enqueue_changes(
            conn,
            FLOW,
            [
                Change("Order", "A", "v1", stamp=_stamp(1)),
                Change("Order", "A", "v0", stamp=_stamp(0)),
                Change("Order", "A", "v2", stamp=_stamp(2)),
            ],
            "poll",
            NOW,
        )
    assert (late.queued, late.stale, late.duplicates) == (0, 2, 1)
    with store.connect() as conn:
        queued = conn.execute(
            sa.select(sa.func.count()).where(jobs.c.state.in_(("queued", "running")))
        ).scalar_one()
    assert queued == 0


def test_open_jobs_held_jobs_and_open_dead_letters_are_kept(store: sa.Engine) -> None:
    with store.begin() as conn:
        kept = {
            _job(conn, "Q", "v1", "queued"),
            _job(conn, "R", "v1", "running"),
            _job(conn, "P", "v1", "parked"),
            _job(conn, "H", "v1", "held", held_at=OLD),
        }
        # superseded while held: the open version reads since when the record is held
        kept.add(_job(conn, "H2", "v1", "superseded", held_at=OLD))
        kept.add(_job(conn, "H2", "v2", "queued"))
        dead_open = _job(conn, "D1", "v1", "dead")
        _letter(conn, dead_open, "D1", "open", None)
        dead_recent = _job(conn, "D2", "v1", "dead")
        _letter(conn, dead_recent, "D2", "discarded", RECENT)
        kept |= {dead_open, dead_recent}
        gone = set()
        dead_done = _job(conn, "D3", "v1", "dead")
        _letter(conn, dead_done, "D3", "replayed", OLD)
        gone.add(dead_done)
        gone.add(_job(conn, "H3", "v1", "superseded", held_at=OLD))  # no open version
        # a newer finished job for every record, so "newest of its record" protects none
        for record in ("Q", "R", "P", "H", "D1", "D2", "D3", "H3"):
            kept.add(_job(conn, record, "v9", "done", stamp=_stamp(9), at=RECENT))
    result = prune_jobs(store, older_than=AGE, now=NOW)
    assert (result.jobs, result.dead_letters) == (2, 1)
    assert _ids(store) == kept
    with store.connect() as conn:
        letters = {int(r[0]) for r in conn.execute(sa.select(dead_letters.c.job_id))}
    assert letters == {dead_open, dead_recent}


def test_dry_run_removes_nothing_and_reports_the_same_counts(store: sa.Engine) -> None:
    with store.begin() as conn:
        for i in range(6):
            _job(conn, f"R{i % 2}", f"v{i}", "done", stamp=_stamp(i), tries=1 + i % 3)
        dead = _job(conn, "R0", "vx", "dead")
        _letter(conn, dead, "R0", "discarded", OLD)
        _job(conn, "R0", "vz", "superseded")
    before = (_ids(store), _ids(store, attempts), _ids(store, dead_letters))
    dry = prune_jobs(store, older_than=AGE, now=NOW, dry_run=True)
    assert (_ids(store), _ids(store, attempts), _ids(store, dead_letters)) == before
    assert dry.dry_run and dry.jobs > 0 and dry.attempts > dry.jobs and dry.dead_letters == 1
    real = prune_jobs(store, older_than=AGE, now=NOW)
    assert (real.jobs, real.attempts, real.dead_letters) == (dry.jobs, dry.attempts, 1)
    assert len(_ids(store)) == len(before[0]) - real.jobs
    with store.connect() as conn:
        entries = [str(r[0]) for r in conn.execute(sa.select(audit_log.c.action))]
    assert entries == ["jobs.prune"]  # the dry run left no trace


def test_a_prune_over_many_batches_removes_the_same_as_one(store: sa.Engine) -> None:
    """Batches of 7 jobs over 40 records × 5 versions: each batch its own transaction."""
    with store.begin() as conn:
        for version in range(5):
            for record in range(40):
                _job(conn, f"S{record}", f"v{version}", "done", stamp=_stamp(version), tries=2)
    dry = prune_jobs(store, older_than=AGE, now=NOW, dry_run=True, batch=1000)
    metrics = Metrics()
    seen: list[int] = []
    result = prune_jobs(
        store, older_than=AGE, now=NOW, batch=7, metrics=metrics,
        progress=lambda sofar: seen.append(sofar.jobs),
    )  # fmt: skip
    assert (result.jobs, result.attempts) == (dry.jobs, dry.attempts) == (160, 320)
    assert result.batches > 20 and len(seen) == result.batches
    assert seen == sorted(seen) and seen[-1] == 160
    with store.connect() as conn:
        kept = conn.execute(sa.select(jobs.c.source_id, jobs.c.source_version)).all()
        ok, _, _ = verify_audit_log(conn)
    assert sorted(kept) == sorted((f"S{r}", "v4") for r in range(40))
    assert ok
    assert metrics.registry.get_sample_value("erpbridge_pruned_total", {"table": "jobs"}) == 160
    again = prune_jobs(store, older_than=AGE, now=NOW)
    assert (again.jobs, again.attempts, again.dead_letters) == (0, 0, 0)


def test_a_prune_needs_a_positive_age(store: sa.Engine) -> None:
    with pytest.raises(ValueError, match="positive age"):
        prune_jobs(store, older_than=timedelta(0), now=NOW)


async def test_the_running_hub_prunes_in_the_background(
    store: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with store.begin() as conn:
        _job(conn, "A", "v1", "done", stamp=_stamp(1))
        newest = _job(conn, "A", "v2", "done", stamp=_stamp(2))
    loop = asyncio.get_running_loop()
    finished = asyncio.Event()

    def prune_and_tell(*args: Any, **kwargs: Any) -> PruneResult:
        try:
            return prune_jobs(*args, **kwargs)  # the real prune, in the scheduler's thread
        finally:
            loop.call_soon_threadsafe(finished.set)

    monkeypatch.setattr(scheduler_module, "prune_jobs", prune_and_tell)
    metrics = Metrics()
    scheduler = Scheduler(store, None, {}, ManualClock(NOW), metrics, retention=AGE)  # type: ignore[arg-type]
    stop = asyncio.Event()
    task = asyncio.create_task(scheduler.run(stop))
    await asyncio.wait_for(finished.wait(), timeout=60)
    stop.set()
    await task
    assert _ids(store) == {newest}
    assert metrics.registry.get_sample_value("erpbridge_pruned_total", {"table": "attempts"}) == 1


async def test_after_a_real_hub_history_is_pruned_the_engine_works_on(harness: Harness) -> None:
    """Jobs, attempts and a dead letter made by the real intake and worker, then pruned."""
    crm, clock = harness.crm, harness.clock
    first = crm.put("Account", "A1", {"AccountNumber": "C1", "Name": "华北机械"})
    crm.put("Account", "A2", {"AccountNumber": "C2", "Name": "INVALID"})  # refused: dead letter
    await poll_flow(harness.store, harness.runtime, "customers", clock)
    await harness.drain()
    clock.advance(40 * 86400)
    for name in ("华北机械有限公司", "华北机械集团"):
        crm.tick(60)
        crm.put("Account", "A1", {"AccountNumber": "C1", "Name": name})
        await poll_flow(harness.store, harness.runtime, "customers", clock)
        await harness.drain()
    result = prune_jobs(harness.store, older_than=AGE, now=clock.now())
    assert (result.jobs, result.dead_letters) == (1, 0) and result.attempts >= 1
    kept = harness.rows("SELECT source_id, state FROM jobs WHERE flow = 'customers' ORDER BY id")
    assert kept == [("A2", "dead"), ("A1", "done"), ("A1", "done")]
    assert harness.rows("SELECT count(*) FROM dead_letters WHERE state = 'open'") == [(1,)]
    # the pruned first version arrives late (a webhook retried for weeks): still stale
    late = intake_changes(
        harness.store,
        ["customers"],
        [Change("Account", "A1", first.version, stamp=first.stamp, record=first)],
        Trigger.WEBHOOK,
        clock,
    )
    assert (late.queued, late.stale) == (0, 1)
    await harness.drain()
    assert harness.erp.all("Customer")[0].fields["Name"] == "华北机械集团"
