"""The durable job queue on the store: intake, claim, finish, retry, park, dead letter.

Every function takes an open SQLAlchemy ``Connection`` inside the caller's transaction,
so intake can commit jobs and a cursor together, and a worker can commit job state, the
attempt, the xref and the echo hash together (DESIGN.md §6).

Order per record: a job is claimable only when no older job of the same (flow, record)
is still queued, running or parked. On PostgreSQL claims use ``FOR UPDATE SKIP LOCKED``
so many workers share the queue; on SQLite a compare-and-set update does the same for
the one process that runs everything.
"""

from __future__ import annotations

import zlib
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from erpbridge.engine.jobs import Job, JobState
from erpbridge.engine.queue_json import (
    DIALECTS,
    enqueue_jobs_json,
    finish_jobs_json,
    log_attempts_json,
)
from erpbridge.engine.returned import existing_versions, returned_versions
from erpbridge.engine.skipped import RECHECK_TRIGGERS, free_skipped_versions
from erpbridge.engine.snapshot import json_safe, record_to_snapshot
from erpbridge.engine.unchanged import (
    SOURCE_TRIGGERS,
    ContentKey,
    record_jobs,
    unchanged_records,
)
from erpbridge.spi.records import Change, ReadError
from erpbridge.store.match import one_of, unnest_values
from erpbridge.store.schema import attempts, dead_letters, jobs

__all__ = [
    "PARTITIONS",
    "Attempt",
    "Finished",
    "IntakeResult",
    "claim_jobs",
    "dead_letter_job",
    "dead_letter_read_errors",
    "enqueue_changes",
    "finish_jobs",
    "hold_job",
    "job_from_row",
    "last_done_stamps",
    "open_dead_letter",
    "park_job",
    "partition_of",
    "pending_dependencies",
    "release_jobs",
    "retry_job",
]

PARTITIONS = 1024
# A held job is open: a newer version of its record waits behind it unless it supersedes it.
_OPEN = (
    JobState.QUEUED.value,
    JobState.RUNNING.value,
    JobState.PARKED.value,
    JobState.HELD.value,
)
#: states a newer version of the same record makes moot (a held job is evaluated afresh).
_SUPERSEDABLE = (JobState.QUEUED.value, JobState.HELD.value)


def partition_of(flow: str, source_id: str) -> int:
    """Stable partition of a record key (crc32, not Python's salted hash)."""
    return zlib.crc32(f"{flow}\x00{source_id}".encode()) % PARTITIONS


@dataclass(frozen=True, slots=True)
class IntakeResult:
    """What one intake did: new jobs, duplicates dropped, stale versions kept unrun, and
    changes taken in as done, nothing new for the flow (engine/unchanged.py)."""

    queued: int = 0
    duplicates: int = 0
    stale: int = 0
    unchanged: int = 0

    def __add__(self, other: IntakeResult) -> IntakeResult:
        return IntakeResult(
            self.queued + other.queued,
            self.duplicates + other.duplicates,
            self.stale + other.stale,
            self.unchanged + other.unchanged,
        )

    @property
    def not_queued(self) -> int:
        """Changes read that made no job: duplicates, stale and unchanged ones."""
        return self.duplicates + self.stale + self.unchanged


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try of a job against the target, for the attempts log."""

    outcome: str
    error_class: str | None = None
    error_message: str | None = None
    target_call: Mapping[str, Any] | None = None


def _insert(conn: Connection) -> Any:
    return postgresql.insert(jobs) if conn.dialect.name == "postgresql" else sqlite.insert(jobs)


def _last_done_statement() -> sa.Select[Any]:
    """PostgreSQL's form of :func:`last_done_stamps`: each record's newest done stamp by
    one probe of the dedup index (flow, source id, …) per record, whatever the planner
    knows. Planned from statistics, ``source_id = ANY`` without them walked every done job
    of the flow for each claimed batch (3-5 ms a batch at 6,000 orders, and growing with
    the history kept)."""
    w = unnest_values("w", id=jobs.c.source_id)
    done = (
        sa.select(sa.func.max(jobs.c.source_stamp).label("stamp"))
        .where(
            jobs.c.flow == sa.bindparam("flow"),
            jobs.c.source_id == w.c.id,
            jobs.c.state == JobState.DONE.value,
        )
        .lateral("done")
    )
    return (
        sa.select(w.c.id, done.c.stamp)
        .select_from(w.join(done, sa.true()))
        .where(done.c.stamp.is_not(None))
    )


_PG_LAST_DONE = _last_done_statement()


def last_done_stamps(conn: Connection, flow: str, ids: Sequence[str]) -> dict[str, datetime]:
    """record id -> the newest source stamp of its done jobs in ``flow`` (records with
    none are left out)."""
    out: dict[str, datetime] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        if conn.dialect.name == "postgresql":
            rows = conn.execute(_PG_LAST_DONE, {"flow": flow, "w_id": list(chunk)})
        else:
            rows = conn.execute(
                sa.select(jobs.c.source_id, sa.func.max(jobs.c.source_stamp))
                .where(
                    jobs.c.flow == flow,
                    one_of(conn, jobs.c.source_id, chunk),
                    jobs.c.state == JobState.DONE.value,
                )
                .group_by(jobs.c.source_id)
            )
        for source_id, stamp in rows:
            if isinstance(stamp, datetime):
                out[str(source_id)] = stamp
    return out


def enqueue_changes(
    conn: Connection,
    flow: str,
    changes: Iterable[Change],
    trigger: str,
    now: datetime,
    asked: Collection[str] | None = None,
    content: ContentKey | None = None,
) -> IntakeResult:
    """Commit ``changes`` as jobs of ``flow`` (in the caller's transaction).

    Deduplicated on (flow, record id, version); a version older than one already done
    for the record is dropped as stale; a new version supersedes queued older ones; a
    stamp-less version that returns after another is queued again (engine/returned.py). A
    schedule, manual or forced sync queues again the versions an xref lookup with
    ``missing="skip"`` skipped (engine/skipped.py). ``asked``: the field list the records
    were read with (kept in their snapshots). ``content``: how the flow digests a
    change's content; a change the source gave whose digest is its record's last one
    written is stored done, outcome ``unchanged`` (engine/unchanged.py).
    """
    latest: dict[tuple[str, str], Change] = {}
    seen = 0
    for change in changes:
        seen += 1
        latest[(change.record_id, change.version or "")] = change
    if not latest:
        return IntakeResult()
    unique = list(latest.values())
    if trigger in RECHECK_TRIGGERS:  # a full read on purpose: map xref skips again
        free_skipped_versions(conn, flow, [(c.record_id, c.version or "") for c in unique])
    returned = returned_versions(conn, flow, unique)  # stock 10 → 5 → 10 (engine/returned.py)
    stored = {
        (c.record_id, c.version or ""): returned.get(
            (c.record_id, c.version or ""), c.version or ""
        )
        for c in unique
    }
    # Versions already queued (a poll's overlap, a stock table read whole) are dropped
    # before their snapshots are built; the insert's ON CONFLICT still guards a race.
    known = existing_versions(conn, flow, [(r, v) for (r, _), v in stored.items()])
    unique = [
        c for c in unique if (c.record_id, stored[(c.record_id, c.version or "")]) not in known
    ]
    if not unique:
        return IntakeResult(duplicates=seen)
    snapshots = [record_to_snapshot(c.record, asked) if c.record else None for c in unique]
    digests = [
        content.digest(snap) if content is not None and snap is not None else None
        for snap in snapshots
    ]
    # One query tells each record's newest job, newest done stamp and open jobs.
    history = record_jobs(conn, flow, [c.record_id for c in unique])
    # A record with two versions here is for the supersede and stale checks to sort out.
    repeated = {r for r, n in Counter(c.record_id for c in unique).items() if n > 1}
    wanted = {
        c.record_id: d
        for c, d in zip(unique, digests, strict=True)
        if d is not None and c.record_id not in repeated
    }
    same = (
        unchanged_records(conn, flow, content, wanted, history)
        if content is not None and trigger in SOURCE_TRIGGERS and wanted
        else {}
    )

    def state_of(change: Change) -> tuple[str, str | None]:
        stamp = change.stamp
        done = history[change.record_id].done_stamp if change.record_id in history else None
        if stamp and done and stamp < done:
            # A version older than one already written is kept for the record, never run.
            return JobState.SUPERSEDED.value, "stale"
        if change.record_id in same:  # nothing new for the flow: done as it is taken in
            return JobState.DONE.value, "unchanged"
        return JobState.QUEUED.value, None

    rows = []
    for c, snapshot, digest in zip(unique, snapshots, digests, strict=True):
        state, outcome = state_of(c)
        rows.append(
            {
                "flow": flow,
                "source_id": c.record_id,
                "source_version": stored[(c.record_id, c.version or "")],
                "source_stamp": c.stamp,
                "kind": c.kind.value,
                "trigger": trigger,
                "state": state,
                "outcome": outcome,
                "partition": partition_of(flow, c.record_id),
                "attempts": 0,
                "next_attempt_at": now,
                "source_snapshot": snapshot,
                "source_digest": digest,
                "target_id": same.get(c.record_id) if outcome == "unchanged" else None,
                "created_at": now,
                "updated_at": now,
            }
        )
    if conn.dialect.name in DIALECTS:
        inserted: Sequence[Any] = enqueue_jobs_json(conn, flow, trigger, rows, now)
    else:
        statement = (
            _insert(conn)
            .on_conflict_do_nothing(index_elements=["flow", "source_id", "source_version"])
            .returning(jobs.c.id, jobs.c.source_id, jobs.c.source_stamp, jobs.c.state)
        )
        inserted = conn.execute(statement, rows).all()
    fresh = [(i, s, t) for i, s, t, state in inserted if state == JobState.QUEUED.value]
    # Only a record that had a queued or held job, or got two versions now, has one to
    # supersede.
    _supersede_older(
        conn,
        flow,
        [f for f in fresh if f[1] in repeated or (f[1] in history and history[f[1]].open)],
        now,
    )
    unchanged = sum(1 for *_, state in inserted if state == JobState.DONE.value)
    return IntakeResult(
        queued=len(fresh),
        duplicates=seen - len(inserted),
        stale=len(inserted) - len(fresh) - unchanged,
        unchanged=unchanged,
    )


def open_dead_letter(
    conn: sa.Connection, flows: Sequence[str], source_id: str
) -> tuple[str, str] | None:
    """(flow, error) of an open dead letter of ``source_id`` in one of ``flows``, if any."""
    if not flows:
        return None
    row = conn.execute(
        sa.select(dead_letters.c.flow, dead_letters.c.error_message)
        .where(
            dead_letters.c.flow.in_(list(flows)),
            dead_letters.c.source_id == source_id,
            dead_letters.c.state == "open",
        )
        .order_by(dead_letters.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else (str(row[0]), str(row[1]))


def pending_dependencies(
    conn: sa.Connection, wanted: list[tuple[str, Change]]
) -> dict[str, list[Change]]:
    """The dependency syncs still needed: one per (flow, record), none if a job is open.

    None either for a record with an open dead letter in that flow: it waits for a person,
    and syncing it again would only make a second dead letter of the same failure.
    """
    by_flow: dict[str, dict[str, Change]] = defaultdict(dict)
    for flow, change in wanted:
        by_flow[flow].setdefault(change.record_id, change)
    out: dict[str, list[Change]] = {}
    for flow, changes in by_flow.items():
        open_ids = {
            str(r[0])
            for r in conn.execute(
                sa.select(jobs.c.source_id).where(
                    jobs.c.flow == flow,
                    one_of(conn, jobs.c.source_id, list(changes)),
                    jobs.c.state.in_(
                        (JobState.QUEUED.value, JobState.RUNNING.value, JobState.PARKED.value)
                    ),
                )
            )
        }
        open_ids |= {
            str(r[0])
            for r in conn.execute(
                sa.select(dead_letters.c.source_id).where(
                    dead_letters.c.flow == flow,
                    one_of(conn, dead_letters.c.source_id, list(changes)),
                    dead_letters.c.state == "open",
                )
            )
        }
        pending = [c for record_id, c in changes.items() if record_id not in open_ids]
        if pending:
            out[flow] = pending
    return out


def dead_letter_read_errors(
    conn: Connection, flow: str, errors: Sequence[ReadError], trigger: str, now: datetime
) -> int:
    """Store inputs a reader could not read (poison messages, bad lines) as dead letters.

    Each gets a job row (state ``dead``, keyed by its position, so a redelivered copy is
    not stored twice) and a dead letter with the reader's error; in the caller's
    transaction, with the page's jobs, so the page is acknowledged with them.
    """
    stored = 0
    for error in errors:
        position = error.position[:255]
        statement = (
            _insert(conn)
            .values(
                flow=flow,
                source_id=position,
                source_version="unreadable",
                kind="upsert",
                trigger=trigger,
                state=JobState.DEAD.value,
                outcome="unreadable",
                partition=partition_of(flow, position),
                attempts=0,
                next_attempt_at=now,
                source_snapshot={"position": error.position, "raw": error.error.raw},
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["flow", "source_id", "source_version"])
            .returning(jobs.c.id)
        )
        job_id = conn.execute(statement).scalar()
        if job_id is None:
            continue  # the same input was refused before
        conn.execute(
            dead_letters.insert().values(
                job_id=job_id,
                flow=flow,
                source_id=position,
                error_class="unreadable",
                error_message=str(error.error),
                error_raw=error.error.raw,
                hint="the source sent input that is not a record; fix it at the source",
                source_snapshot={"position": error.position, "raw": error.error.raw},
                state="open",
                created_at=now,
            )
        )
        stored += 1
    return stored


def _supersede_older(conn: Connection, flow: str, inserted: Sequence[Any], now: datetime) -> None:
    """Mark queued (or held) older jobs of the same records superseded.

    An older job is superseded by a newer one of the same record when the newer one's
    stamp is not older (or either has no stamp): the newer job reads the latest state.
    One indexed select finds the candidates (usually none); one update marks them.
    """
    newest: dict[str, tuple[int, datetime | None]] = {}
    for job_id, source_id, stamp in inserted:
        if source_id not in newest or job_id > newest[source_id][0]:
            newest[source_id] = (job_id, stamp)
    moot: list[int] = []
    ids = sorted(newest)
    for start in range(0, len(ids), 500):
        rows = conn.execute(
            sa.select(jobs.c.id, jobs.c.source_id, jobs.c.source_stamp).where(
                jobs.c.flow == flow,
                one_of(conn, jobs.c.source_id, ids[start : start + 500]),
                jobs.c.state.in_(_SUPERSEDABLE),
            )
        )
        for row in rows:
            new_id, new_stamp = newest[str(row.source_id)]
            stamp = row.source_stamp
            if int(row.id) < new_id and (stamp is None or new_stamp is None or stamp <= new_stamp):
                moot.append(int(row.id))
    for start in range(0, len(moot), 500):
        conn.execute(
            jobs.update()
            .where(
                one_of(conn, jobs.c.id, moot[start : start + 500]),
                jobs.c.state.in_(_SUPERSEDABLE),
            )
            .values(state=JobState.SUPERSEDED.value, updated_at=now)
        )


def _not_blocked(table: Any = jobs) -> Any:
    """No older job of the same (flow, record) is still open: order per record."""
    older = jobs.alias("older")
    return ~(
        sa.select(older.c.id)
        .where(
            older.c.flow == table.c.flow,
            older.c.source_id == table.c.source_id,
            older.c.id < table.c.id,
            older.c.state.in_(_OPEN),
        )
        .exists()
    )


def claim_jobs(
    conn: Connection,
    worker: str,
    limit: int,
    lease: timedelta,
    now: datetime,
    flows: Sequence[str] | None = None,
    *,
    stranded: bool = True,
) -> list[Job]:
    """Claim up to ``limit`` ready jobs for ``worker``, leased until ``now + lease``.

    Two statements, each walking an index in id order and stopping at ``limit``: a select
    of the few parked jobs that are due and running jobs whose lease ran out (skipped
    when ``stranded`` is false: a worker asks it once a second), then one
    ``UPDATE … WHERE id IN (queued jobs, index ``state, id``) … RETURNING`` that leases
    them together with the queued jobs and hands back their rows (the cost does not grow
    with the queue). On PostgreSQL both skip rows another worker has locked.
    """
    candidate = jobs.alias("candidate")
    scope = one_of(conn, candidate.c.flow, flows) if flows is not None else sa.true()
    overdue = (
        sa.select(candidate.c.id)
        .where(
            sa.or_(
                sa.and_(
                    candidate.c.state == JobState.PARKED.value, candidate.c.next_attempt_at <= now
                ),
                sa.and_(
                    candidate.c.state == JobState.RUNNING.value,
                    candidate.c.lease_expires_at < now,
                ),
            ),
            scope,
            _not_blocked(candidate),
        )
        .order_by(candidate.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        overdue = overdue.with_for_update(skip_locked=True)
    due = [int(row[0]) for row in conn.execute(overdue)] if stranded else []
    queued = (
        sa.select(candidate.c.id)
        .where(
            candidate.c.state == JobState.QUEUED.value,
            candidate.c.next_attempt_at <= now,
            scope,
            _not_blocked(candidate),
        )
        .order_by(candidate.c.id)
        .limit(max(0, limit - len(due)))
    )
    if conn.dialect.name == "postgresql":
        queued = queued.with_for_update(skip_locked=True)
    wanted: sa.ColumnElement[bool] = jobs.c.id.in_(queued.scalar_subquery())
    if due:
        wanted = sa.or_(wanted, one_of(conn, jobs.c.id, due))
    claimed_state = sa.or_(
        jobs.c.state.in_((JobState.QUEUED.value, JobState.PARKED.value)),
        sa.and_(jobs.c.state == JobState.RUNNING.value, jobs.c.lease_expires_at < now),
    )
    rows = conn.execute(
        jobs.update()
        .where(wanted, claimed_state)  # compare-and-set: losers of a race skip
        .values(
            state=JobState.RUNNING.value,
            lease_owner=worker,
            lease_expires_at=now + lease,
            attempts=jobs.c.attempts + 1,
            updated_at=now,
        )
        .returning(*_JOB_COLUMNS)
    ).all()
    return sorted((_job(row) for row in rows), key=lambda job: job.id)


#: the columns a :class:`Job` is made of (a claim returns only these: every datetime
#: column left out is one parse fewer per claimed job)
_JOB_COLUMNS = tuple(
    jobs.c[name]
    for name in (
        "id", "flow", "source_id", "source_version", "source_stamp", "kind", "trigger",
        "attempts", "source_snapshot", "mapped_payload", "waiting_since", "created_at",
        "held_at", "released_by",
    )
)  # fmt: skip


def job_from_row(row: Any) -> Job:
    """A :class:`Job` from a row of ``jobs`` (all columns)."""
    return _job(row)


def _job(row: Any) -> Job:
    return Job(
        id=row.id,
        flow=row.flow,
        source_id=row.source_id,
        source_version=row.source_version,
        source_stamp=row.source_stamp,
        kind=row.kind,
        trigger=row.trigger,
        attempts=row.attempts,
        source_snapshot=row.source_snapshot,
        mapped_payload=row.mapped_payload,
        waiting_since=row.waiting_since,
        created_at=row.created_at,
        held_at=row.held_at,
        released_by=row.released_by,
    )


def _log_attempts(
    conn: Connection, items: Sequence[tuple[Job, Attempt]], worker: str, now: datetime
) -> None:
    """Append attempt rows, numbered per job (1, 2, …) whatever the retry budget says.

    Parks and circuit-breaker releases do not spend the retry budget (``jobs.attempts``),
    but they are still logged, so the log's own numbering is kept here.
    """
    if not items:
        return
    if conn.dialect.name in DIALECTS:
        log_attempts_json(
            conn,
            [
                (job.id, a.outcome, a.error_class, a.error_message, a.target_call)
                for job, a in items
            ],
            worker,
            now,
        )
        return
    ids = sorted({job.id for job, _ in items})
    last: dict[int, int] = dict(
        conn.execute(
            sa.select(attempts.c.job_id, sa.func.max(attempts.c.number))
            .where(one_of(conn, attempts.c.job_id, ids))
            .group_by(attempts.c.job_id)
        ).all()
    )
    rows = []
    for job, attempt in items:
        number = int(last.get(job.id) or 0) + 1
        last[job.id] = number
        rows.append(
            {
                "job_id": job.id,
                "number": number,
                "worker": worker,
                "started_at": now,
                "finished_at": now,
                "outcome": attempt.outcome,
                "error_class": attempt.error_class,
                "error_message": attempt.error_message,
                "target_call": json_safe(attempt.target_call) if attempt.target_call else None,
            }
        )
    conn.execute(attempts.insert(), rows)


@dataclass(frozen=True, slots=True)
class Finished:
    """A job that ends well: its outcome, the target id and the mapped payload.

    ``reason`` and ``reason_class`` say why where the outcome alone does not: a skipped
    record (outcome ``filtered``) is ``when`` (the flow's ``when:`` is false) or ``xref``
    (a lookup with ``missing="skip"`` has no target) with its message. They are kept on
    the attempt (``error_class``, ``error_message``), as a park's or a hold's reason is.
    """

    job: Job
    outcome: str
    target_id: str | None = None
    payload: Mapping[str, Any] | None = None
    mapping_version: str | None = None
    call: Mapping[str, Any] | None = None
    reason: str | None = None
    reason_class: str | None = None


def finish_jobs(conn: Connection, finished: Sequence[Finished], worker: str, now: datetime) -> None:
    """Mark jobs done with their outcome and log the attempts (caller's transaction)."""
    if not finished:
        return
    if conn.dialect.name in DIALECTS:
        rows = [(f.job.id, f.outcome, f.target_id, f.payload, f.mapping_version) for f in finished]
        finish_jobs_json(conn, rows, worker, now)
    else:
        _finish_each(conn, finished, worker, now)
    _log_attempts(
        conn,
        [(f.job, Attempt(f.outcome, f.reason_class, f.reason, f.call)) for f in finished],
        worker,
        now,
    )


def _finish_each(
    conn: Connection, finished: Sequence[Finished], worker: str, now: datetime
) -> None:
    conn.execute(
        jobs.update()
        .where(jobs.c.id == sa.bindparam("b_id"), jobs.c.lease_owner == worker)
        .values(
            state=JobState.DONE.value,
            outcome=sa.bindparam("b_outcome"),
            target_id=sa.bindparam("b_target_id"),
            mapped_payload=sa.bindparam("b_payload", type_=jobs.c.mapped_payload.type),
            mapping_version=sa.bindparam("b_version"),
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
        ),
        [
            {
                "b_id": f.job.id,
                "b_outcome": f.outcome,
                "b_target_id": f.target_id,
                "b_payload": json_safe(f.payload) if f.payload is not None else None,
                "b_version": f.mapping_version,
            }
            for f in finished
        ],
    )


def retry_job(
    conn: Connection, job: Job, attempt: Attempt, at: datetime, worker: str, now: datetime
) -> None:
    """Put ``job`` back in the queue for another attempt at ``at``."""
    conn.execute(
        jobs.update()
        .where(jobs.c.id == job.id)
        .values(
            state=JobState.QUEUED.value,
            next_attempt_at=at,
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
        )
    )
    _log_attempts(conn, [(job, attempt)], worker, now)


def release_jobs(conn: Connection, job_ids: Sequence[int], at: datetime) -> None:
    """Give claimed jobs back, to be tried again at ``at``, without counting an attempt.

    Used when a connection's circuit breaker is open, so a dead system does not burn the
    retry budget of every job. (On graceful shutdown a worker finishes and commits the
    round in hand instead; after a kill, leases expire.)
    """
    if not job_ids:
        return
    conn.execute(
        jobs.update()
        .where(one_of(conn, jobs.c.id, job_ids), jobs.c.state == JobState.RUNNING.value)
        .values(
            state=JobState.QUEUED.value,
            attempts=sa.case((jobs.c.attempts > 0, jobs.c.attempts - 1), else_=0),
            lease_owner=None,
            lease_expires_at=None,
            next_attempt_at=at,
            updated_at=at,
        )
    )


def park_job(
    conn: Connection,
    job: Job,
    until: datetime,
    waiting_since: datetime,
    reason: str,
    worker: str,
    now: datetime,
) -> None:
    """Wait for a dependency: re-check at ``until``; ``waiting_since`` bounds the wait."""
    conn.execute(
        jobs.update()
        .where(jobs.c.id == job.id)
        .values(
            state=JobState.PARKED.value,
            next_attempt_at=until,
            waiting_since=waiting_since,
            attempts=jobs.c.attempts - 1,  # waiting is not a failed attempt
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
        )
    )
    _log_attempts(
        conn,
        [(job, Attempt(outcome="parked", error_class="dependency", error_message=reason))],
        worker,
        now,
    )


def hold_job(
    conn: Connection,
    job: Job,
    reason: str,
    held_since: datetime,
    recheck_at: datetime,
    snapshot: Mapping[str, Any] | None,
    worker: str,
    now: datetime,
) -> None:
    """Hold ``job`` for a person (state ``held``): not claimed until a recheck releases it.

    ``snapshot`` (the record as checked) is kept when the job had none, so a recheck
    evaluates the same version without reading it again. Holding is not a failed attempt.

    A newer version of the record taken in while this job ran (the hold flag's own write
    coming back, an edit) could not supersede a running job and waits behind it; a held
    job would keep it waiting until the recheck. So the job is held *and* superseded at
    once (``held_at`` kept, as when intake supersedes a held job): the newer version is
    checked afresh at the next claim and stays held since this one's ``held_since``.
    """
    moot = _newer_queued(conn, job)
    values: dict[str, Any] = {
        "state": JobState.SUPERSEDED.value if moot else JobState.HELD.value,
        "held_at": held_since,
        "hold_reason": reason,
        "released_by": None,
        "next_attempt_at": recheck_at,
        "attempts": sa.case((jobs.c.attempts > 0, jobs.c.attempts - 1), else_=0),
        "lease_owner": None,
        "lease_expires_at": None,
        "updated_at": now,
    }
    if job.source_snapshot is None and snapshot is not None:
        values["source_snapshot"] = json_safe(snapshot)
    conn.execute(jobs.update().where(jobs.c.id == job.id).values(values))
    _log_attempts(
        conn,
        [(job, Attempt(outcome="held", error_class="hold", error_message=reason))],
        worker,
        now,
    )


def _newer_queued(conn: Connection, job: Job) -> bool:
    """Is a newer version of ``job``'s record queued, one that would supersede it?"""
    newer = sa.select(jobs.c.id).where(
        jobs.c.flow == job.flow,
        jobs.c.source_id == job.source_id,
        jobs.c.id > job.id,
        jobs.c.state == JobState.QUEUED.value,
    )
    if job.source_stamp is not None:  # same rule as _supersede_older
        newer = newer.where(
            sa.or_(jobs.c.source_stamp.is_(None), jobs.c.source_stamp >= job.source_stamp)
        )
    return conn.execute(newer.limit(1)).first() is not None


def dead_letter_job(
    conn: Connection,
    job: Job,
    attempt: Attempt,
    *,
    error_raw: str | None,
    hint: str | None,
    snapshot: Mapping[str, Any] | None,
    payload: Mapping[str, Any] | None,
    worker: str,
    now: datetime,
) -> None:
    """Move ``job`` to the dead letters with everything needed to fix and replay it."""
    conn.execute(
        jobs.update()
        .where(jobs.c.id == job.id)
        .values(
            state=JobState.DEAD.value,
            outcome="failed",
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
        )
    )
    conn.execute(
        dead_letters.insert().values(
            job_id=job.id,
            flow=job.flow,
            source_id=job.source_id,
            error_class=attempt.error_class or "error",
            error_message=attempt.error_message or "",
            error_raw=error_raw,
            hint=hint,
            source_snapshot=json_safe(snapshot) if snapshot is not None else None,
            mapped_payload=json_safe(payload) if payload is not None else None,
            state="open",
            created_at=now,
        )
    )
    _log_attempts(conn, [(job, attempt)], worker, now)
