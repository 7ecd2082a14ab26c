from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from erpbridge.engine.intake import intake_changes, load_cursor, poll_flow
from erpbridge.engine.jobs import Trigger
from erpbridge.engine.metrics import Metrics
from erpbridge.engine.queue import claim_jobs, hold_job
from erpbridge.spi import Change, Record
from tests.engine.conftest import Harness

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _change(record_id: str, version: str, seconds: int = 0) -> Change:
    return Change(
        object="Account",
        record_id=record_id,
        version=version,
        stamp=T0 + timedelta(seconds=seconds),
    )


def test_duplicate_changes_are_queued_once(harness: Harness) -> None:
    changes = [_change("A1", "v1"), _change("A1", "v1"), _change("A2", "v1")]
    first = intake_changes(harness.store, ["customers"], changes, Trigger.WEBHOOK, harness.clock)
    again = intake_changes(
        harness.store, ["customers"], changes[:1], Trigger.WEBHOOK, harness.clock
    )
    assert (first.queued, first.duplicates) == (2, 1)
    assert (again.queued, again.duplicates) == (0, 1)
    assert harness.rows("select count(*) from jobs") == [(2,)]


def test_known_versions_are_matched_as_pairs_not_as_ids_and_versions_apart(
    harness: Harness,
) -> None:
    """The intake drops versions a job already has before building rows: (A1, v2) and
    (B1, v1) are new although A1 has v1 and B1 has v2 (PostgreSQL's query asks ids IN and
    versions IN, the pairs are matched after)."""
    first = [_change("A1", "v1", 1), _change("B1", "v2", 2)]
    intake_changes(harness.store, ["customers"], first, Trigger.POLL, harness.clock)
    crossed = [_change("A1", "v2", 3), _change("B1", "v1", 1), *first]
    result = intake_changes(harness.store, ["customers"], crossed, Trigger.POLL, harness.clock)
    assert (result.queued, result.duplicates) == (2, 2)
    assert harness.rows("select source_id, source_version from jobs order by id") == [
        ("A1", "v1"),
        ("B1", "v2"),
        ("A1", "v2"),
        ("B1", "v1"),
    ]


def test_newer_version_supersedes_a_queued_older_one(harness: Harness) -> None:
    intake_changes(
        harness.store, ["customers"], [_change("A1", "v1", 1)], Trigger.WEBHOOK, harness.clock
    )
    intake_changes(
        harness.store, ["customers"], [_change("A1", "v2", 2)], Trigger.WEBHOOK, harness.clock
    )
    assert harness.rows("select source_version, state from jobs order by id") == [
        ("v1", "superseded"),
        ("v2", "queued"),
    ]


def test_two_versions_in_one_batch_leave_the_newer_queued(harness: Harness) -> None:
    """Neither version had a job before: the older one is superseded all the same."""
    changes = [_change("A1", "v1", 1), _change("A1", "v2", 2), _change("A2", "v1", 1)]
    intake_changes(harness.store, ["customers"], changes, Trigger.POLL, harness.clock)
    assert harness.rows("select source_id, source_version, state from jobs order by id") == [
        ("A1", "v1", "superseded"),
        ("A1", "v2", "queued"),
        ("A2", "v1", "queued"),
    ]


def test_out_of_order_older_version_does_not_supersede_newer(harness: Harness) -> None:
    intake_changes(
        harness.store, ["customers"], [_change("A1", "v2", 2)], Trigger.WEBHOOK, harness.clock
    )
    intake_changes(
        harness.store, ["customers"], [_change("A1", "v1", 1)], Trigger.WEBHOOK, harness.clock
    )
    assert harness.rows("select source_version, state from jobs order by id") == [
        ("v2", "queued"),
        ("v1", "queued"),
    ]


def test_jobs_of_one_record_are_claimed_one_at_a_time_in_order(harness: Harness) -> None:
    intake_changes(
        harness.store, ["customers"], [_change("A1", "v2", 2)], Trigger.WEBHOOK, harness.clock
    )
    intake_changes(
        harness.store,
        ["customers"],
        [_change("A1", "v1", 1), _change("B1", "v1", 1)],
        Trigger.WEBHOOK,
        harness.clock,
    )
    with harness.store.begin() as conn:
        first = claim_jobs(conn, "w1", 10, timedelta(seconds=60), harness.clock.now())
    with harness.store.begin() as conn:
        second = claim_jobs(conn, "w2", 10, timedelta(seconds=60), harness.clock.now())
    assert sorted((j.source_id, j.source_version) for j in first) == [("A1", "v2"), ("B1", "v1")]
    assert second == []  # A1 v1 waits until A1 v2 is no longer running


def test_a_version_taken_in_while_its_older_one_ran_is_not_kept_behind_a_hold(
    harness: Harness,
) -> None:
    """v1 runs and ends held; v2 (its hold flag's own write coming back, or an edit)
    arrived meanwhile. v1 is held and superseded at once, keeping its held_at, so v2 is
    claimed now and checked afresh, not after the recheck."""
    intake_changes(
        harness.store, ["customers"], [_change("A1", "v1", 1)], Trigger.WEBHOOK, harness.clock
    )
    with harness.store.begin() as conn:
        [running] = claim_jobs(conn, "w1", 10, timedelta(seconds=60), harness.clock.now())
    intake_changes(
        harness.store, ["customers"], [_change("A1", "v2", 2)], Trigger.WEBHOOK, harness.clock
    )
    now = harness.clock.now()
    with harness.store.begin() as conn:
        assert claim_jobs(conn, "w2", 10, timedelta(seconds=60), now) == []  # behind v1
        hold_job(conn, running, "over credit", now, now + timedelta(minutes=10), None, "w1", now)
    assert harness.rows("select source_version, state from jobs order by id") == [
        ("v1", "superseded"),
        ("v2", "queued"),
    ]
    assert harness.rows("select count(*) from jobs where held_at is not null") == [(1,)]
    with harness.store.begin() as conn:
        [claimed] = claim_jobs(conn, "w2", 10, timedelta(seconds=60), now)
    assert claimed.source_version == "v2"


def test_a_job_held_with_no_newer_version_stays_held(harness: Harness) -> None:
    intake_changes(
        harness.store, ["customers"], [_change("A1", "v2", 2)], Trigger.WEBHOOK, harness.clock
    )
    with harness.store.begin() as conn:
        [running] = claim_jobs(conn, "w1", 10, timedelta(seconds=60), harness.clock.now())
    # an out-of-order older version arrives: it does not make the held one moot
    intake_changes(
        harness.store, ["customers"], [_change("A1", "v1", 1)], Trigger.WEBHOOK, harness.clock
    )
    now = harness.clock.now()
    with harness.store.begin() as conn:
        hold_job(conn, running, "over credit", now, now + timedelta(minutes=10), None, "w1", now)
    assert harness.rows("select source_version, state from jobs order by id") == [
        ("v2", "held"),
        ("v1", "queued"),
    ]


def _snapshot(record_id: str, version: str) -> Change:
    """A change of a source without change stamps (stock, credit): its version a digest."""
    return Change.of(Record("Account", record_id, {"Qty": version}, version, None))


def _finish_all(harness: Harness) -> None:
    with harness.store.begin() as conn:
        conn.execute(sa.text("update jobs set state = 'done', outcome = 'updated'"))


def test_a_stampless_version_that_returns_after_another_is_queued_again(
    harness: Harness,
) -> None:
    """Stock 10 → 5 → 10: digests A, B, A. The second A is a new job under its own name
    (its own idempotency key); reading the unchanged stock again queues nothing."""
    queued = []
    for version in ("sha:A", "sha:B", "sha:A", "sha:A", "sha:B"):
        result = intake_changes(
            harness.store, ["customers"], [_snapshot("S1", version)], Trigger.POLL, harness.clock
        )
        queued.append(result.queued)
        _finish_all(harness)
    assert queued == [1, 1, 1, 0, 1]
    versions = [v for (v,) in harness.rows("select source_version from jobs order by id")]
    assert versions == ["sha:A", "sha:B", "sha:A~after:2", "sha:B~after:3"]
    keys = {f"customers:S1:{v}" for v in versions}  # Job.idempotency_key, one per write
    assert len(keys) == 4


def test_a_returned_version_leaves_other_records_and_stamped_changes_alone(
    harness: Harness,
) -> None:
    intake_changes(
        harness.store,
        ["customers"],
        [_snapshot("S1", "sha:A"), _snapshot("S2", "sha:A"), _change("A1", "v1", 1)],
        Trigger.POLL,
        harness.clock,
    )
    _finish_all(harness)
    intake_changes(
        harness.store,
        ["customers"],
        [_snapshot("S1", "sha:B"), _change("A1", "v2", 2)],
        Trigger.POLL,
        harness.clock,
    )
    _finish_all(harness)
    again = intake_changes(
        harness.store,
        ["customers"],
        # S1 back to A: queued; S2 unchanged: duplicate; A1's old v1 re-read: a duplicate
        [_snapshot("S1", "sha:A"), _snapshot("S2", "sha:A"), _change("A1", "v1", 1)],
        Trigger.POLL,
        harness.clock,
    )
    assert (again.queued, again.duplicates) == (1, 2)
    [(b_job,)] = harness.rows("select id from jobs where source_version = 'sha:B'")
    assert harness.rows(
        "select source_id, source_version from jobs where state = 'queued' order by id"
    ) == [("S1", f"sha:A~after:{b_job}")]


def test_expired_lease_lets_another_worker_take_the_job(harness: Harness) -> None:
    intake_changes(
        harness.store, ["customers"], [_change("A1", "v1")], Trigger.WEBHOOK, harness.clock
    )
    with harness.store.begin() as conn:
        assert len(claim_jobs(conn, "w1", 10, timedelta(seconds=60), harness.clock.now())) == 1
    harness.clock.advance(61)
    with harness.store.begin() as conn:
        taken = claim_jobs(conn, "w2", 10, timedelta(seconds=60), harness.clock.now())
    assert [(j.source_id, j.attempts) for j in taken] == [("A1", 2)]


async def test_a_poll_counts_what_it_queued_and_the_duplicates_its_overlap_read(
    harness: Harness,
) -> None:
    """Polls count their results as every other trigger does: queued and duplicate."""
    metrics = Metrics()
    for n in range(3):
        harness.crm.put("Account", f"A{n}", {"AccountNumber": f"C{n}", "Name": f"客户{n}"})
    await poll_flow(harness.store, harness.runtime, "customers", harness.clock, metrics)
    await poll_flow(harness.store, harness.runtime, "customers", harness.clock, metrics)

    def counted(result: str) -> float | None:
        labels = {"flow": "customers", "trigger": "poll", "result": result}
        return metrics.registry.get_sample_value("erpbridge_intake_total", labels)

    assert (counted("queued"), counted("duplicate")) == (3.0, 3.0)


async def test_poll_advances_cursor_with_the_jobs_and_overlap_rereads_are_deduplicated(
    harness: Harness,
) -> None:
    for n in range(5):
        harness.crm.put("Account", f"A{n}", {"AccountNumber": f"C{n}", "Name": f"客户{n}"})
    first = await poll_flow(harness.store, harness.runtime, "customers", harness.clock)
    again = await poll_flow(harness.store, harness.runtime, "customers", harness.clock)
    assert first.queued == 5
    assert again.queued == 0 and again.duplicates == 5  # the 5 s overlap re-read them
    with harness.store.connect() as conn:
        cursor = load_cursor(conn, "customers")
    assert cursor is not None and cursor.last_id == "A4"


async def test_same_second_edit_after_the_cursor_is_not_skipped(harness: Harness) -> None:
    stamp = harness.crm.tick(10)
    harness.crm.put("Account", "A2", {"AccountNumber": "C2", "Name": "x"}, stamp=stamp)
    await poll_flow(harness.store, harness.runtime, "customers", harness.clock)
    # a record committed late with the same stamp and a smaller id than the cursor's
    harness.crm.put("Account", "A1", {"AccountNumber": "C1", "Name": "y"}, stamp=stamp)
    result = await poll_flow(harness.store, harness.runtime, "customers", harness.clock)
    assert result.queued == 1
    assert harness.rows("select source_id from jobs order by id") == [("A2",), ("A1",)]


async def test_poll_records_a_run(harness: Harness) -> None:
    harness.crm.put("Account", "A1", {"AccountNumber": "C1", "Name": "x"})
    await poll_flow(harness.store, harness.runtime, "customers", harness.clock)
    assert harness.rows("select flow, trigger, read, queued from runs") == [
        ("customers", "poll", 1, 1)
    ]


async def test_unreadable_input_is_a_dead_letter_once_and_the_page_still_flows(
    harness: Harness,
) -> None:
    from erpbridge.spi import ReadError, ValidationError

    harness.crm.put("Account", "A1", {"AccountNumber": "C1", "Name": "x"})
    poison = ValidationError("message body is not JSON", system="memory", raw="{not json")
    harness.crm.unreadable.append(ReadError("queue crm.accounts, delivery tag 7", poison))
    first = await poll_flow(harness.store, harness.runtime, "customers", harness.clock)
    await poll_flow(harness.store, harness.runtime, "customers", harness.clock)  # redelivered
    assert first.queued == 1
    assert harness.rows("select source_id, error_class, error_raw from dead_letters") == [
        ("queue crm.accounts, delivery tag 7", "unreadable", "{not json")
    ]
    assert harness.rows("select state from jobs where source_version = 'unreadable'") == [("dead",)]
