"""Changing a sales order Order Hub already has: a revision, a cancellation, or nothing.

Oracle's order pages document the pieces (reference §2, §6; Order Management's "Revise
Sales Orders That You Already Submitted"):

- the order key ``<SourceTransactionSystem>:<SourceTransactionId>`` "always returns the
  latest version of the sales order" and "only the Get operation is supported on older
  revisions" [C]: a change is therefore sent to that key, never to a HeaderId the xref
  remembers (each revision has its own HeaderId on a real pod);
- a change is a new revision: the same source key with a higher
  ``SourceTransactionRevisionNumber`` (reference §6 [U semantics]);
- cancelling is a revision too: ``CanceledFlag: true`` on the header cancels the order, on a
  line that line. These attribute names come from third-party clients of this resource and
  BICC's ``LineCanceledFlag`` [U for REST]; ``CancelReasonCode`` values are the pod's lookup.
  (Oracle also documents ``salesOrderActionRequests`` for mass cancellation [C]: an
  asynchronous job per request, not used here.)

What the connector does with an upsert or update of an order Oracle already has (it read the
order with its lines before writing, writer.py's natural-key lookup):

1. the same content as Oracle holds (header values, lines by their source line key, nothing
   removed; or a cancel of an order already cancelled): ``unchanged``, nothing is sent, so
   a resend never asks Oracle to revise an order it has closed;
2. otherwise one PATCH to the order key with revision = Oracle's + 1, the mapped header and
   lines, and every Oracle line whose source line the mapping no longer has, cancelled
   (``CanceledFlag: true``): the CRM removed that line.

A refusal (Oracle allows no change once a line is shipped or the order closed) is a
validation error with Oracle's own text; :func:`refusal_hint` adds what a person can do,
judged from the statuses read before the write, not from the message text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from urllib.parse import quote

from erpbridge.connectors.oracle.cursor import parse_stamp
from erpbridge.connectors.oracle.errors import SYSTEM
from erpbridge.connectors.oracle.writer import PlannedPart, wire_value
from erpbridge.spi.errors import ValidationError
from erpbridge.spi.records import Record, WriteOp, WriteOutcome, WriteResult

__all__ = [
    "CANCEL_FIELD",
    "REVISION_FIELD",
    "order_key",
    "plan_revision",
    "refusal_hint",
    "revise",
    "unknown_order_cancel",
]

REVISION_FIELD = "SourceTransactionRevisionNumber"
CANCEL_FIELD = "CanceledFlag"
_LINES = "lines"
_LINE_KEY = ("SourceTransactionLineId", "SourceTransactionScheduleId")
#: child collections a revision does not compare (Oracle derives the bill-to and ship-to).
_SKIPPED = frozenset({"billToCustomer", "shipToCustomer", "links", REVISION_FIELD})
#: fulfilment line statuses past shipping, as Order Hub's lines show them [U codes].
_FULFILLED = {"AWAIT_BILLING": "shipped", "BILLED": "billed", "CLOSED": "closed"}


def _same(new: object, old: object) -> bool:
    """True when a mapped value equals Oracle's: 3 = 3.000, null = "", stamps by instant."""
    if new in (None, "") and old in (None, ""):
        return True
    if isinstance(new, bool) or isinstance(old, bool):
        return bool(new) == bool(old) if None in (new, old) else new == old
    if isinstance(new, int | float | Decimal) and isinstance(old, int | float | Decimal):
        try:
            return Decimal(str(new)) == Decimal(str(old))
        except InvalidOperation:
            return False
    if isinstance(new, str) and isinstance(old, str) and new != old:
        stamp = parse_stamp(new)  # the same instant written another way
        return stamp is not None and stamp == parse_stamp(old)
    return new == old


def _line_key(line: Mapping[str, object]) -> tuple[str, str]:
    return (str(line.get(_LINE_KEY[0]) or ""), str(line.get(_LINE_KEY[1]) or ""))


def _lines(value: object) -> list[Mapping[str, object]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _is_cancelled(values: Mapping[str, object]) -> bool:
    return values.get(CANCEL_FIELD) is True or values.get("StatusCode") == "CANCELED"


def _lines_differ(
    mapped: Sequence[Mapping[str, object]], current: Sequence[Mapping[str, object]]
) -> bool:
    by_key = {_line_key(line): line for line in current}
    for line in mapped:
        now = by_key.get(_line_key(line))
        if now is None or _is_cancelled(now) != (line.get(CANCEL_FIELD) is True):
            return True
        if any(not _same(v, now.get(k)) for k, v in line.items() if k != CANCEL_FIELD):
            return True
    return False


def _removed(
    mapped: Sequence[Mapping[str, object]], current: Sequence[Mapping[str, object]]
) -> list[dict[str, object]]:
    """Cancellations of the Oracle lines the mapping no longer has (still open ones)."""
    kept = {_line_key(line) for line in mapped}
    return [
        {
            _LINE_KEY[0]: line.get(_LINE_KEY[0]),
            _LINE_KEY[1]: line.get(_LINE_KEY[1]),
            CANCEL_FIELD: True,
        }
        for line in current
        if _line_key(line) not in kept and line.get(_LINE_KEY[0]) and not _is_cancelled(line)
    ]


def revise(payload: Mapping[str, object], current: Record) -> dict[str, object] | None:
    """The revision to send for ``payload`` (wire values) against ``current``; None = unchanged.

    Args:
        payload: the mapped order as wire JSON values.
        current: the order as Oracle has it now, with its lines.
    """
    now = current.fields
    if payload.get(CANCEL_FIELD) is True and _is_cancelled(now):
        return None  # cancelled already: the lines of a cancelled order no longer matter
    mapped = _lines(payload.get(_LINES))
    existing = _lines(now.get(_LINES))
    removed = _removed(mapped, existing) if _LINES in payload else []
    header_differs = any(
        not _same(value, now.get(name))
        for name, value in payload.items()
        if name not in _SKIPPED and name != _LINES
    )
    if not header_differs and not removed and not _lines_differ(mapped, existing):
        return None
    revision = now.get(REVISION_FIELD)
    number = revision if isinstance(revision, int) and not isinstance(revision, bool) else 1
    out = {k: v for k, v in payload.items() if k not in ("billToCustomer", "shipToCustomer")}
    out[REVISION_FIELD] = number + 1
    if _LINES in payload:
        out[_LINES] = [*mapped, *removed]
    return out


def order_key(payload: Mapping[str, object], current: Record) -> str:
    """``System:Id``, the key of the order's latest revision, quoted for a path."""
    system = payload.get("SourceTransactionSystem") or current.fields.get("SourceTransactionSystem")
    source_id = payload.get("SourceTransactionId") or current.fields.get("SourceTransactionId")
    return quote(f"{system}:{source_id}", safe=":")


def refusal_hint(current: Record, payload: Mapping[str, object]) -> str | None:
    """What a person can do when Oracle refused a revision, from the statuses read before it.

    None when the order was neither fulfilled nor closed (then Oracle's text says enough).
    """
    fields = current.fields
    number = fields.get("OrderNumber") or current.id
    status = fields.get("StatusCode")
    steps = [
        _FULFILLED[s]
        for s in (str(li.get("StatusCode")) for li in _lines(fields.get(_LINES)))
        if s in _FULFILLED
    ]
    if status == "CANCELED":
        return (
            f"Oracle order {number} is cancelled; a change can't reach it. Create a new order "
            "in the CRM if it is still wanted, then discard this dead letter"
        )
    if status != "CLOSED" and not steps:
        return None
    word = (
        "closed" if status == "CLOSED" else steps[-1] if len(set(steps)) == 1 else "partly shipped"
    )
    what = "cancel" if payload.get(CANCEL_FIELD) is True else "change"
    return (
        f"Oracle order {number} is already {word}, so Oracle refuses to {what} it; "
        "cancel what is left in Oracle Order Management or create a return (RMA), "
        "then discard this dead letter"
    )


def plan_revision(
    index: int, op: WriteOp, resource: str, current: Record
) -> PlannedPart | WriteResult:
    """The batch part revising ``current`` for ``op``, or ``unchanged`` when nothing differs."""
    payload = {k: wire_value(v) for k, v in op.fields.items()}
    body = revise(payload, current)
    if body is None:
        return WriteResult(op.ref, WriteOutcome.UNCHANGED, current.id, current.version)
    part: dict[str, object] = {
        "id": f"p{index}",
        "path": f"/{resource}/{order_key(payload, current)}",
        "operation": "update",
        "payload": body,
    }
    return PlannedPart(index, op, part, WriteOutcome.UPDATED, current.id, current=current)


def unknown_order_cancel(op: WriteOp, resource: str) -> WriteResult | None:
    """A cancel of an order Oracle does not have fails (it is not created to be cancelled)."""
    if op.fields.get(CANCEL_FIELD) is not True:
        return None
    error = ValidationError(
        f"cancelling needs the order in Oracle, and none has {op.key_field} {op.key_value!r}",
        field=op.key_field,
        system=SYSTEM,
        object=resource,
        hint="the order never reached Oracle: nothing to cancel there; discard this dead letter",
    )
    return WriteResult(op.ref, WriteOutcome.FAILED, error=error)
