"""What a flow does when its source record was deleted: ``target.on_delete``.

- ``ignore`` (the default): the job ends ``delete_ignored``; the target keeps its record.
- ``delete``: the target record behind the xref is deleted with ``WriteMode.DELETE``
  (outcome ``deleted``); with no xref there is nothing to delete (``no_target``). With
  the job's completion, in the same transaction, everything kept about the pair is
  forgotten (:func:`forget_gone`): the xref rows linking the two records in either
  direction (the other direction's too, for a two-way entity), both records' natural
  keys and every flow's echo hashes on them. So a record re-created later with the same
  natural key is created afresh, and the flow running the other way does not update a
  record that is gone. A record the target no longer has counts as deleted. A target
  that refuses (a system or object that cannot delete, a record it keeps for its own
  reasons) answers with its own error, classified like any write: retried when
  transient, else a dead letter with the target's text.
- ``dead_letter``: the job is parked as a dead letter for a person to decide (delete or
  cancel the target record by hand, then discard it).

The worker calls :func:`settle_deletes` with a batch's deleted records; the results go
into the same :class:`BatchOutcome` and commit with the rest of the batch.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

from erpbridge.engine.flow import FlowPlan
from erpbridge.engine.jobs import Job
from erpbridge.engine.outcome import BatchOutcome
from erpbridge.engine.queue import Attempt, Finished
from erpbridge.engine.xref import forget_pairs, lookup_reverse_xrefs, lookup_xrefs
from erpbridge.spi.errors import ConnectorError, NotFoundError
from erpbridge.spi.records import Record, WriteMode, WriteOp, WriteOutcome

if TYPE_CHECKING:
    from erpbridge.engine.worker import Worker

__all__ = ["ON_DELETE", "forget_gone", "settle_deletes"]

#: the values of ``target.on_delete``.
ON_DELETE = ("ignore", "delete", "dead_letter")

_Deleted = Sequence[tuple[Job, Record]]


async def settle_deletes(
    worker: Worker, plan: FlowPlan, deleted: _Deleted, batch: BatchOutcome
) -> None:
    """Decide every deleted source record of a batch by the flow's ``target.on_delete``."""
    policy = plan.spec.target.on_delete
    if policy == "ignore":
        batch.finished += [Finished(job, "delete_ignored") for job, _ in deleted]
    elif policy == "dead_letter":
        target = f"{plan.target_connection}:{plan.spec.target.object}"
        for job, record in deleted:
            message = f"the source record {record.id} was deleted (on_delete: dead_letter)"
            hint = (
                f"delete or cancel its {target} record by hand if it should go too, "
                "then discard this dead letter"
            )
            attempt = Attempt("failed", "deleted", message)
            batch.dead.append((job, attempt, None, hint, job.source_snapshot, None))
    else:
        await _delete_targets(worker, plan, deleted, batch)


def _target_ids(worker: Worker, plan: FlowPlan, ids: list[str]) -> dict[str, str]:
    """source id -> target id from the xref (or the other direction's, for two-way)."""
    with worker.store.connect() as conn:
        known = lookup_xrefs(conn, plan.xref_key, ids)
        missing = [i for i in ids if i not in known]
        if missing:
            reverse_key = (plan.entity, plan.target_connection, plan.source_connection)
            known.update(lookup_reverse_xrefs(conn, reverse_key, missing))
    return known


async def _delete_targets(
    worker: Worker, plan: FlowPlan, deleted: _Deleted, batch: BatchOutcome
) -> None:
    known = _target_ids(worker, plan, sorted({record.id for _, record in deleted}))
    ops: list[tuple[Job, Record, WriteOp]] = []
    for job, record in deleted:
        target_id = known.get(record.id)
        if target_id is None:
            batch.finished.append(Finished(job, "no_target"))
            continue
        op = WriteOp(
            mode=WriteMode.DELETE,
            fields={},
            target_id=target_id,
            idempotency_key=job.idempotency_key,
            ref=str(job.id),
        )
        ops.append((job, record, op))
    target = worker.runtime.connector(plan.target_connection)
    guard = worker.runtime.guard(plan.target_connection)
    for start in range(0, len(ops), plan.batch_size):
        chunk = ops[start : start + plan.batch_size]
        write = functools.partial(target.write, plan.spec.target.object, [op for *_, op in chunk])
        try:
            results = await guard.call(write)
        except ConnectorError as exc:
            for job, _, _ in chunk:
                worker._fail(plan, job, _refusal_hint(plan, exc), batch, job.source_snapshot, None)
            continue
        if len(results) != len(chunk):
            mismatch = ConnectorError(
                f"connector answered {len(results)} results for {len(chunk)} deletes",
                system=plan.target_connection,
            )
            for job, _, _ in chunk:
                worker._fail(plan, job, mismatch, batch, job.source_snapshot, None)
            continue
        for (job, record, op), result in zip(chunk, results, strict=True):
            gone = isinstance(result.error, NotFoundError)  # already deleted there
            if result.outcome is WriteOutcome.FAILED and not gone:
                assert result.error is not None  # noqa: S101 - WriteResult guarantees it
                error = _refusal_hint(plan, result.error)
                worker._fail(plan, job, error, batch, job.source_snapshot, None)
                continue
            outcome = "deleted"
            call = {"mode": op.mode.value, "target_id": op.target_id, "outcome": outcome}
            batch.finished.append(Finished(job, outcome, op.target_id, None, None, call))
            batch.deleted_pairs[record.id] = str(op.target_id)


def _refusal_hint(plan: FlowPlan, error: ConnectorError) -> ConnectorError:
    """``error`` with a hint for a delete the target refused for good (kept if it has one)."""
    if not error.retryable and error.hint is None:
        error.hint = (
            f"{plan.target_connection}:{plan.spec.target.object} refused the delete; delete "
            "or cancel the record there by hand (or set target.on_delete: ignore), then "
            "discard this dead letter"
        )
    return error


def forget_gone(conn: Connection, plan: FlowPlan, batch: BatchOutcome) -> None:
    """Forget the pairs of a batch whose target record is gone, in the commit's transaction.

    ``batch.deleted_pairs`` (deleted by ``on_delete: delete``, the source record deleted
    too) and ``batch.gone_targets`` (an update found the target record deleted there):
    the xref rows linking each pair in either direction, and the natural keys and echo
    hashes of the records that are gone.
    """
    sides = (
        (plan.source_connection, plan.spec.source.object),
        (plan.target_connection, plan.spec.target.object),
    )
    if batch.deleted_pairs:
        forget_pairs(conn, plan.entity, sides, batch.deleted_pairs, source_gone=True)
    if batch.gone_targets:
        forget_pairs(conn, plan.entity, sides, batch.gone_targets, source_gone=False)
