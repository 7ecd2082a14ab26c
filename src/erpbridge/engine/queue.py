"""The durable job queue on the store: claim, finish, retry, park, hold, dead letter.

Every function takes an open SQLAlchemy ``Connection`` inside the caller's transaction,
so a worker can commit job state, the attempt, the xref and the echo hash together
(DESIGN.md §6). Jobs are taken in by engine/enqueue.py.

Order per record: a job is claimable only when no older job of the same (flow, record)
is still queued, running or parked. On PostgreSQL claims use ``FOR UPDATE SKIP LOCKED``
so many workers share the queue; on SQLite a compare-and-set update does the same for
the one process that runs everything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from erpbridge.engine.jobs import Job, JobState
from erpbridge.engine.queue_json import DIALECTS, finish_jobs_json, log_attempts_json
from erpbridge.engine.snapshot import json_safe
from erpbridge.store.match import one_of
from erpbridge.store.schema import attempts, dead_letters, jobs

__all__ = [
    "Attempt",
    "Finished",
    "claim_jobs",
    "dead_letter_job",
    "finish_jobs",
    "hold_job",
    "job_from_row",
    "log_attempts",
    "park_job",
    "release_jobs",
    "retry_job",
]

# A held job is open: a newer version of its record waits behind it unless it supersedes it.
_OPEN = (
    JobState.QUEUED.value,
    JobState.RUNNING.value,
    JobState.PARKED.value,
    JobState.HELD.value,
)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try of a job against the target, for the attempts log."""

    outcome: str
    error_class: str | None = None
    error_message: str | None = None
    target_call: Mapping[str, Any] | None = None


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

    Each state is read by walking the ``(state, id)`` index in id order up to ``limit``:
    the parked jobs that are due and the running jobs whose lease ran out (skipped when
    ``stranded`` is false: a worker asks once a second), then one
    ``UPDATE … WHERE id IN (queued jobs in id order) … RETURNING`` that leases them
    together with the queued jobs and hands back their rows (the cost does not grow with
    the queue or the table). On PostgreSQL the reads skip rows another worker has locked.
    """
    candidate = jobs.alias("candidate")
    postgresql = conn.dialect.name == "postgresql"
    scope = one_of(conn, candidate.c.flow, flows) if flows is not None else sa.true()

    def oldest(state: JobState, ready: sa.ColumnElement[bool], count: int) -> Any:
        query = (
            sa.select(candidate.c.id)
            .where(
                candidate.c.state == state.value,
                ready,
                scope,
                _not_blocked(candidate),
            )
            .order_by(candidate.c.id)
            .limit(count)
        )
        return query.with_for_update(skip_locked=True) if postgresql else query

    if postgresql:
        conn.execute(_NO_BITMAP)
    due: list[int] = []
    if stranded:
        for overdue in (
            oldest(JobState.PARKED, candidate.c.next_attempt_at <= now, limit),
            oldest(JobState.RUNNING, candidate.c.lease_expires_at < now, limit),
        ):
            due.extend(int(row[0]) for row in conn.execute(overdue))
        due = sorted(due)[:limit]
    queued = oldest(JobState.QUEUED, candidate.c.next_attempt_at <= now, max(0, limit - len(due)))
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
    if postgresql:
        conn.execute(_BITMAP_AGAIN)
    return sorted((_job(row) for row in rows), key=lambda job: job.id)


#: A claim walks the ``(state, id)`` index in id order and stops at its limit. Without
#: statistics (a new store, or autovacuum off or not yet come) PostgreSQL planned it as a
#: bitmap scan, ANDed with the flows' part of the unique index, which reads every entry:
#: also those the jobs left behind as they moved on (a state change is a new index entry,
#: the old one dead until VACUUM, and only a plain index scan marks dead entries so later
#: scans skip them). The claim's cost then grew with every job ever taken in (at 20,000
#: orders a claim of 500 read 40,000 entries of ``queued`` and 90,000 of the flows). So
#: bitmap scans are off for the claim's statements, and each state is its own walk (an
#: OR of two states cannot be one walk in order).
_NO_BITMAP = sa.text("SET LOCAL enable_bitmapscan = off")
_BITMAP_AGAIN = sa.text("SET LOCAL enable_bitmapscan TO DEFAULT")


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


def log_attempts(
    conn: Connection, items: Sequence[tuple[int, Attempt]], worker: str, now: datetime
) -> None:
    """Append attempt rows, (job id, attempt), numbered per job (1, 2, …) whatever the
    retry budget says.

    Parks and circuit-breaker releases do not spend the retry budget (``jobs.attempts``),
    but they are still logged, so the log's own numbering is kept here.
    """
    if not items:
        return
    if conn.dialect.name in DIALECTS:
        log_attempts_json(
            conn,
            [
                (job_id, a.outcome, a.error_class, a.error_message, a.target_call)
                for job_id, a in items
            ],
            worker,
            now,
        )
        return
    ids = sorted({job_id for job_id, _ in items})
    last: dict[int, int] = dict(
        conn.execute(
            sa.select(attempts.c.job_id, sa.func.max(attempts.c.number))
            .where(one_of(conn, attempts.c.job_id, ids))
            .group_by(attempts.c.job_id)
        ).all()
    )
    rows = []
    for job_id, attempt in items:
        number = int(last.get(job_id) or 0) + 1
        last[job_id] = number
        rows.append(
            {
                "job_id": job_id,
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
    log_attempts(
        conn,
        [(f.job.id, Attempt(f.outcome, f.reason_class, f.reason, f.call)) for f in finished],
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
    log_attempts(conn, [(job.id, attempt)], worker, now)


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
    log_attempts(
        conn,
        [(job.id, Attempt(outcome="parked", error_class="dependency", error_message=reason))],
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
    log_attempts(
        conn,
        [(job.id, Attempt(outcome="held", error_class="hold", error_message=reason))],
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
    log_attempts(conn, [(job.id, attempt)], worker, now)
