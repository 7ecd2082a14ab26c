"""sObject Collections calls for ``write``: which call an op needs, its body, its result.

One op becomes one record of a collections call (reference §4): create ``POST
/composite/sobjects``, update ``PATCH /composite/sobjects`` (with ``id``), upsert ``PATCH
/composite/sobjects/{T}/{ExtIdField}``, delete ``DELETE /composite/sobjects?ids=``.
Results come back one per record, in order; failed records are classified by
:func:`.errors.classify_result_error`.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping, Sequence

import structlog

from erpbridge.connectors.salesforce.cursor import soql_name
from erpbridge.connectors.salesforce.errors import SYSTEM, classify_result_error
from erpbridge.spi.errors import ConnectorError, ValidationError
from erpbridge.spi.records import WriteMode, WriteOp, WriteOutcome, WriteResult

__all__ = ["collection_call", "failed", "route", "write_result"]

_log = structlog.get_logger(__name__)


def _jsonable(value: object) -> object:
    """Field values as JSON: datetimes in UTC with milliseconds, dates, decimals as numbers."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def route(op: WriteOp) -> tuple[str, str | None]:
    """(call kind, upsert key) for one op, or ("invalid", reason)."""
    if op.mode is WriteMode.DELETE:
        return ("delete", None) if op.target_id else ("invalid", "delete needs target_id")
    nested = [
        k
        for k, v in op.fields.items()
        if isinstance(v, list | tuple) and v and all(isinstance(item, Mapping) for item in v)
    ]
    if nested:
        return "invalid", (
            f"lines {', '.join(nested)} cannot be written with the parent; "
            "write the child object's records"
        )
    if op.mode is WriteMode.UPDATE:
        return ("update", None) if op.target_id else ("invalid", "update needs target_id")
    has_key = op.key_field is not None and op.key_value not in (None, "")
    if op.mode is WriteMode.UPSERT and not has_key:
        if op.target_id:
            return "update", None
        return "invalid", "upsert needs key_field and key_value (an External ID field)"
    if has_key:
        try:
            return "upsert", soql_name(str(op.key_field))
        except ValidationError as exc:
            return "invalid", exc.message
    return "create", None


def failed(op: WriteOp, reason: str, name: str) -> WriteResult:
    """A per-op validation failure found before any call."""
    return WriteResult(
        ref=op.ref,
        outcome=WriteOutcome.FAILED,
        target_id=op.target_id,
        error=ValidationError(reason, system=SYSTEM, object=name),
    )


def write_result(op: WriteOp, kind: str, answer: object, name: str) -> WriteResult:
    """The spi result of one collections result entry."""
    if not isinstance(answer, Mapping):
        error = ConnectorError("collections result is not an object", system=SYSTEM, object=name)
        return WriteResult(op.ref, WriteOutcome.FAILED, op.target_id, error=error)
    record_id = answer.get("id") if isinstance(answer.get("id"), str) else op.target_id
    if answer.get("success") is True:
        if kind == "delete":
            outcome = WriteOutcome.DELETED
        elif kind == "create" or answer.get("created") is True:
            outcome = WriteOutcome.CREATED
        else:
            outcome = WriteOutcome.UPDATED
        return WriteResult(op.ref, outcome, str(record_id) if record_id else None)
    error = classify_result_error(answer, object=name)
    if kind == "delete" and error.status == "ENTITY_IS_DELETED":
        return WriteResult(op.ref, WriteOutcome.DELETED, op.target_id)  # already gone: done
    _log.info("write.record_failed", object=name, error_class=type(error).__name__)
    return WriteResult(
        op.ref, WriteOutcome.FAILED, str(record_id) if record_id else None, error=error
    )


def collection_call(
    name: str, kind: str, key: str | None, ops: Sequence[WriteOp]
) -> tuple[str, str, dict[str, str] | None, dict[str, object] | None]:
    """(method, path, params, JSON body) of one collections call for ``ops`` of one kind."""
    if kind == "delete":
        ids = ",".join(str(op.target_id) for op in ops)
        return "DELETE", "composite/sobjects", {"ids": ids, "allOrNone": "false"}, None
    records = []
    for op in ops:
        body: dict[str, object] = {"attributes": {"type": name}}
        body.update({k: _jsonable(v) for k, v in op.fields.items()})
        if kind == "update":
            body["id"] = op.target_id
        if kind == "upsert" and key is not None:
            body[key] = _jsonable(op.key_value)
        records.append(body)
    method, path = {
        "create": ("POST", "composite/sobjects"),
        "update": ("PATCH", "composite/sobjects"),
        "upsert": ("PATCH", f"composite/sobjects/{name}/{key}"),
    }[kind]
    return method, path, None, {"allOrNone": False, "records": records}
