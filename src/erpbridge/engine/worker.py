"""The worker: claim jobs, load and map records, write in batches, commit, classify failures.

One batch of one flow goes through these steps (DESIGN.md §6):
stale check → load source records → echo check → ``when:`` filter → xref lookups (one
query per entity) → mapping → target ids from the xref, else by natural key (one
``find`` per batch) → ``write`` in chunks of the batch size → one transaction that
commits job states, attempts, xrefs and echo hashes together. Failures are classified by
their spi class: retryable ones come back later with backoff, the rest go to the dead
letters at once with the target's own error text.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import socket
import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from erpbridge.engine.clock import Clock
from erpbridge.engine.deletes import forget_gone, settle_deletes
from erpbridge.engine.dependencies import park
from erpbridge.engine.echo import echo_of, skip_unchanged
from erpbridge.engine.enqueue import enqueue_changes, last_done_stamps, pending_dependencies
from erpbridge.engine.flow import FlowPlan
from erpbridge.engine.hold import commit_holds, screen
from erpbridge.engine.jobs import Job, JobState, Trigger
from erpbridge.engine.limits import CircuitOpenError
from erpbridge.engine.lookups import remember_keys, resolve_lookups
from erpbridge.engine.metrics import Metrics
from erpbridge.engine.outcome import BatchOutcome, error_class_of
from erpbridge.engine.queue import (
    Attempt,
    Finished,
    claim_jobs,
    dead_letter_job,
    finish_jobs,
    park_job,
    release_jobs,
    retry_job,
)
from erpbridge.engine.runtime import Runtime
from erpbridge.engine.skipped import SKIP_CLASS, WHEN_CLASS, WHEN_FALSE
from erpbridge.engine.snapshot import (
    record_from_snapshot,
    record_to_snapshot,
    snapshot_covers,
)
from erpbridge.engine.source_fields import fields_kwargs
from erpbridge.engine.xref import lookup_reverse_xrefs, lookup_xrefs, save_echo_hashes, save_xrefs
from erpbridge.log import get_logger
from erpbridge.mapping.errors import MissingReference, SkippedReference
from erpbridge.spi.errors import (
    AuthError,
    ConnectorError,
    ErpBridgeError,
    MappingError,
    NotFoundError,
    RateLimitedError,
    TransientError,
    ValidationError,
)
from erpbridge.spi.records import Record, WriteMode, WriteOp, WriteOutcome, WriteResult

__all__ = ["Worker", "error_class_of"]  # error_class_of: from .outcome, kept here for callers


log = get_logger("engine.worker")


async def _idle(stop: asyncio.Event, wake: asyncio.Event | None, seconds: float) -> None:
    """Wait ``seconds``, or until ``stop`` or ``wake`` is set (``wake`` is then cleared)."""
    if wake is None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)
        return
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
        wake.clear()


def _skip(job: Job, reason: SkippedReference | MappingError, batch: BatchOutcome) -> None:
    """End a job whose lookup with ``missing="skip"`` has no pair, as ``when:`` false does.

    Nothing is written and nothing is queued. A later version of the record, or the same
    one read again by a schedule or a manual sync (engine/skipped.py), is mapped again,
    and written once the pair exists.

    Raises:
        MappingError: ``reason`` is not a skip (a key several source records hold).
    """
    if not isinstance(reason, SkippedReference):
        raise reason
    batch.finished.append(Finished(job, "filtered", reason=str(reason), reason_class=SKIP_CLASS))


#: how often a worker looks for due parked jobs and ended leases
_STRANDED_EVERY = timedelta(seconds=1)


class Worker:
    """Claims and works jobs until stopped.

    Args:
        store: the store engine.
        runtime: live connections.
        plans: the flows to work, by name.
        clock: time source. Default: the runtime's clock.
        worker_id: unique name (host:pid:random by default), recorded on leases.
        claim_size: jobs claimed per round. Default 500.
        lease_s: how long a claim lasts before another worker may take the job. Default 120.
        metrics: where to count; default a private registry.
        rng: random source for jitter (tests pass a seeded one).
    """

    def __init__(
        self,
        store: sa.Engine,
        runtime: Runtime,
        plans: Mapping[str, FlowPlan],
        *,
        clock: Clock | None = None,
        worker_id: str | None = None,
        claim_size: int = 500,
        lease_s: float = 120.0,
        metrics: Metrics | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.runtime = runtime
        self.plans = dict(plans)
        self.clock = clock or runtime.clock
        self.id = worker_id or f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self.claim_size = claim_size
        self.lease = timedelta(seconds=lease_s)
        self.metrics = metrics or Metrics()
        self.rng = rng or random.Random()  # noqa: S311 - jitter only
        #: when this worker last looked for due parked jobs and ended leases (see run_once)
        self._stranded_at: datetime | None = None

    async def run(
        self, stop: asyncio.Event, idle_s: float = 0.2, wake: asyncio.Event | None = None
    ) -> None:
        """Work until ``stop`` is set; finish the round in hand, then return (graceful).

        A failing round (the store unreachable, a bug) is logged and tried again after a
        pause; the worker never dies of it, and jobs it held come back when their lease ends.
        An idle worker looks again after ``idle_s``, or at once when ``wake`` is set (the
        intake in the same process sets it after committing jobs).
        """
        while not stop.is_set():
            try:
                done = await self.run_once()
            except Exception as exc:  # process edge: the loop must outlive any one round
                log.error(
                    "worker.round_failed", error=f"{type(exc).__name__}: {exc}", exc_info=True
                )
                done = 0
                idle = min(30.0, max(1.0, idle_s * 10))
            else:
                idle = idle_s
            if done == 0:
                await _idle(stop, wake, idle)

    async def run_once(self) -> int:
        """Claim one round of jobs and work them; returns how many were claimed."""
        now = self.clock.now()
        # Due parked jobs and ended leases are looked for once a second of the clock, not
        # every round: that select walks every running job's entry in the state index,
        # and on PostgreSQL it cost as much as the claim itself (docs/performance.md). A
        # parked job that is due, or a job whose worker died, waits at most a second more.
        stranded = self._stranded_at is None or now - self._stranded_at >= _STRANDED_EVERY
        with self.store.begin() as conn:
            jobs = claim_jobs(
                conn,
                self.id,
                self.claim_size,
                self.lease,
                now,
                flows=list(self.plans),
                stranded=stranded,
            )
        if stranded:
            self._stranded_at = now
        if not jobs:
            return 0
        by_flow: dict[str, list[Job]] = defaultdict(list)
        for job in jobs:
            by_flow[job.flow].append(job)
        await asyncio.gather(
            *(self._work_flow(self.plans[name], batch) for name, batch in by_flow.items())
        )
        return len(jobs)

    async def _work_flow(self, plan: FlowPlan, jobs: list[Job]) -> None:
        batch = BatchOutcome()
        try:
            await self._process(plan, jobs, batch)
        except ErpBridgeError as exc:  # a whole-batch failure (loading, lookups)
            for job in jobs:
                if not self._decided(batch, job):
                    self._fail(plan, job, exc, batch, None, None)
        except Exception as exc:  # process edge: a bug in a connector or mapping function
            log.error("worker.batch_crashed", flow=plan.name, exc_info=True)
            internal = TransientError(f"internal error: {type(exc).__name__}: {exc}")
            for job in jobs:  # retried with backoff like any transient error, then a person
                if not self._decided(batch, job):
                    self._fail(plan, job, internal, batch, None, None)
        self._commit(plan, batch)

    @staticmethod
    def _decided(batch: BatchOutcome, job: Job) -> bool:
        ids = (
            {f.job.id for f in batch.finished}
            | {j.id for j, *_ in batch.retries}
            | {j.id for j, *_ in batch.dead}
            | {j.id for j, *_ in batch.parked}
            | {i for i, _ in batch.released}
            | {j.id for j, *_ in batch.held}
        )
        return job.id in ids

    # --- the steps ---------------------------------------------------------------------

    async def _process(self, plan: FlowPlan, jobs: list[Job], batch: BatchOutcome) -> None:
        jobs = self._drop_stale(plan, jobs, batch)
        records = await self._load(plan, jobs, batch)
        remember_keys(self.store, plan, records.values(), self.clock)
        live = [(job, records[job.id]) for job in jobs if job.id in records]
        accepted = []
        deleted = []
        for job, record in live:
            if record.deleted or job.kind == "delete":
                deleted.append((job, record))
            elif not plan.mapper.accepts(record.fields):
                batch.finished.append(
                    Finished(job, "filtered", reason=WHEN_FALSE, reason_class=WHEN_CLASS)
                )
            else:
                accepted.append((job, record))
        if deleted:  # target.on_delete: ignore, delete or dead_letter (deletes.py)
            await settle_deletes(self, plan, deleted, batch)
        if plan.hold is not None:  # the flow's hold: check (engine/hold.py)
            accepted = await screen(
                self, plan, accepted, batch,
                lambda job, exc: self._fail(plan, job, exc, batch, job.source_snapshot, None),
            )  # fmt: skip
        mapped = await self._map(plan, accepted, batch)
        if mapped:
            await self._write(plan, mapped, batch)

    def _drop_stale(self, plan: FlowPlan, jobs: list[Job], batch: BatchOutcome) -> list[Job]:
        with self.store.connect() as conn:
            done = last_done_stamps(conn, plan.name, sorted({j.source_id for j in jobs}))
        keep = []
        for job in jobs:
            if (
                job.source_stamp
                and job.source_id in done
                and job.source_stamp < done[job.source_id]
            ):
                batch.finished.append(Finished(job, "stale"))
            else:
                keep.append(job)
        return keep

    async def _load(
        self, plan: FlowPlan, jobs: list[Job], batch: BatchOutcome
    ) -> dict[int, Record]:
        records: dict[int, Record] = {}
        to_get: list[Job] = []
        to_fill: list[Job] = []
        for job in jobs:
            # A snapshot read with a shorter field list than the flow's (the mapping now
            # reads more) is read again, with the flow's list; a tombstone needs no fields.
            # A replay maps the snapshot a person may have edited; the fields it lacks
            # (the mapping was fixed to read more) are filled in from the source.
            snapshot = job.source_snapshot
            whole = snapshot is not None and (
                bool(snapshot.get("deleted")) or snapshot_covers(snapshot, plan.source_fields)
            )
            if snapshot is not None and (whole or job.trigger == Trigger.REPLAY.value):
                records[job.id] = record_from_snapshot(snapshot)
                if not whole:  # a replay's snapshot lacking fields
                    to_fill.append(job)
            elif job.kind == "delete":
                records[job.id] = Record(
                    object=plan.spec.source.object, id=job.source_id, fields={}, deleted=True
                )
            else:
                to_get.append(job)
        if to_get or to_fill:
            source = self.runtime.connector(plan.source_connection)
            guard = self.runtime.guard(plan.source_connection)
            ids = sorted({j.source_id for j in (*to_get, *to_fill)})
            fields = fields_kwargs(source.get, plan.source_fields)
            try:
                found = await guard.call(lambda: source.get(plan.spec.source.object, ids, **fields))
            except ConnectorError as exc:
                for job in to_get:
                    self._fail(plan, job, exc, batch, None, None)
                return records  # replays keep their snapshot as it is
            by_id = {r.id: r for r in found}
            for job in to_get:
                if job.source_id in by_id:
                    records[job.id] = by_id[job.source_id]
                else:
                    batch.finished.append(Finished(job, "source_gone"))
            for job in to_fill:
                if job.source_id in by_id:
                    kept = records[job.id]
                    merged = {**by_id[job.source_id].fields, **kept.fields}  # edits win
                    records[job.id] = replace(kept, fields=merged)
        return records

    async def _map(
        self, plan: FlowPlan, accepted: list[tuple[Job, Record]], batch: BatchOutcome
    ) -> list[tuple[Job, Record, dict[str, object]]]:
        wanted = {job.id: plan.mapper.xref_requests(record.fields) for job, record in accepted}
        requests = set().union(*wanted.values())
        # By id and by natural key (engine/lookups.py): a few queries and finds per batch.
        lookups = await resolve_lookups(self.store, self.runtime, plan, requests, self.clock)
        mapped = []
        for job, record in accepted:
            if job.trigger == Trigger.REPLAY.value and job.mapped_payload is not None:
                mapped.append((job, record, dict(job.mapped_payload)))  # edited by a person
                continue
            try:
                try:
                    payload = plan.mapper.apply(record.fields, lookups.xrefs)
                except SkippedReference as skipped:
                    _skip(job, lookups.explain_skip(skipped), batch)
                    continue
                except MissingReference as missing:
                    explained = lookups.explain(missing)
                    if not isinstance(explained, MissingReference):
                        raise explained from missing  # a key several records hold
                    skips = getattr(plan.mapper, "skip_lookups", ())
                    park(
                        self.store,
                        self.plans,
                        self.clock,
                        plan,
                        job,
                        explained,
                        lookups.to_sync(wanted[job.id], explained, skips),
                        batch,
                    )
                    continue
            except MappingError as exc:
                snapshot = job.source_snapshot or record_to_snapshot(record, plan.source_fields)
                batch.dead.append(
                    (
                        job,
                        Attempt("failed", "mapping", str(exc)),
                        None,
                        "fix the record or the mapping, then replay",
                        snapshot,
                        None,
                    )
                )
                continue
            mapped.append((job, record, payload))
        return mapped

    async def _target_ids(
        self, plan: FlowPlan, mapped: list[tuple[Job, Record, dict[str, object]]]
    ) -> dict[int, str]:
        ids = [record.id for _, record, _ in mapped]
        with self.store.connect() as conn:
            known = lookup_xrefs(conn, plan.xref_key, ids)
            missing_ids = [i for i in ids if i not in known]
            if missing_ids:  # a two-way entity: the other direction's xref knows the pair
                reverse_key = (plan.entity, plan.target_connection, plan.source_connection)
                known.update(lookup_reverse_xrefs(conn, reverse_key, missing_ids))
        out = {job.id: known[record.id] for job, record, _ in mapped if record.id in known}
        key = plan.spec.target.key
        missing = [
            (job, payload)
            for job, _, payload in mapped
            if job.id not in out and key and payload.get(key) not in (None, "")
        ]
        if missing and key:
            target = self.runtime.connector(plan.target_connection)
            values = sorted({str(payload[key]) for _, payload in missing})
            found = await self.runtime.guard(plan.target_connection).call(
                lambda: target.find(plan.spec.target.object, key, values)
            )
            by_key = {str(r.fields.get(key)): r.id for r in found}
            for job, payload in missing:
                target_id = by_key.get(str(payload[key]))
                if target_id:
                    out[job.id] = target_id
        return out

    async def _write(
        self,
        plan: FlowPlan,
        mapped: list[tuple[Job, Record, dict[str, object]]],
        batch: BatchOutcome,
    ) -> None:
        mode = plan.spec.target.write
        try:
            target_ids = await self._target_ids(plan, mapped)
        except ConnectorError as exc:
            for job, _record, payload in mapped:
                self._fail(plan, job, exc, batch, job.source_snapshot, payload)
            return
        mapped = skip_unchanged(self.store, self.metrics, plan, mapped, target_ids, batch)
        ops: list[tuple[Job, Record, dict[str, object], WriteOp]] = []
        for job, record, payload in mapped:
            target_id = target_ids.get(job.id)
            if mode in (WriteMode.UPDATE, WriteMode.DELETE) and not target_id:
                if plan.spec.target.on_missing == "skip":
                    # An ERP-only record (a material the CRM does not sell): nothing to update.
                    batch.finished.append(Finished(job, "no_target", None, payload))
                    continue
                error = NotFoundError(
                    "no target record to update: no xref and no match on the key",
                    system=plan.target_connection,
                    object=plan.spec.target.object,
                )
                self._fail(plan, job, error, batch, job.source_snapshot, payload)
                continue
            op_mode = (
                mode
                if mode is WriteMode.DELETE
                else (WriteMode.UPDATE if target_id else WriteMode.CREATE)
            )
            key = plan.spec.target.key
            key_value = payload.get(key) if key else None
            ops.append(
                (
                    job,
                    record,
                    payload,
                    WriteOp(
                        mode=op_mode,
                        fields=payload,
                        target_id=target_id,
                        key_field=key,
                        key_value=key_value,
                        idempotency_key=job.idempotency_key,
                        ref=str(job.id),
                        # _target_ids just found no record with this key in the target
                        key_checked=op_mode is WriteMode.CREATE and key_value not in (None, ""),
                    ),
                )
            )
        # The chunks go out together, as many at a time as the connection's concurrency
        # limit lets through: a round's jobs are of different records (a claim takes only
        # the oldest open job of each), so their writes do not depend on each other, and
        # the hub maps and encodes the next chunk while the target works on the last one.
        await asyncio.gather(
            *(
                self._write_chunk(plan, ops[start : start + plan.batch_size], batch)
                for start in range(0, len(ops), plan.batch_size)
            )
        )

    async def _write_chunk(
        self,
        plan: FlowPlan,
        chunk: list[tuple[Job, Record, dict[str, object], WriteOp]],
        batch: BatchOutcome,
    ) -> None:
        target = self.runtime.connector(plan.target_connection)
        guard = self.runtime.guard(plan.target_connection)
        started = self.clock.monotonic()
        write_ops = [op for *_, op in chunk]
        try:
            results = await guard.call(
                functools.partial(target.write, plan.spec.target.object, write_ops)
            )
        except ConnectorError as exc:
            self.metrics.target_calls.labels(plan.target_connection, error_class_of(exc)).inc()
            for job, _record, payload, _ in chunk:
                self._fail(plan, job, exc, batch, job.source_snapshot, payload)
            return
        self.metrics.write_latency.labels(plan.target_connection).observe(
            self.clock.monotonic() - started
        )
        self.metrics.target_calls.labels(plan.target_connection, "ok").inc()
        if len(results) != len(chunk):
            mismatch = ConnectorError(
                f"connector answered {len(results)} results for {len(chunk)} records",
                system=plan.target_connection,
            )
            for job, _record, payload, _ in chunk:
                self._fail(plan, job, mismatch, batch, job.source_snapshot, payload)
            return
        for (job, record, payload, op), result in zip(chunk, results, strict=True):
            self._settle(plan, job, record, payload, op, result, batch)

    def _settle(
        self,
        plan: FlowPlan,
        job: Job,
        record: Record,
        payload: dict[str, object],
        op: WriteOp,
        result: WriteResult,
        batch: BatchOutcome,
    ) -> None:
        if result.outcome is WriteOutcome.FAILED:
            assert result.error is not None  # noqa: S101 - WriteResult guarantees it
            if (
                isinstance(result.error, NotFoundError)
                and op.mode is WriteMode.UPDATE
                and plan.spec.target.write is not WriteMode.UPDATE
                and not plan.policy.is_exhausted(job.attempts)
            ):
                # The record behind our xref was deleted in the target: forget the pair
                # (both directions) and try again at once, which looks the key up and
                # creates it anew.
                batch.gone_targets[record.id] = op.target_id or ""
                batch.retries.append(
                    (job, Attempt("failed", "not_found", str(result.error)), self.clock.now())
                )
                return
            self._fail(plan, job, result.error, batch, job.source_snapshot, payload)
            return
        target_id = result.target_id or op.target_id
        call = {"mode": op.mode.value, "target_id": target_id, "outcome": result.outcome.value}
        batch.finished.append(
            Finished(job, result.outcome.value, target_id, payload, plan.mapper.version(), call)
        )
        if target_id:
            batch.xrefs[record.id] = target_id
            batch.echoes[target_id] = echo_of(payload, result.version)

    def _fail(
        self,
        plan: FlowPlan,
        job: Job,
        error: ErpBridgeError,
        batch: BatchOutcome,
        snapshot: dict[str, Any] | None,
        payload: Mapping[str, Any] | None,
    ) -> None:
        now = self.clock.now()
        if isinstance(error, CircuitOpenError):
            batch.released.append((job.id, now + timedelta(seconds=5)))
            return
        kind = error_class_of(error)
        attempt = Attempt("failed", kind, str(error))
        raw = error.raw if isinstance(error, ConnectorError) else None
        if error.retryable and not plan.policy.is_exhausted(job.attempts):
            retry_after = error.retry_after_s if isinstance(error, RateLimitedError) else None
            delay = plan.policy.delay_s(job.attempts, retry_after, self.rng)
            batch.retries.append((job, attempt, now + timedelta(seconds=delay)))
            return
        hint = error.hint if isinstance(error, ConnectorError) else None
        if hint:
            pass  # the connector knows what a person can do (e.g. the record's ERP state)
        elif error.retryable:
            hint = f"gave up after {job.attempts} attempts; check the system, then replay"
        elif isinstance(error, ValidationError):
            hint = (
                f"the target refused field {error.field!r}; "
                "edit the payload or the mapping, then replay"
                if error.field
                else "the target refused the record; fix it, then replay"
            )
        elif isinstance(error, AuthError):
            hint = "check the connection's credentials and permissions, then replay"
        batch.dead.append((job, attempt, raw, hint, snapshot or job.source_snapshot, payload))

    # --- commit ------------------------------------------------------------------------

    def _commit(self, plan: FlowPlan, batch: BatchOutcome) -> None:
        now = self.clock.now()
        with self.store.begin() as conn:
            finish_jobs(conn, batch.finished, self.id, now)
            forget_gone(conn, plan, batch)
            save_xrefs(conn, plan.xref_key, batch.xrefs, now)
            target = (plan.target_connection, plan.spec.target.object)
            save_echo_hashes(conn, *target, plan.name, batch.echoes, now)
            for job, attempt, at in batch.retries:
                retry_job(conn, job, attempt, at, self.id, now)
            for job, attempt, raw, hint, snapshot, payload in batch.dead:
                dead_letter_job(
                    conn,
                    job,
                    attempt,
                    error_raw=raw,
                    hint=hint,
                    snapshot=snapshot,
                    payload=payload,
                    worker=self.id,
                    now=now,
                )
            commit_holds(conn, batch, self.id, now)
            for job, until, since, reason in batch.parked:
                park_job(conn, job, until, since, reason, self.id, now)
            for job_id, at in batch.released:
                release_jobs(conn, [job_id], at)
            for flow, changes in pending_dependencies(conn, batch.dependencies).items():
                enqueue_changes(conn, flow, changes, Trigger.MANUAL.value, now)
        for finished in batch.finished:
            self.metrics.jobs.labels(plan.name, JobState.DONE.value).inc()
            if finished.outcome == "filtered":
                self.metrics.skipped.labels(plan.name, finished.reason_class or WHEN_CLASS).inc()
            latency = (now - finished.job.created_at).total_seconds()
            self.metrics.job_latency.labels(plan.name).observe(max(0.0, latency))
        self.metrics.jobs.labels(plan.name, "retry").inc(len(batch.retries))
        self.metrics.jobs.labels(plan.name, JobState.DEAD.value).inc(len(batch.dead))
        self.metrics.jobs.labels(plan.name, JobState.PARKED.value).inc(len(batch.parked))
        for job, attempt, *_ in batch.dead:
            log.warning(
                "job.dead_lettered",
                flow=plan.name,
                job_id=job.id,
                record_id=job.source_id,
                error_class=attempt.error_class,
                error=attempt.error_message,
            )
