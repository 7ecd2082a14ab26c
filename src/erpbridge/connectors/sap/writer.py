"""Write ops -> ``$batch`` changesets, and each changeset's answer -> a WriteResult.

A create whose natural key already exists is answered ``unchanged`` without a call (the
retry of a create whose answer was lost, DESIGN.md §3.2); an upsert becomes PATCH when its
key exists, POST otherwise; update and delete need ``target_id`` or an existing key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

import httpx

from erpbridge.connectors.sap.batch import BatchOperation, PartAnswer
from erpbridge.connectors.sap.client import decode_d
from erpbridge.connectors.sap.describe import EntitySetSchema
from erpbridge.connectors.sap.errors import SYSTEM, classify_response
from erpbridge.connectors.sap.records import key_predicate, to_record
from erpbridge.connectors.sap.values import to_wire_fields
from erpbridge.spi.errors import ConnectorError, ValidationError
from erpbridge.spi.records import Record, WriteMode, WriteOp, WriteOutcome, WriteResult

__all__ = ["PlannedWrite", "plan_write", "write_result"]


@dataclass(frozen=True, slots=True)
class PlannedWrite:
    """One op turned into a changeset request, with the outcome success will mean."""

    index: int
    op: WriteOp
    request: BatchOperation
    outcome: WriteOutcome
    target_id: str | None


def plan_write(
    entity_set: EntitySetSchema,
    index: int,
    op: WriteOp,
    existing: Mapping[tuple[str, str], Record],
    sets: Mapping[str, EntitySetSchema],
) -> PlannedWrite | WriteResult:
    """The request for ``op``, or its result at once (already there, or impossible)."""
    match = None
    if op.key_field and op.key_value is not None:
        match = existing.get((op.key_field, str(op.key_value)))
    target = op.target_id or (match.id if match else None)
    body = json.dumps(to_wire_fields(entity_set, op.fields, sets), ensure_ascii=False).encode()
    if op.mode is WriteMode.CREATE and match is not None:
        # Already there: a retried create whose first answer was lost (no duplicate).
        return WriteResult(op.ref, WriteOutcome.UNCHANGED, match.id, match.version)
    if op.mode is WriteMode.CREATE or (op.mode is WriteMode.UPSERT and target is None):
        request = BatchOperation("POST", entity_set.name, body)
        return PlannedWrite(index, op, request, WriteOutcome.CREATED, None)
    if target is None:
        error = ValidationError(
            f"{op.mode.value} needs target_id or a natural key that exists "
            f"({op.key_field}={op.key_value!r} not found)",
            field=op.key_field,
            system=SYSTEM,
            object=entity_set.name,
        )
        return WriteResult(op.ref, WriteOutcome.FAILED, error=error)
    path = quote(f"{entity_set.name}{key_predicate(entity_set, target)}", safe="()'=,")
    if op.mode is WriteMode.DELETE:
        return PlannedWrite(index, op, BatchOperation("DELETE", path), WriteOutcome.DELETED, target)
    # SAP OData V2 has no deep update (/IWBEP/CM_MGW_RT/021): an update sends the header
    # only; nested lines (to_Item …) are written with the create, their own set after.
    header = {k: v for k, v in op.fields.items() if not isinstance(v, list | dict)}
    patch = json.dumps(to_wire_fields(entity_set, header, sets), ensure_ascii=False).encode()
    return PlannedWrite(
        index, op, BatchOperation("PATCH", path, patch), WriteOutcome.UPDATED, target
    )


def write_result(
    entity_set: EntitySetSchema,
    plan: PlannedWrite,
    answers: list[PartAnswer],
    sets: Mapping[str, EntitySetSchema],
) -> WriteResult:
    """The result of one changeset from its answer part(s)."""
    answer = answers[-1]
    wire = httpx.Response(answer.status, headers=answer.headers, content=answer.body)
    if answer.status >= 400:
        error = classify_response(wire, entity_set.name)
        return WriteResult(plan.op.ref, WriteOutcome.FAILED, plan.target_id, error=error)
    if plan.outcome is WriteOutcome.CREATED:
        try:
            record = to_record(entity_set, decode_d(wire, entity_set.name), sets)
        except ConnectorError as exc:
            return WriteResult(plan.op.ref, WriteOutcome.FAILED, error=exc)
        return WriteResult(plan.op.ref, WriteOutcome.CREATED, record.id, record.version)
    return WriteResult(plan.op.ref, plan.outcome, plan.target_id, answer.headers.get("etag"))
