"""Write ops -> ``$batch`` changesets, and each changeset's answer -> a WriteResult.

A create whose natural key already exists is answered ``unchanged`` without a call (the
retry of a create whose answer was lost, DESIGN.md §3.2); an upsert becomes PATCH when its
key exists, POST otherwise; update and delete need ``target_id`` or an existing key.

An update whose fields carry lines (``to_Item``) is one changeset: the header ``PATCH``
with ``If-Match`` set to the ETag of the record as read (so a change in SAP since that
read is a 412 conflict and the whole update is re-planned on retry), then the item
requests of lines.py. SAP applies the changeset whole or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx
import orjson

from erpbridge.connectors.sap.batch import BatchOperation, PartAnswer
from erpbridge.connectors.sap.client import decode_d
from erpbridge.connectors.sap.describe import EntitySetSchema
from erpbridge.connectors.sap.errors import SYSTEM, classify_response
from erpbridge.connectors.sap.lines import LINE_NAVS, plan_lines
from erpbridge.connectors.sap.records import created_identity, key_predicate
from erpbridge.connectors.sap.values import to_wire_fields
from erpbridge.spi.errors import ConnectorError, TransientError, ValidationError
from erpbridge.spi.records import Record, WriteMode, WriteOp, WriteOutcome, WriteResult

__all__ = ["PlannedWrite", "has_lines", "plan_write", "write_result"]


@dataclass(frozen=True, slots=True)
class PlannedWrite:
    """One op turned into a changeset request, with the outcome success will mean."""

    index: int
    op: WriteOp
    requests: list[BatchOperation]
    outcome: WriteOutcome
    target_id: str | None
    #: the record as read before a line-level update (None otherwise), for hints.
    current: Record | None = None
    #: the current lines the item requests change or delete.
    touched: list[Mapping[str, object]] = field(default_factory=list)


def has_lines(entity_set: EntitySetSchema, op: WriteOp) -> bool:
    """True when ``op`` is a change whose fields carry lines updated line by line."""
    return op.mode in (WriteMode.UPDATE, WriteMode.UPSERT) and any(
        (entity_set.name, name) in LINE_NAVS and isinstance(op.fields.get(name), list | tuple)
        for name in entity_set.navs
    )


def plan_write(
    entity_set: EntitySetSchema,
    index: int,
    op: WriteOp,
    existing: Mapping[tuple[str, str], Record],
    sets: Mapping[str, EntitySetSchema],
    current: Mapping[str, Record] | None = None,
) -> PlannedWrite | WriteResult:
    """The requests for ``op``, or its result at once (already there, or impossible).

    Args:
        existing: records found by natural key, by (key field, value).
        current: records read by id for line-level updates (default none).
    """
    match = None
    if op.key_field and op.key_value is not None:
        match = existing.get((op.key_field, str(op.key_value)))
    target = op.target_id or (match.id if match else None)
    body = orjson.dumps(to_wire_fields(entity_set, op.fields, sets))
    if op.mode is WriteMode.CREATE and match is not None:
        # Already there: a retried create whose first answer was lost (no duplicate).
        return WriteResult(op.ref, WriteOutcome.UNCHANGED, match.id, match.version)
    if op.mode is WriteMode.CREATE or (op.mode is WriteMode.UPSERT and target is None):
        request = BatchOperation("POST", entity_set.name, body)
        return PlannedWrite(index, op, [request], WriteOutcome.CREATED, None)
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
        request = BatchOperation("DELETE", path)
        return PlannedWrite(index, op, [request], WriteOutcome.DELETED, target)
    # SAP OData V2 has no deep update (/IWBEP/CM_MGW_RT/021): the header is PATCHed alone
    # and lines (to_Item) become item requests in the same changeset (lines.py).
    header = {k: v for k, v in op.fields.items() if not isinstance(v, list | dict)}
    patch = orjson.dumps(to_wire_fields(entity_set, header, sets))
    record = (current or {}).get(target) or (match if match and match.id == target else None)
    if not has_lines(entity_set, op) or record is None:
        request = BatchOperation("PATCH", path, patch)
        return PlannedWrite(index, op, [request], WriteOutcome.UPDATED, target)
    try:
        lines = plan_lines(entity_set, target, op.fields, record.fields, sets)
    except ValidationError as exc:
        return WriteResult(op.ref, WriteOutcome.FAILED, target, error=exc)
    # Only an entity tag guards the update: a header without one (a requisition's version
    # is a hash of its fields, records.py) has nothing SAP could compare If-Match with.
    guard = {"If-Match": record.version} if record.version and _is_etag(record.version) else {}
    requests = [BatchOperation("PATCH", path, patch, guard), *lines.requests]
    return PlannedWrite(index, op, requests, WriteOutcome.UPDATED, target, record, lines.touched)


def _is_etag(version: str) -> bool:
    """True for an HTTP entity tag (``W/"…"`` or ``"…"``), as SAP's ``__metadata.etag``."""
    return version.startswith(('W/"', '"'))


def write_result(
    entity_set: EntitySetSchema,
    plan: PlannedWrite,
    answers: list[PartAnswer],
    sets: Mapping[str, EntitySetSchema],
) -> WriteResult:
    """The result of one changeset from its answer part(s).

    A failed changeset answers one error part (everything in it was rolled back); a
    successful one answers one part per request.
    """
    failed = next((a for a in answers if a.status >= 400), None)
    if failed is not None or len(answers) != len(plan.requests):
        answer = failed or answers[-1]
        wire = httpx.Response(answer.status, headers=answer.headers, content=answer.body)
        error = (
            classify_response(wire, entity_set.name)
            if failed is not None
            else TransientError(  # a broken answer: the outcome is unknown, re-read and retry
                f"{len(answers)} answers in a changeset of {len(plan.requests)} requests",
                system=SYSTEM,
                object=entity_set.name,
            )
        )
        if isinstance(error, ValidationError) and error.hint is None:
            error.hint = delivered_hint(plan)
        return WriteResult(plan.op.ref, WriteOutcome.FAILED, plan.target_id, error=error)
    answer = answers[0]
    if plan.outcome is WriteOutcome.CREATED:
        # Only the new record's id and version are needed, not its lines as records.
        try:
            target_id, version = created_identity(entity_set, _created_d(answer, entity_set))
        except ConnectorError as exc:
            return WriteResult(plan.op.ref, WriteOutcome.FAILED, error=exc)
        return WriteResult(plan.op.ref, WriteOutcome.CREATED, target_id, version)
    # Item requests after the header move its ETag on: the header's answer is stale then.
    version = answer.headers.get("etag") if len(answers) == 1 else None
    return WriteResult(plan.op.ref, plan.outcome, plan.target_id, version)


def _created_d(answer: PartAnswer, entity_set: EntitySetSchema) -> Mapping[str, object]:
    """The ``d`` object of a create's answer part.

    The usual answer (JSON with a ``d`` object) is read straight from the part's bytes;
    anything else goes through :func:`decode_d`, which says what is wrong with it (building
    an ``httpx.Response`` per part only for that cost a tenth of a write's CPU).
    """
    if "json" in answer.headers.get("content-type", ""):
        try:
            body = orjson.loads(answer.body)
        except orjson.JSONDecodeError:
            body = None
        data = body.get("d") if isinstance(body, dict) else None
        if isinstance(data, dict):
            return data
    wire = httpx.Response(answer.status, headers=answer.headers, content=answer.body)
    return decode_d(wire, entity_set.name)


_DELIVERED = ("B", "C")  # delivery / billing status: B partly, C completely (reference §7)


def delivered_hint(plan: PlannedWrite) -> str | None:
    """What a person can do when SAP refused a change of an order it already delivered.

    Judged from the record as read before the write (documented status fields), not from
    the message text: ``OverallTotalDeliveryStatus`` of the order, ``DeliveryStatus`` of
    the items the changeset changed or deleted.
    """
    if plan.current is None:
        return None
    header = plan.current.fields
    delivered = header.get("OverallTotalDeliveryStatus") in _DELIVERED or any(
        item.get("DeliveryStatus") in _DELIVERED for item in plan.touched
    )
    if not delivered:
        return None
    what = "delivered"
    if header.get("OverallOrdReltdBillgStatus") in _DELIVERED:
        what = "delivered and invoiced"
    return (
        f"SAP order {plan.target_id} is already {what}; cancel it in SAP or create a return, "
        "then discard this dead letter"
    )
