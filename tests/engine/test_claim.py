"""A claim: which jobs it takes, in what order, and how PostgreSQL reads them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from erpbridge.engine.intake import intake_changes
from erpbridge.engine.jobs import Trigger
from erpbridge.engine.queue import Finished, claim_jobs, finish_jobs
from erpbridge.spi import Change
from tests.engine.conftest import Harness

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LEASE = timedelta(seconds=60)


def _take_in(harness: Harness, ids: list[str]) -> None:
    changes = [
        Change(object="Account", record_id=i, version="v1", stamp=T0 + timedelta(seconds=n))
        for n, i in enumerate(ids)
    ]
    intake_changes(harness.store, ["customers"], changes, Trigger.WEBHOOK, harness.clock)


def _set(harness: Harness, source_id: str, **values: object) -> None:
    with harness.store.begin() as conn:
        conn.execute(
            sa.text(
                "update jobs set "
                + ", ".join(f"{k} = :{k}" for k in values)
                + " where source_id = :source_id"
            ),
            {**values, "source_id": source_id},
        )


def test_a_claim_takes_due_parked_and_ended_leases_first_then_the_oldest_queued(
    harness: Harness,
) -> None:
    now = harness.clock.now()
    _take_in(harness, [f"R{n}" for n in range(9)])
    past, future = now - timedelta(seconds=1), now + timedelta(minutes=5)
    _set(harness, "R6", state="parked", next_attempt_at=past)  # due
    _set(harness, "R7", state="parked", next_attempt_at=future)  # not yet
    _set(harness, "R8", state="running", lease_expires_at=past)  # its worker died
    _set(harness, "R5", state="running", lease_expires_at=future)  # still worked on
    _set(harness, "R4", next_attempt_at=future)  # queued for a retry later

    with harness.store.begin() as conn:
        first = claim_jobs(conn, "w1", 4, LEASE, now, flows=["customers"])
    with harness.store.begin() as conn:
        second = claim_jobs(conn, "w2", 10, LEASE, now, flows=["customers"])
    with harness.store.begin() as conn:
        other_flow = claim_jobs(conn, "w3", 10, LEASE, now, flows=["orders"])

    assert [j.source_id for j in first] == ["R0", "R1", "R6", "R8"]
    assert [j.source_id for j in second] == ["R2", "R3"]
    assert other_flow == []
    running = "select source_id, lease_owner from jobs where state = 'running' order by source_id"
    assert harness.rows(running) == [
        ("R0", "w1"),
        ("R1", "w1"),
        ("R2", "w2"),
        ("R3", "w2"),
        ("R5", None),
        ("R6", "w1"),
        ("R8", "w1"),
    ]


def test_a_claim_without_stranded_jobs_leaves_them(harness: Harness) -> None:
    now = harness.clock.now()
    _take_in(harness, ["R0", "R1"])
    _set(harness, "R0", state="parked", next_attempt_at=now - timedelta(seconds=1))

    with harness.store.begin() as conn:
        claimed = claim_jobs(conn, "w1", 10, LEASE, now, stranded=False)

    assert [j.source_id for j in claimed] == ["R1"]


def test_postgresql_walks_each_state_of_the_queue_in_id_order(
    harness: Harness,
) -> None:
    """Jobs that moved on leave dead index entries until VACUUM; a bitmap scan reads them
    all at every claim (its cost grew with every job ever taken in). The claim walks the
    state index in id order instead, whatever the statistics say."""
    if harness.store.dialect.name != "postgresql":
        return  # SQLite removes an index entry as its row changes
    now = harness.clock.now()
    _take_in(harness, [f"R{n}" for n in range(600)])
    for _ in range(3):
        with harness.store.begin() as conn:
            claimed = claim_jobs(conn, "w1", 150, LEASE, now)
            finish_jobs(conn, [Finished(j, "updated") for j in claimed], "w1", now)
    with harness.store.begin() as conn:  # a store's history: the planner sees a big table
        conn.execute(
            sa.text(
                "insert into jobs (flow, source_id, source_version, kind, trigger, state,"
                " partition, attempts, next_attempt_at, created_at, updated_at)"
                " select 'orders', 'H' || n, 'v1', 'upsert', 'poll', 'done', 0, 1, :now,"
                " :now, :now from generate_series(1, 30000) as n"
            ),
            {"now": now},
        )
    statements: list[tuple[str, object]] = []

    def capture(conn: object, cursor: object, sql: str, params: object, *_: object) -> None:
        if sql.lstrip().startswith(("SELECT candidate", "UPDATE jobs", "SET LOCAL")):
            statements.append((sql, params))

    sa.event.listen(harness.store, "before_cursor_execute", capture)
    try:
        with harness.store.begin() as conn:
            claim_jobs(conn, "w1", 50, LEASE, now, flows=["customers", "orders"])
            bitmap_after = conn.execute(sa.text("show enable_bitmapscan")).scalar_one()
    finally:
        sa.event.remove(harness.store, "before_cursor_execute", capture)
    plans: list[str] = []
    with harness.store.begin() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor:
            for sql, params in statements:
                if sql.startswith("SET LOCAL"):
                    cursor.execute(sql)
                    continue
                cursor.execute("EXPLAIN " + sql, params)  # type: ignore[arg-type]
                plans.append("\n".join(str(row[0]) for row in cursor.fetchall()))

    assert bitmap_after == "on"  # the claim's setting ends with it
    assert len(plans) == 3  # parked, running, then the update with the queued select
    for plan, state in zip(plans, ("parked", "running", "queued"), strict=True):
        assert "Index Scan using ix_jobs_state_id on jobs candidate" in plan, plan
        assert f"Index Cond: ((state)::text = '{state}'::text)" in plan, plan
        assert "Bitmap" not in plan, plan
