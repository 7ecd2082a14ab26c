"""Intake: changes from any trigger become committed jobs; only then is the trigger acknowledged.

- :func:`intake_changes` commits one batch of changes for the flows they concern, in one
  transaction (a webhook answers 2xx after it returns).
- :func:`poll_flow` reads a flow's source from its cursor page by page; each page's jobs
  and the cursor after them are committed in the same transaction, so a crash between
  pages re-reads at most one page (deduplicated) and never skips one.
- :func:`sync_flow` is the manual trigger: chosen ids, a start time, or everything.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from erpbridge.engine.clock import Clock
from erpbridge.engine.enqueue import IntakeResult, dead_letter_read_errors, enqueue_changes
from erpbridge.engine.jobs import JobState, Trigger
from erpbridge.engine.metrics import Metrics
from erpbridge.engine.runtime import Runtime
from erpbridge.engine.skipped import WHEN_CLASS
from erpbridge.engine.source_fields import fields_kwargs
from erpbridge.engine.unchanged import ContentKey
from erpbridge.spi.records import Change, Cursor
from erpbridge.store.schema import cursors, runs

__all__ = ["intake_changes", "load_cursor", "poll_flow", "sync_flow"]


def load_cursor(conn: sa.Connection, flow: str) -> Cursor | None:
    """The flow's stored cursor, or None before its first poll."""
    text = conn.execute(sa.select(cursors.c.cursor).where(cursors.c.flow == flow)).scalar()
    return Cursor.from_json(text) if text else None


def _save_cursor(conn: sa.Connection, flow: str, cursor: Cursor, now: datetime) -> None:
    updated = conn.execute(
        cursors.update()
        .where(cursors.c.flow == flow)
        .values(cursor=cursor.to_json(), updated_at=now)
    )
    if updated.rowcount == 0:
        conn.execute(cursors.insert().values(flow=flow, cursor=cursor.to_json(), updated_at=now))


def _record_run(
    conn: sa.Connection,
    flow: str,
    trigger: str,
    started: datetime,
    finished: datetime,
    read: int,
    result: IntakeResult,
    error: str | None = None,
) -> None:
    conn.execute(
        runs.insert().values(
            flow=flow,
            trigger=trigger,
            started_at=started,
            finished_at=finished,
            read=read,
            queued=result.queued,
            duplicates=result.not_queued,
            filtered=result.filtered,
            error=error,
        )
    )


def _count(metrics: Metrics, flow: str, trigger: str, result: IntakeResult) -> None:
    metrics.intake.labels(flow, trigger, "queued").inc(result.queued)
    metrics.intake.labels(flow, trigger, "duplicate").inc(result.duplicates + result.stale)
    if result.unchanged:
        metrics.intake.labels(flow, trigger, "unchanged").inc(result.unchanged)
    if result.filtered:  # skipped by when: as they were taken in, never claimed
        metrics.intake.labels(flow, trigger, "filtered").inc(result.filtered)
        # ended jobs, counted as the worker counted them before intake ended them
        metrics.jobs.labels(flow, JobState.DONE.value).inc(result.filtered)
        metrics.skipped.labels(flow, WHEN_CLASS).inc(result.filtered)


def intake_changes(
    store: sa.Engine,
    flows: Sequence[str],
    changes: Sequence[Change],
    trigger: Trigger,
    clock: Clock,
    metrics: Metrics | None = None,
    content: Mapping[str, ContentKey | None] | None = None,
) -> IntakeResult:
    """Commit ``changes`` as jobs of each flow in ``flows``, all in one transaction.

    ``content``: flow -> how it digests a change's content (engine/unchanged.py).
    """
    now = clock.now()
    started = clock.monotonic()
    total = IntakeResult()
    with store.begin() as conn:
        for flow in flows:
            key = (content or {}).get(flow)
            result = enqueue_changes(conn, flow, changes, trigger.value, now, content=key)
            total += result
            if metrics is not None:
                _count(metrics, flow, trigger.value, result)
    if metrics is not None:
        metrics.intake_latency.labels(trigger.value).observe(clock.monotonic() - started)
    return total


async def poll_flow(
    store: sa.Engine,
    runtime: Runtime,
    flow: str,
    clock: Clock,
    metrics: Metrics | None = None,
    *,
    max_pages: int | None = None,
) -> IntakeResult:
    """Read the flow's source from its cursor and queue what changed.

    Raises:
        ConnectorError: the source failed; pages already committed stay committed, and
            the cursor stands after the last committed page.
    """
    spec = runtime.project.spec.flows[flow]
    source = runtime.connector(spec.source.connection)
    guard = runtime.guard(spec.source.connection)
    started = clock.now()
    with store.connect() as conn:
        cursor = load_cursor(conn, flow)
    if cursor is not None and cursor.overlap != spec.source.trigger.overlap:
        cursor = Cursor(
            stamp=cursor.stamp, last_id=cursor.last_id, overlap=spec.source.trigger.overlap
        )
    fields = fields_kwargs(source.read_changes, runtime.source_fields(flow))
    pages = source.read_changes(spec.source.object, cursor, spec.source.page_size, **fields)
    iterator = aiter(pages)
    read_with = _Read(fields.get("fields"), max_pages, runtime.content_key(flow))
    try:
        total, read = await _poll_pages(store, flow, iterator, guard, clock, metrics, read_with)
    finally:
        # A reader holding an unacknowledged page (a broker) gives it back now, not at GC.
        closer = getattr(iterator, "aclose", None)
        if closer is not None:
            await closer()
    with store.begin() as conn:
        _record_run(conn, flow, Trigger.POLL.value, started, clock.now(), read, total)
    return total


@dataclass(frozen=True, slots=True)
class _Read:
    """How a poll reads: the field list asked (kept in snapshots), at most so many pages,
    and how its flow digests a change's content (engine/unchanged.py)."""

    asked: Collection[str] | None
    max_pages: int | None
    content: ContentKey | None = None


async def _poll_pages(
    store: sa.Engine,
    flow: str,
    iterator: Any,
    guard: Any,
    clock: Clock,
    metrics: Metrics | None,
    read_with: _Read,
) -> tuple[IntakeResult, int]:
    total = IntakeResult()
    read = 0
    count = 0
    max_pages = read_with.max_pages
    while max_pages is None or count < max_pages:
        try:
            page = await guard.call(lambda: anext(iterator))
        except StopAsyncIteration:
            break
        count += 1
        read += len(page.records)
        now = clock.now()
        with store.begin() as conn:
            changes = [Change.of(r) for r in page.records]
            result = enqueue_changes(
                conn, flow, changes, Trigger.POLL.value, now, read_with.asked, read_with.content
            )
            dead_letter_read_errors(conn, flow, page.errors, Trigger.POLL.value, now)
            if page.cursor is not None:
                _save_cursor(conn, flow, page.cursor, now)
        total += result
        if metrics is not None:
            _count(metrics, flow, Trigger.POLL.value, result)
            if page.cursor is not None:
                metrics.cursor_lag.labels(flow).set(
                    max(0.0, (now - page.cursor.stamp).total_seconds())
                )
    return total, read


async def sync_flow(
    store: sa.Engine,
    runtime: Runtime,
    flow: str,
    clock: Clock,
    *,
    ids: Sequence[str] | None = None,
    since: datetime | None = None,
    trigger: Trigger = Trigger.MANUAL,
) -> IntakeResult:
    """Queue records of the flow's source: these ``ids``, or changed ``since``, or all.

    The stored poll cursor is neither read nor moved. Versions are kept, so records
    already synced at that version are deduplicated; use ``erpbridge dlq replay`` to
    force one again.
    """
    spec = runtime.project.spec.flows[flow]
    source = runtime.connector(spec.source.connection)
    guard = runtime.guard(spec.source.connection)
    started = clock.now()
    total = IntakeResult()
    read = 0
    wanted = runtime.source_fields(flow)
    content = runtime.content_key(flow)  # digests kept; a sync itself drops nothing
    if ids is not None:
        fields = fields_kwargs(source.get, wanted)
        records = await guard.call(lambda: source.get(spec.source.object, list(ids), **fields))
        read = len(records)
        with store.begin() as conn:
            changes = [Change.of(r) for r in records]
            total = enqueue_changes(
                conn, flow, changes, trigger.value, clock.now(), fields.get("fields"), content
            )
    else:
        cursor = (
            Cursor(stamp=since, last_id="", overlap=spec.source.trigger.overlap) if since else None
        )
        fields = fields_kwargs(source.read_changes, wanted)
        iterator = aiter(
            source.read_changes(spec.source.object, cursor, spec.source.page_size, **fields)
        )
        while True:
            try:
                page = await guard.call(lambda: anext(iterator))
            except StopAsyncIteration:
                break
            read += len(page.records)
            with store.begin() as conn:
                changes = [Change.of(r) for r in page.records]
                asked = fields.get("fields")
                total += enqueue_changes(
                    conn, flow, changes, trigger.value, clock.now(), asked, content
                )
                dead_letter_read_errors(conn, flow, page.errors, trigger.value, clock.now())
    with store.begin() as conn:
        _record_run(conn, flow, trigger.value, started, clock.now(), read, total)
    return total
