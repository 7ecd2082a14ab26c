"""Writes through the batch media type: plan parts per op, send, map answers per op.

Reference §4: a batch is all-or-nothing and lists only the failing part. To give every op its
own result, a failing part is taken out (its op gets the classified error) and the rest is
sent again; each round removes at least one part, so a chunk of n ops needs at most n calls.
Idempotency (DESIGN.md §3.2, reference §6): creates and upserts first look their natural
key up (one ``q`` per chunk) and become updates of what exists; resources with an alternate
key also get ``Upsert-Mode: true``, so a create whose answer was lost updates on the resend.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from erpbridge.connectors.oracle.cursor import format_stamp
from erpbridge.connectors.oracle.errors import SYSTEM, classify
from erpbridge.spi.errors import ValidationError
from erpbridge.spi.records import Record, WriteMode, WriteOp, WriteOutcome, WriteResult

__all__ = [
    "PlannedPart",
    "change_indicator",
    "failed_result",
    "plan_part",
    "result_of",
    "wire_value",
]

_OPERATIONS = {
    WriteOutcome.CREATED: "create",
    WriteOutcome.UPDATED: "update",
    WriteOutcome.DELETED: "delete",
}


@dataclass(frozen=True, slots=True)
class PlannedPart:
    """One op turned into a batch part, with the outcome it will have when it succeeds."""

    index: int
    op: WriteOp
    part: dict[str, object]
    outcome: WriteOutcome
    target_id: str | None
    #: the record as read before a revision (revisions.py), for the hint of a refusal.
    current: Record | None = None


def change_indicator(item: Mapping[str, object]) -> str | None:
    """The ``changeIndicator`` of an item's self link (its version), when present."""
    links = item.get("links")
    for link in links if isinstance(links, list) else []:
        if isinstance(link, Mapping) and link.get("rel") == "self":
            properties = link.get("properties")
            if isinstance(properties, Mapping) and properties.get("changeIndicator"):
                return str(properties["changeIndicator"])
    return None


def wire_value(value: object) -> object:
    """A Python value as Oracle JSON (datetimes UTC with milliseconds, decimals as numbers)."""
    if isinstance(value, datetime):
        return format_stamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): wire_value(v) for k, v in value.items() if k != "links"}
    if isinstance(value, list | tuple):
        return [wire_value(v) for v in value]
    return value


def plan_part(
    index: int, op: WriteOp, resource: str, existing: Mapping[tuple[str, str], Record]
) -> PlannedPart | WriteResult:
    """The batch part for ``op``, or its result at once when it cannot be sent.

    A create or upsert whose natural key already exists becomes an update of that record;
    so does a create that already has a target id (the xref knows it).
    """
    payload = {k: wire_value(v) for k, v in op.fields.items()}
    target = op.target_id
    if (
        op.mode in (WriteMode.CREATE, WriteMode.UPSERT)
        and op.key_field
        and op.key_value is not None
    ):
        found = existing.get((op.key_field, str(op.key_value)))
        if found is not None:
            target = found.id
    if op.mode in (WriteMode.DELETE, WriteMode.UPDATE) and not target:
        error = ValidationError(
            f"{op.mode.value} needs the target id (from the xref)", system=SYSTEM, object=resource
        )
        return WriteResult(op.ref, WriteOutcome.FAILED, error=error)
    if op.mode is WriteMode.DELETE:
        outcome = WriteOutcome.DELETED
    else:
        outcome = WriteOutcome.UPDATED if target else WriteOutcome.CREATED
    path = f"/{resource}/{target}" if target else f"/{resource}"
    part: dict[str, object] = {"id": f"p{index}", "path": path, "operation": _OPERATIONS[outcome]}
    if outcome is not WriteOutcome.DELETED:
        part["payload"] = payload
    return PlannedPart(index, op, part, outcome, target)


def result_of(planned: PlannedPart, answer: Mapping[str, object], id_of: str | None) -> WriteResult:
    """The result of a part that succeeded; ``id_of`` is the id read from its payload."""
    target = planned.target_id or id_of
    version = None
    payload = answer.get("payload")
    if isinstance(payload, Mapping):
        version = change_indicator(payload)
        stamp = payload.get("LastUpdateDate")
        version = version or (str(stamp) if stamp else None)
    return WriteResult(planned.op.ref, planned.outcome, target_id=target, version=version)


def failed_result(planned: PlannedPart, answer: Mapping[str, object], resource: str) -> WriteResult:
    """The result of the part a batch named as failing."""
    payload = answer.get("payload")
    status = 400
    if isinstance(payload, Mapping):
        try:
            status = int(str(payload.get("status") or 400))
        except ValueError:
            status = 400
    raw = json.dumps(payload, ensure_ascii=False, default=str)[:2000]
    error = classify(status, payload, object=resource, raw=raw)
    return WriteResult(planned.op.ref, WriteOutcome.FAILED, error=error)
