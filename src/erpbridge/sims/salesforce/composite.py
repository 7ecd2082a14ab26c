"""sObject Collections: ``/composite/sobjects`` (reference §4).

Up to 200 records per call, one result per record in input order; result errors use
``statusCode``. With ``allOrNone`` every change of the call is undone when one record
fails, and the others report ``ALL_OR_NONE_OPERATION_ROLLED_BACK``. Without it each
record stands alone (its own savepoint). Either way the call is one unit: one SQLite
transaction, one round of outbound notifications.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from erpbridge.sims.salesforce.errors import SfError, method_not_allowed, not_found
from erpbridge.sims.salesforce.render import render_record
from erpbridge.sims.salesforce.schema import ObjectDef, object_def
from erpbridge.sims.salesforce.state import OrgState

__all__ = ["MAX_RECORDS", "dispatch"]

MAX_RECORDS = 200
_ROLLED_BACK = SfError(
    400,
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using "
    "AllOrNone header",
)
Op = Literal["create", "update", "upsert"]
Result = dict[str, object]


class _RollbackAllError(Exception):
    """Undo the whole unit (allOrNone with a failed record)."""


def _failed(error: SfError, record_id: object = None) -> Result:
    result: Result = {"success": False, "errors": [error.result_error()]}
    if record_id is not None:
        result["id"] = record_id
    return result


def _too_many(count: int) -> SfError:
    return SfError(
        400,
        "EXCEEDED_ID_LIMIT",
        f"record limit reached. cannot submit more than {MAX_RECORDS} records into this call "
        f"(got {count})",
    )


def _type_of(record: Mapping[str, object]) -> ObjectDef:
    attributes = record.get("attributes")
    name = attributes.get("type") if isinstance(attributes, Mapping) else None
    if not isinstance(name, str):
        raise SfError(
            400,
            "INVALID_TYPE",
            "When creating or updating records, you must specify the sObject type in the "
            "attributes",
        )
    o = object_def(name)
    if o is None:
        raise SfError(400, "INVALID_TYPE", f"sObject type '{name}' is not supported.")
    return o


def _one(
    org: OrgState, op: Op, record: object, upsert_field: str | None, obj: ObjectDef | None
) -> Result:
    if not isinstance(record, Mapping):
        raise SfError(400, "JSON_PARSER_ERROR", "Each record must be a JSON object")
    o = obj if obj is not None and "attributes" not in record else _type_of(record)
    if obj is not None and o.name != obj.name:
        raise SfError(400, "INVALID_TYPE", f"All records must be of type {obj.name}")
    body = {k: v for k, v in record.items() if k.lower() != "id"}
    if op == "create":
        if any(k.lower() == "id" for k in record):
            raise SfError(
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                "cannot specify Id in an insert call",
                ["Id"],
            )
        return {"id": org.create(o, body), "success": True, "errors": []}
    if op == "update":
        rid = next((v for k, v in record.items() if k.lower() == "id"), None)
        if not isinstance(rid, str):
            raise SfError(400, "MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
        return {"id": org.update(o, rid, body), "success": True, "errors": []}
    assert upsert_field is not None  # noqa: S101 - upsert always names its field
    value = next((v for k, v in record.items() if k.lower() == upsert_field.lower()), None)
    if value is None or isinstance(value, Mapping | list):
        raise SfError(400, "MISSING_ARGUMENT", f"{upsert_field} not specified", [upsert_field])
    rid, created = org.upsert(o, upsert_field, str(value), body)
    return {"id": rid, "success": True, "errors": [], "created": created}


def _write_all(
    org: OrgState,
    op: Op,
    records: list[object],
    all_or_none: bool,
    upsert_field: str | None = None,
    obj: ObjectDef | None = None,
) -> list[Result]:
    results: list[Result] = []
    try:
        with org.unit():
            for record in records:
                try:
                    with org.savepoint():
                        results.append(_one(org, op, record, upsert_field, obj))
                except SfError as exc:
                    results.append(_failed(exc))
            if all_or_none and any(not r["success"] for r in results):
                raise _RollbackAllError
    except _RollbackAllError:
        return [r if not r["success"] else _failed(_ROLLED_BACK) for r in results]
    return results


def _delete_all(org: OrgState, ids: list[str], all_or_none: bool) -> list[Result]:
    results: list[Result] = []
    try:
        with org.unit():
            for rid in ids:
                found = org.resolve_id(rid)
                try:
                    o = object_def(found[0]) if found else None
                    if o is None:
                        raise SfError(400, "MALFORMED_ID", f"malformed id {rid}")
                    with org.savepoint():
                        org.delete(o, rid)
                    results.append({"id": rid, "success": True, "errors": []})
                except SfError as exc:
                    results.append(_failed(exc, rid))
            if all_or_none and any(not r["success"] for r in results):
                raise _RollbackAllError
    except _RollbackAllError:
        return [r if not r["success"] else _failed(_ROLLED_BACK, r["id"]) for r in results]
    return results


def _body(raw: object) -> tuple[list[object], bool]:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("records"), list):
        raise SfError(
            400, "JSON_PARSER_ERROR", "The request body must be an object with a records array"
        )
    records: list[object] = raw["records"]
    if len(records) > MAX_RECORDS:
        raise _too_many(len(records))
    all_or_none = raw.get("allOrNone", False)
    if not isinstance(all_or_none, bool):
        raise SfError(400, "JSON_PARSER_ERROR", "allOrNone must be true or false")
    return records, all_or_none


async def dispatch(
    org: OrgState,
    parts: list[str],
    request: Request,
    version: str,
    read_json: Callable[[Request], Awaitable[object]],
) -> Response:
    """Answer ``/composite/sobjects[/{T}[/{ExtIdField}]]``."""
    method = request.method
    if not parts:
        if method == "POST":
            records, all_or_none = _body(await read_json(request))
            return JSONResponse(_write_all(org, "create", records, all_or_none))
        if method == "PATCH":
            records, all_or_none = _body(await read_json(request))
            return JSONResponse(_write_all(org, "update", records, all_or_none))
        if method == "DELETE":
            ids = [i for i in request.query_params.get("ids", "").split(",") if i]
            if not ids:
                raise SfError(400, "MISSING_ARGUMENT", "ids parameter is required")
            if len(ids) > MAX_RECORDS:
                raise _too_many(len(ids))
            all_or_none = request.query_params.get("allOrNone", "false").lower() == "true"
            return JSONResponse(_delete_all(org, ids, all_or_none))
        raise method_not_allowed(method, "POST,PATCH,DELETE")
    o = object_def(parts[0])
    if o is None:
        raise not_found()
    if len(parts) == 1:
        if method not in ("GET", "POST"):
            raise method_not_allowed(method, "GET,POST")
        if method == "GET":
            ids = _split(request.query_params.get("ids", ""))
            names = _split(request.query_params.get("fields", ""))
        else:  # POST with a body avoids URL length limits (same answer)
            body = await read_json(request)
            if not isinstance(body, Mapping):
                raise SfError(400, "JSON_PARSER_ERROR", 'expected {"ids": [...], "fields": [...]}')
            raw_ids, raw_fields = body.get("ids"), body.get("fields")
            ids = [str(i) for i in raw_ids] if isinstance(raw_ids, list) else []
            names = [str(f) for f in raw_fields] if isinstance(raw_fields, list) else []
        return JSONResponse(_read(org, o, ids, names, version))
    if len(parts) == 2:
        if method != "PATCH":
            raise method_not_allowed(method, "PATCH")
        f = o.field(parts[1])
        if f is None or not f.external_id:
            raise SfError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {parts[1]}",
            )
        records, all_or_none = _body(await read_json(request))
        return JSONResponse(_write_all(org, "upsert", records, all_or_none, f.name, o))
    raise not_found()


def _read(
    org: OrgState, o: ObjectDef, ids: list[str], field_names: list[str], version: str
) -> list[object]:
    """Records by id (``null`` for missing ones), with the asked fields."""
    if not ids or not field_names:
        raise SfError(400, "MISSING_ARGUMENT", "ids and fields parameters are required")
    if len(ids) > 2000:
        raise _too_many(len(ids))
    names = []
    for name in field_names:
        f = o.field(name)
        if f is None:
            raise SfError(
                400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {o.name}"
            )
        names.append(f.name)
    out: list[object] = []
    for rid in ids:
        row = org.live(o.name, rid)
        out.append(render_record(o, row, version, names) if row is not None else None)
    return out


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]
