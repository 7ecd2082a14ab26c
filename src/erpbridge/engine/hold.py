"""Holds: a check before a flow writes, and the jobs it keeps for a person (credit hold).

A flow with ``hold:`` screens each job after its ``when:`` filter and before mapping
(docs/engine.md, "Holds"). The check reads the source record and ``related`` records
(one ``get()`` per connection and object per worker round) and evaluates ``hold.when``:

- true: the job is *held* (state ``held``, with its reason and since when); the flag is
  written onto the record (``flag.set``) unless the record already shows it;
- false, or ``release_when`` true (approval in the source system), or released by a
  person: the job goes on to be mapped and written; a record that was held before gets
  ``flag.clear`` first (a failure there retries the job like any transient error);
- a related record that is missing, an empty related id, or an expression that cannot
  be evaluated holds the job with that reason (the safe side: a person decides).

Held jobs are re-evaluated every ``recheck`` by :func:`erpbridge.engine.hold_recheck.
recheck_held` (the scheduler of ``erpbridge run``/``serve``, and ``erpbridge sync <flow>
--recheck``): those that pass are queued again and the worker screens them once more.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from erpbridge.engine.clock import Clock
from erpbridge.engine.flow import FlowPlan
from erpbridge.engine.hold_plan import HoldPlan
from erpbridge.engine.jobs import Job, JobState
from erpbridge.engine.metrics import Metrics
from erpbridge.engine.outcome import BatchOutcome
from erpbridge.engine.queue import hold_job
from erpbridge.engine.runtime import Runtime
from erpbridge.engine.snapshot import record_to_snapshot
from erpbridge.engine.xref import lookup_xrefs
from erpbridge.log import get_logger
from erpbridge.mapping.errors import MappingError
from erpbridge.mapping.operators import equals
from erpbridge.spi.errors import (
    ConnectorError,
    ErpBridgeError,
    RateLimitedError,
    TransientError,
)
from erpbridge.spi.records import Record, WriteMode, WriteOp, WriteOutcome
from erpbridge.store.match import one_of
from erpbridge.store.schema import jobs

__all__ = ["Verdict", "commit_holds", "held_before", "judge", "screen", "write_flags"]

log = get_logger("engine.hold")

#: flag writes per call: within what the batch APIs of the CRMs take (100 to 200 records).
FLAG_CHUNK = 100
#: tries of a flag write the system refused for now (rate limit, 5xx), and the longest
#: pause between them: a flag is best effort (the recheck writes it again), and it is
#: written inside a worker's round
FLAG_ATTEMPTS = 3
FLAG_MAX_PAUSE_S = 5.0

Scope = dict[str, Any]
Pair = tuple[Job, Record]


class WorkerParts(Protocol):
    """What :func:`screen` uses of the worker."""

    store: sa.Engine
    runtime: Runtime
    clock: Clock
    metrics: Metrics


@dataclass(slots=True)
class Verdict:
    """What the check decided for one job: held (with its reason) or let through (by what)."""

    held: bool
    reason: str = ""
    by: str = "check"  # approval | check
    scope: Scope = field(default_factory=dict)


def _scope(record: Record) -> Scope:
    return {"source": dict(record.fields), "related": {}, "hold": {"reason": None}}


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _same(a: object, b: object) -> bool:
    return (_blank(a) and _blank(b)) or equals(a, b)


async def _fetch_related(
    runtime: Runtime, hold: HoldPlan, pending: dict[int, Scope], verdicts: dict[int, Verdict]
) -> dict[int, ErpBridgeError]:
    """Fill ``scope["related"]``; hold jobs whose related id is empty or whose record is gone."""
    wanted: dict[tuple[str, str, str | None], set[str]] = {}
    ids_of: dict[tuple[int, str], str] = {}
    for job_id, scope in pending.items():
        for rel in hold.related:
            try:
                value = rel.id.evaluate(scope)
            except MappingError as exc:
                verdicts[job_id] = Verdict(True, f"cannot check: {exc}", scope=scope)
                break
            if _blank(value):
                verdicts[job_id] = Verdict(
                    True, f"cannot check: no {rel.name} ({rel.id.text} is empty)", scope=scope
                )
                break
            ids_of[(job_id, rel.name)] = str(value)
            wanted.setdefault((rel.connection, rel.object, rel.key), set()).add(str(value))
    found: dict[tuple[str, str, str | None], dict[str, Mapping[str, object]]] = {}
    failed: dict[tuple[str, str, str | None], ErpBridgeError] = {}
    for (connection, obj, key), ids in wanted.items():
        connector = runtime.connector(connection)
        read = (
            functools.partial(connector.find, obj, key, sorted(ids))
            if key
            else functools.partial(connector.get, obj, sorted(ids))
        )
        try:
            records = await runtime.guard(connection).call(read)
        except ConnectorError as exc:
            failed[(connection, obj, key)] = exc
            continue
        found[(connection, obj, key)] = {
            (str(r.fields.get(key)) if key else r.id): r.fields for r in records
        }
    errors: dict[int, ErpBridgeError] = {}
    for job_id, scope in pending.items():
        if job_id in verdicts:
            continue
        for rel in hold.related:
            group = (rel.connection, rel.object, rel.key)
            if group in failed:
                errors[job_id] = failed[group]
                break
            record_id = ids_of[(job_id, rel.name)]
            fields = found[group].get(record_id)
            if fields is None:
                by = f" by {rel.key}" if rel.key else ""
                verdicts[job_id] = Verdict(
                    True,
                    f"cannot check: {rel.name} {record_id!r} not found in "
                    f"{rel.connection}:{rel.object}{by}",
                    scope=scope,
                )
                break
            scope["related"][rel.name] = dict(fields)
    return errors


def _approved(hold: HoldPlan, scope: Scope) -> bool:
    """``release_when`` on the record; one that cannot be read (no such field) is no approval."""
    assert hold.release_when is not None  # noqa: S101 - the caller checks
    try:
        return bool(hold.release_when.evaluate(scope))
    except MappingError as exc:
        log.debug("hold.release_when_unreadable", error=str(exc))
        return False


async def judge(
    runtime: Runtime, hold: HoldPlan, pairs: Sequence[Pair]
) -> tuple[dict[int, Verdict], dict[int, ErpBridgeError]]:
    """Evaluate the hold of each (job, record): verdicts, and jobs whose reads failed."""
    verdicts: dict[int, Verdict] = {}
    pending: dict[int, Scope] = {}
    for job, record in pairs:
        scope = _scope(record)
        if hold.release_when is not None and _approved(hold, scope):
            verdicts[job.id] = Verdict(False, by="approval", scope=scope)
            continue
        pending[job.id] = scope
    errors = await _fetch_related(runtime, hold, pending, verdicts)
    for job_id, scope in pending.items():
        if job_id in verdicts or job_id in errors:
            continue
        try:
            over = bool(hold.when.evaluate(scope))
        except MappingError as exc:
            verdicts[job_id] = Verdict(True, f"cannot check: {exc}", scope=scope)
            continue
        if not over:
            verdicts[job_id] = Verdict(False, scope=scope)
            continue
        reason = f"held: {hold.when.text}"
        if hold.reason is not None:
            try:
                reason = str(hold.reason.evaluate(scope))
            except MappingError as exc:
                reason = f"held: {hold.when.text} (the reason failed: {exc})"
        verdicts[job_id] = Verdict(True, reason, scope=scope)
    for verdict in verdicts.values():
        verdict.scope["hold"] = {"reason": verdict.reason or None}
    return verdicts, errors


async def write_flags(
    runtime: Runtime,
    hold: HoldPlan,
    items: Sequence[tuple[Job, Record, Scope]],
    which: str,
    *,
    always: frozenset[int] = frozenset(),
) -> dict[int, ErpBridgeError]:
    """Write ``flag.set`` or ``flag.clear`` onto each item's record; errors by job id.

    A record that already shows the wanted values (the flag on the source record itself)
    is not written, so the flag's own change coming back as a new version stops there;
    except jobs in ``always``, whose record may have changed since their snapshot (a job
    that was held itself: the flag was set after the version it holds).
    """
    flag = hold.flag
    fields = () if flag is None else (flag.set if which == "set" else flag.clear)
    if flag is None or not fields:
        return {}
    errors: dict[int, ErpBridgeError] = {}
    ops: list[tuple[int, WriteOp]] = []
    for job, record, scope in items:
        try:
            payload = {name: expr.evaluate(scope) for name, expr in fields}
            target = str(flag.id.evaluate(scope)) if flag.id is not None else record.id
        except MappingError as exc:
            errors[job.id] = exc
            continue
        shown = all(_same(record.fields.get(k), v) for k, v in payload.items())
        if flag.on_source and shown and job.id not in always:
            continue
        ops.append((job.id, WriteOp(WriteMode.UPDATE, payload, target_id=target, ref=str(job.id))))
    for attempt in range(FLAG_ATTEMPTS):
        if attempt:
            await asyncio.sleep(_flag_pause(attempt, errors, ops))
        retried = {job_id for job_id, _ in ops}
        errors = {k: v for k, v in errors.items() if k not in retried}
        await _write_flag_ops(runtime, flag.connection, flag.object, ops, errors)
        # Only what the system asked to have again later (a rate limit, a 5xx) is retried.
        ops = [(j, op) for j, op in ops if isinstance(errors.get(j), TransientError)]
        if not ops:
            break
    return errors


async def _write_flag_ops(
    runtime: Runtime,
    connection: str,
    object: str,
    ops: Sequence[tuple[int, WriteOp]],
    errors: dict[int, ErpBridgeError],
) -> None:
    """Write ``ops`` in chunks through the connection's guard; failures into ``errors``."""
    connector = runtime.connector(connection)
    guard = runtime.guard(connection)
    for start in range(0, len(ops), FLAG_CHUNK):
        chunk = ops[start : start + FLAG_CHUNK]
        write = functools.partial(connector.write, object, [op for _, op in chunk])
        try:
            results = await guard.call(write)
        except ConnectorError as exc:
            errors.update({job_id: exc for job_id, _ in chunk})
            continue
        for (job_id, _), result in zip(chunk, results, strict=False):
            if result.outcome is WriteOutcome.FAILED and result.error is not None:
                errors[job_id] = result.error


def _flag_pause(
    attempt: int, errors: Mapping[int, ErpBridgeError], ops: Sequence[tuple[int, WriteOp]]
) -> float:
    """Seconds before another try: the system's own hint when it gave one, else 0.5 s,
    1 s, … (bounded: flags are written inside a worker's round)."""
    hints: list[float] = [
        float(e.retry_after_s)
        for j, _ in ops
        if isinstance(e := errors.get(j), RateLimitedError) and e.retry_after_s is not None
    ]
    return min(max([0.5 * 2.0 ** (attempt - 1), *hints]), FLAG_MAX_PAUSE_S)


def held_before(conn: Connection, flow: str, ids: Sequence[str]) -> dict[str, datetime]:
    """Since when each record was held, from its earlier versions a newer one superseded."""
    out: dict[str, datetime] = {}
    for start in range(0, len(ids), 500):
        rows = conn.execute(
            sa.select(jobs.c.source_id, sa.func.min(jobs.c.held_at))
            .where(
                jobs.c.flow == flow,
                one_of(conn, jobs.c.source_id, ids[start : start + 500]),
                jobs.c.held_at.is_not(None),
                jobs.c.state == JobState.SUPERSEDED.value,
            )
            .group_by(jobs.c.source_id)
        )
        out.update({str(s): at for s, at in rows if isinstance(at, datetime)})
    return out


async def screen(
    parts: WorkerParts,
    plan: FlowPlan,
    accepted: list[Pair],
    batch: BatchOutcome,
    fail: Callable[[Job, ErpBridgeError], None],
) -> list[Pair]:
    """The jobs that go on to be mapped and written; the rest are held or failed in ``batch``."""
    hold = plan.hold
    if hold is None or not accepted:
        return accepted
    ids = sorted({record.id for _, record in accepted})
    with parts.store.connect() as conn:
        written = lookup_xrefs(conn, plan.xref_key, ids) if hold.applies_to == "new" else {}
        before = held_before(conn, plan.name, ids)
    through: list[Pair] = []
    to_check: list[Pair] = []
    for job, record in accepted:
        if job.waiting_since is not None:
            through.append((job, record))  # passed before, then parked on a dependency
        elif record.id in written and job.released_by is None and job.held_at is None:
            through.append((job, record))  # already in the target: updates are not held
        else:
            to_check.append((job, record))
    person = [(j, r) for j, r in to_check if j.released_by is not None]
    verdicts, errors = await judge(
        parts.runtime, hold, [(j, r) for j, r in to_check if j.released_by is None]
    )
    for job, record in person:
        verdicts[job.id] = Verdict(False, by="person", scope=_scope(record))
    for job, _ in to_check:
        if job.id in errors:
            fail(job, errors[job.id])
    checked = [(j, r) for j, r in to_check if j.id in verdicts]
    held = [(j, r, verdicts[j.id]) for j, r in checked if verdicts[j.id].held]
    passed = [(j, r, verdicts[j.id]) for j, r in checked if not verdicts[j.id].held]
    await _hold(parts, plan, hold, held, before, batch)
    return through + await _let_through(parts, plan, hold, passed, before, fail)


async def _hold(
    parts: WorkerParts,
    plan: FlowPlan,
    hold: HoldPlan,
    held: list[tuple[Job, Record, Verdict]],
    before: Mapping[str, datetime],
    batch: BatchOutcome,
) -> None:
    """Flag the records and put the jobs in ``batch.held`` (committed with the round)."""
    if not held:
        return
    now = parts.clock.now()
    flag_errors = await write_flags(
        parts.runtime, hold, [(j, r, v.scope) for j, r, v in held], "set"
    )
    recheck_at = now + timedelta(seconds=hold.recheck_s)
    for job, record, verdict in held:
        since = job.held_at or before.get(record.id)
        if since is None:
            parts.metrics.holds.labels(plan.name, "held", "").inc()
        if job.id in flag_errors:
            log.warning(
                "hold.flag_failed",
                flow=plan.name,
                job_id=job.id,
                record_id=record.id,
                error=str(flag_errors[job.id]),
            )
        snapshot = record_to_snapshot(record, plan.source_fields)
        batch.held.append((job, verdict.reason, since or now, recheck_at, snapshot))


async def _let_through(
    parts: WorkerParts,
    plan: FlowPlan,
    hold: HoldPlan,
    passed: list[tuple[Job, Record, Verdict]],
    before: Mapping[str, datetime],
    fail: Callable[[Job, ErpBridgeError], None],
) -> list[Pair]:
    """Clear the flag of records that were held; a failed clear retries the job."""
    was_held = [(j, r, v) for j, r, v in passed if j.held_at is not None or r.id in before]
    errors = await write_flags(
        parts.runtime,
        hold,
        [(j, r, v.scope) for j, r, v in was_held],
        "clear",
        always=frozenset(j.id for j, _, _ in was_held if j.held_at is not None),
    )
    held_ids = {j.id for j, _, _ in was_held}
    out: list[Pair] = []
    for job, record, verdict in passed:
        if job.id in errors:
            fail(job, errors[job.id])
            continue
        if job.id in held_ids:
            by = verdict.by
            if by == "check" and job.held_at is not None:
                by = "recheck"
            parts.metrics.holds.labels(plan.name, "released", by).inc()
            log.info("hold.released", flow=plan.name, job_id=job.id, record_id=record.id, by=by)
        out.append((job, record))
    return out


def commit_holds(conn: Connection, batch: BatchOutcome, worker: str, now: datetime) -> None:
    """Store the jobs a round held (in the worker's commit transaction)."""
    for job, reason, since, recheck_at, snapshot in batch.held:
        hold_job(conn, job, reason, since, recheck_at, snapshot, worker, now)
