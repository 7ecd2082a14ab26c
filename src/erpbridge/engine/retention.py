"""Retention: finished jobs older than the project's ``store.retention`` are pruned.

Without it the ``jobs`` and ``attempts`` tables grow by a row per change and per try,
forever. A prune deletes jobs that *finished* (state ``done``, ``superseded`` or ``dead``)
before the cutoff (``updated_at``), with their attempts and their resolved dead letters,
and keeps every row the engine still reads (docs/engine.md, "Retention"):

- per (flow, record), the newest job (highest id), so the usual overlap re-read of the
  newest version stays a duplicate, and a change that carries nothing new for the flow
  is still recognised by its digest (engine/unchanged.py);
- per (flow, record), the newest ``done`` job by (source stamp, id): the stale check at
  intake (:func:`erpbridge.engine.unchanged.record_jobs`) and in the worker
  (:func:`erpbridge.engine.enqueue.last_done_stamps`) reads the newest done stamp, and a
  late old version must still be dropped after a prune;
- open jobs (queued, running, parked, held), and dead jobs whose dead letter is open or
  was resolved (replayed, discarded) after the cutoff;
- a superseded job that was held (``held_at``) while its record has an open job: the
  open version reads since when the record is held from it (engine/hold.py).

The audit log is never pruned (it is hash-chained; its entries name jobs by id in text
and carry their flow and record, so they stay readable and verifiable).

The walk goes through ``jobs`` in id order, :data:`BATCH` rows at a time, each batch its
own short transaction, and stops at the first batch whose first job was created after
the cutoff (ids grow with time; a job created later finished later). So a prune of
millions of rows never holds a long lock, and workers keep working meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from erpbridge.engine.jobs import JobState
from erpbridge.engine.metrics import Metrics
from erpbridge.engine.returned import read_from_source
from erpbridge.log import get_logger
from erpbridge.store.audit import append_audit
from erpbridge.store.schema import attempts, dead_letters, jobs

__all__ = ["BATCH", "FINISHED", "PruneResult", "prune_jobs"]

log = get_logger("engine.retention")

#: jobs looked at (and at most deleted) per transaction.
BATCH = 5000
#: states a job never leaves: the only ones a prune deletes.
FINISHED = (JobState.DONE.value, JobState.SUPERSEDED.value, JobState.DEAD.value)
_OPEN = (JobState.QUEUED.value, JobState.RUNNING.value, JobState.PARKED.value, JobState.HELD.value)
_CHUNK = 500  # records per lookup of the rows a prune keeps
_CACHE_LIMIT = 200_000  # records whose kept rows are remembered during one prune

Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What one prune removed (or, in a dry run, would remove)."""

    cutoff: datetime
    jobs: int = 0
    attempts: int = 0
    dead_letters: int = 0
    batches: int = 0
    dry_run: bool = False


def _chunks_by_flow(keys: Iterable[Key]) -> Iterator[tuple[str, list[str]]]:
    """(flow, up to 500 of its record ids) for ``keys``, sorted and without repeats."""
    by_flow: dict[str, list[str]] = {}
    for flow, source_id in sorted(set(keys)):
        by_flow.setdefault(flow, []).append(source_id)
    for flow, ids in by_flow.items():
        for start in range(0, len(ids), _CHUNK):
            yield flow, ids[start : start + _CHUNK]


@dataclass(slots=True)
class _Kept:
    """Per record: the newest job id, the newest done job id (by stamp, then id) and the
    newest job of a version the source gave (not a replay, recon repair or dependency
    sync: a replay's or a repair's job is newer, and the source's version must stay known
    or the next read queues it again, engine/returned.py).

    Remembered for the rest of a prune: a job taken in meanwhile can only make these
    older than the record's newest, so keeping them stays on the safe side.
    """

    newest: dict[Key, int] = field(default_factory=dict)
    anchor: dict[Key, int] = field(default_factory=dict)
    read: dict[Key, int] = field(default_factory=dict)

    def fill(self, conn: Connection, keys: Iterable[Key]) -> None:
        wanted = set(keys)
        if len(self.newest) + len(wanted) > _CACHE_LIMIT:
            self.newest.clear()
            self.anchor.clear()
            self.read.clear()
        for flow, chunk in _chunks_by_flow(k for k in wanted if k not in self.newest):
            self._fill_chunk(conn, flow, chunk)

    def _fill_chunk(self, conn: Connection, flow: str, chunk: Sequence[str]) -> None:
        of_records = sa.and_(jobs.c.flow == flow, jobs.c.source_id.in_(chunk))
        read_id = sa.case((read_from_source(), jobs.c.id), else_=None)
        for source_id, newest, read in conn.execute(
            sa.select(jobs.c.source_id, sa.func.max(jobs.c.id), sa.func.max(read_id))
            .where(of_records)
            .group_by(jobs.c.source_id)
        ):
            self.newest[(flow, str(source_id))] = int(str(newest))
            if read is not None:
                self.read[(flow, str(source_id))] = int(str(read))
        done = of_records & (jobs.c.state == JobState.DONE.value)
        stamps = (
            sa.select(jobs.c.source_id, sa.func.max(jobs.c.source_stamp).label("stamp"))
            .where(done)
            .group_by(jobs.c.source_id)
            .subquery()
        )
        same_stamp = sa.or_(
            jobs.c.source_stamp == stamps.c.stamp,
            sa.and_(stamps.c.stamp.is_(None), jobs.c.source_stamp.is_(None)),
        )
        for source_id, anchor in conn.execute(
            sa.select(jobs.c.source_id, sa.func.max(jobs.c.id))
            .join(stamps, sa.and_(jobs.c.source_id == stamps.c.source_id, same_stamp))
            .where(done)
            .group_by(jobs.c.source_id)
        ):
            self.anchor[(flow, str(source_id))] = int(str(anchor))


def _candidates(conn: Connection, low: int, high: int, cutoff: datetime) -> list[sa.Row[Any]]:
    """Finished jobs in ids ``low..high`` that ended before ``cutoff``, no dead letter kept."""
    kept_letter = (
        sa.select(dead_letters.c.id)
        .where(
            dead_letters.c.job_id == jobs.c.id,
            sa.or_(
                dead_letters.c.state == "open",
                dead_letters.c.resolved_at.is_(None),
                dead_letters.c.resolved_at >= cutoff,
            ),
        )
        .exists()
    )
    return list(
        conn.execute(
            sa.select(jobs.c.id, jobs.c.flow, jobs.c.source_id, jobs.c.state, jobs.c.held_at).where(
                jobs.c.id.between(low, high),
                jobs.c.state.in_(FINISHED),
                jobs.c.updated_at < cutoff,
                ~kept_letter,
            )
        )
    )


def _open_records(conn: Connection, keys: Iterable[Key]) -> set[Key]:
    """Which of ``keys`` have an open job (queued, running, parked, held)."""
    out: set[Key] = set()
    for flow, chunk in _chunks_by_flow(keys):
        out |= {
            (flow, str(s))
            for (s,) in conn.execute(
                sa.select(jobs.c.source_id)
                .where(
                    jobs.c.flow == flow,
                    jobs.c.source_id.in_(chunk),
                    jobs.c.state.in_(_OPEN),
                )
                .distinct()
            )
        }
    return out


def _prunable(conn: Connection, low: int, high: int, cutoff: datetime, kept: _Kept) -> list[int]:
    rows = _candidates(conn, low, high, cutoff)
    if not rows:
        return []
    kept.fill(conn, ((r.flow, r.source_id) for r in rows))
    was_held = {(r.flow, r.source_id) for r in rows if r.held_at is not None}
    held_open = _open_records(conn, was_held) if was_held else set()
    out = []
    for row in rows:
        key = (row.flow, row.source_id)
        if kept.newest.get(key, row.id) <= row.id:
            continue  # the record's newest job (or a record the cache forgot: kept)
        if kept.read.get(key) == row.id:
            continue  # the newest version the source gave (a replay's came from it)
        if row.state == JobState.DONE.value and kept.anchor.get(key, row.id) == row.id:
            continue  # its newest done version: the stale check reads it
        if key in held_open and row.held_at is not None:
            continue  # the open version reads since when the record is held
        out.append(int(row.id))
    return out


def _count(conn: Connection, column: sa.Column[Any], ids: list[int]) -> int:
    return int(conn.execute(sa.select(sa.func.count()).where(column.in_(ids))).scalar_one())


def _delete(conn: Connection, ids: list[int]) -> tuple[int, int, int]:
    """Delete jobs ``ids`` with their attempts and dead letters; (jobs, attempts, letters)."""
    removed_attempts = conn.execute(attempts.delete().where(attempts.c.job_id.in_(ids))).rowcount
    removed_letters = conn.execute(
        dead_letters.delete().where(dead_letters.c.job_id.in_(ids))
    ).rowcount
    removed_jobs = conn.execute(
        jobs.delete().where(jobs.c.id.in_(ids), jobs.c.state.in_(FINISHED))
    ).rowcount
    return int(removed_jobs), int(removed_attempts), int(removed_letters)


def _transaction(store: sa.Engine, read_only: bool) -> AbstractContextManager[Connection]:
    return store.connect() if read_only else store.begin()


def prune_jobs(
    store: sa.Engine,
    *,
    older_than: timedelta,
    now: datetime,
    dry_run: bool = False,
    batch: int = BATCH,
    metrics: Metrics | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress: Callable[[PruneResult], None] | None = None,
    actor: str = "retention",
) -> PruneResult:
    """Delete jobs that finished more than ``older_than`` before ``now`` (see the module).

    ``dry_run`` deletes nothing and counts what would go (the same numbers, unless the
    store changes meanwhile). Each batch of ``batch`` jobs is its own transaction;
    ``should_stop`` is asked before each (the hub's shutdown), what was pruned stays pruned;
    ``progress`` gets the running totals after each batch that removed anything.
    A prune that removed anything is recorded in the audit log (``jobs.prune`` by ``actor``,
    with the cutoff and the counts).

    Raises:
        ValueError: ``older_than`` is not positive or ``batch`` is below 1.
    """
    if older_than <= timedelta(0):
        raise ValueError("a prune needs a positive age (older_than)")
    if batch < 1:
        raise ValueError("batch must be at least 1")
    cutoff = now - older_than
    started = time.monotonic()
    kept = _Kept()
    totals = (0, 0, 0)
    batches = 0
    last_id = 0
    while should_stop is None or not should_stop():
        with _transaction(store, dry_run) as conn:
            window = conn.execute(
                sa.select(jobs.c.id, jobs.c.created_at)
                .where(jobs.c.id > last_id)
                .order_by(jobs.c.id)
                .limit(batch)
            ).all()
            if not window or window[0].created_at >= cutoff:
                break
            last_id = int(window[-1].id)
            ids = _prunable(conn, int(window[0].id), last_id, cutoff, kept)
            if not ids:
                continue
            batches += 1
            if dry_run:
                counted = (
                    len(ids),
                    _count(conn, attempts.c.job_id, ids),
                    _count(conn, dead_letters.c.job_id, ids),
                )
            else:
                counted = _delete(conn, ids)
        totals = (totals[0] + counted[0], totals[1] + counted[1], totals[2] + counted[2])
        if progress is not None:
            progress(PruneResult(cutoff, *totals, batches=batches, dry_run=dry_run))
    result = PruneResult(
        cutoff,
        jobs=totals[0],
        attempts=totals[1],
        dead_letters=totals[2],
        batches=batches,
        dry_run=dry_run,
    )
    if not dry_run and any(totals):
        with store.begin() as conn:
            append_audit(
                conn,
                actor,
                "jobs.prune",
                None,
                {
                    "cutoff": cutoff.isoformat(),
                    "jobs": result.jobs,
                    "attempts": result.attempts,
                    "dead_letters": result.dead_letters,
                },
                now,
            )
    if metrics is not None and not dry_run:
        for table, count in zip(("jobs", "attempts", "dead_letters"), totals, strict=True):
            metrics.pruned.labels(table).inc(count)
    log.info(
        "retention.dry_run" if dry_run else "retention.pruned",
        cutoff=cutoff.isoformat(),
        jobs=result.jobs,
        attempts=result.attempts,
        dead_letters=result.dead_letters,
        batches=batches,
        duration_s=round(time.monotonic() - started, 3),
    )
    return result
