"""Taking changes in as jobs: the intake side of the durable queue.

Deduplicated on (flow, record id, version); a version older than one already done for
the record is stored as stale, never run; a version with nothing new for the flow is
stored done (engine/unchanged.py); a new version supersedes the queued older ones; a
stamp-less version that returns after another is queued again under a new name
(engine/returned.py). Also here: what a reader could not read, stored as dead letters,
and which dependency syncs are still needed. engine/queue.py claims the jobs and ends
them.

Every function takes an open SQLAlchemy ``Connection`` inside the caller's transaction,
so intake commits the jobs and its cursor together (DESIGN.md §6).
"""

from __future__ import annotations

import zlib
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from erpbridge.engine.jobs import JobState
from erpbridge.engine.lookups import save_record_keys
from erpbridge.engine.queue import Attempt, log_attempts
from erpbridge.engine.queue_json import DIALECTS, enqueue_jobs_json
from erpbridge.engine.returned import existing_versions, returned_versions
from erpbridge.engine.skipped import (
    RECHECK_TRIGGERS,
    WHEN_CLASS,
    WHEN_FALSE,
    free_skipped_versions,
)
from erpbridge.engine.snapshot import record_to_snapshot
from erpbridge.engine.unchanged import (
    SOURCE_TRIGGERS,
    Assessed,
    ContentKey,
    record_jobs,
    unchanged_records,
)
from erpbridge.spi.records import Change, ChangeKind, ReadError
from erpbridge.store.match import one_of, unnest_values
from erpbridge.store.schema import dead_letters, jobs

__all__ = [
    "PARTITIONS",
    "IntakeResult",
    "dead_letter_read_errors",
    "enqueue_changes",
    "last_done_stamps",
    "open_dead_letter",
    "partition_of",
    "pending_dependencies",
]

PARTITIONS = 1024
#: states a newer version of the same record makes moot (a held job is evaluated afresh).
_SUPERSEDABLE = (JobState.QUEUED.value, JobState.HELD.value)
#: a change intake knows nothing of from its snapshot (none, or no content key)
_UNKNOWN = Assessed(None, None)
#: ``attempts.worker`` of the attempt intake logs for a change ``when:`` skipped
INTAKE_WORKER = "intake"


def partition_of(flow: str, source_id: str) -> int:
    """Stable partition of a record key (crc32, not Python's salted hash)."""
    return zlib.crc32(f"{flow}\x00{source_id}".encode()) % PARTITIONS


@dataclass(frozen=True, slots=True)
class IntakeResult:
    """What one intake did: new jobs, duplicates dropped, stale versions kept unrun,
    changes taken in as done, nothing new for the flow (engine/unchanged.py), and changes
    the flow's ``when:`` skipped as they were taken in."""

    queued: int = 0
    duplicates: int = 0
    stale: int = 0
    unchanged: int = 0
    filtered: int = 0

    def __add__(self, other: IntakeResult) -> IntakeResult:
        return IntakeResult(
            self.queued + other.queued,
            self.duplicates + other.duplicates,
            self.stale + other.stale,
            self.unchanged + other.unchanged,
            self.filtered + other.filtered,
        )

    @property
    def not_queued(self) -> int:
        """Changes read that made no job: duplicates, stale and unchanged ones."""
        return self.duplicates + self.stale + self.unchanged


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
    written is stored done, outcome ``unchanged`` (engine/unchanged.py). A change whose
    snapshot holds every field the flow reads and for which the flow's ``when:`` is
    false is stored done, outcome ``filtered``, with the attempt the worker would have
    logged: it is never claimed (see :func:`_log_filtered`).
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
    assessed = [
        content.assess(snap) if content is not None and snap is not None else _UNKNOWN
        for snap in snapshots
    ]
    digests = [a.digest for a in assessed]
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

    def state_of(change: Change, passes: bool | None) -> tuple[str, str | None]:
        stamp = change.stamp
        done = history[change.record_id].done_stamp if change.record_id in history else None
        if stamp and done and stamp < done:
            # A version older than one already written is kept for the record, never run.
            return JobState.SUPERSEDED.value, "stale"
        if change.record_id in same:  # nothing new for the flow: done as it is taken in
            return JobState.DONE.value, "unchanged"
        deleted = change.kind is ChangeKind.DELETE or (change.record and change.record.deleted)
        if passes is False and not deleted:
            # the worker would skip it, on the same values (deletes go to on_delete first)
            return JobState.DONE.value, "filtered"
        return JobState.QUEUED.value, None

    rows = []
    for c, snapshot, (digest, passes) in zip(unique, snapshots, assessed, strict=True):
        state, outcome = state_of(c, passes)
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
            .returning(
                jobs.c.id, jobs.c.source_id, jobs.c.source_stamp, jobs.c.state, jobs.c.outcome
            )
        )
        inserted = conn.execute(statement, rows).all()
    fresh = [(i, s, t) for i, s, t, state, _ in inserted if state == JobState.QUEUED.value]
    filtered = [(i, s, t) for i, s, t, _, outcome in inserted if outcome == "filtered"]
    _log_filtered(conn, [i for i, *_ in filtered], now)
    if filtered and content is not None and content.key_fields:
        # the worker saves the keys of every record it loads, skipped ones too
        ended = {s for _, s, _ in filtered}
        records = [c.record for c in unique if c.record is not None and c.record_id in ended]
        save_record_keys(conn, content.owner, content.key_fields, records, now)
    # Only a record that had a queued or held job, or got two versions now, has one to
    # supersede. A change skipped by ``when:`` supersedes too: it is the record's state.
    _supersede_older(
        conn,
        flow,
        [
            f
            for f in fresh + filtered
            if f[1] in repeated or (f[1] in history and history[f[1]].open)
        ],
        now,
    )
    unchanged = sum(1 for *_, outcome in inserted if outcome == "unchanged")
    return IntakeResult(
        queued=len(fresh),
        duplicates=seen - len(inserted),
        stale=len(inserted) - len(fresh) - unchanged - len(filtered),
        unchanged=unchanged,
        filtered=len(filtered),
    )


def _log_filtered(conn: Connection, job_ids: Sequence[int], now: datetime) -> None:
    """The attempt of each job intake skipped by ``when:``: the one the worker logs for
    it (class ``when``, message ``when: is false``), so ``erpbridge jobs``, the demo's
    summary and a person see the same whichever found it."""
    skipped = Attempt("filtered", WHEN_CLASS, WHEN_FALSE)
    log_attempts(conn, [(job_id, skipped) for job_id in job_ids], INTAKE_WORKER, now)


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
