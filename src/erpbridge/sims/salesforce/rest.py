"""REST resources under ``/services/data/v{version}/`` (reference §2).

:func:`dispatch` routes on path segments itself, so every resource answers with and
without a trailing slash (simple-salesforce adds one) and unknown resources or methods
get Salesforce's own 404/405 bodies.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from erpbridge.sims.salesforce import composite
from erpbridge.sims.salesforce.bulk2 import Bulk2Jobs
from erpbridge.sims.salesforce.errors import SfError, method_not_allowed, not_found
from erpbridge.sims.salesforce.query import QueryCursors, batch_size_from_header
from erpbridge.sims.salesforce.render import (
    describe_global,
    describe_object,
    describe_summary,
    render_record,
)
from erpbridge.sims.salesforce.schema import ObjectDef, object_def
from erpbridge.sims.salesforce.soql import format_datetime
from erpbridge.sims.salesforce.state import OrgState

__all__ = ["ApiUsage", "RestContext", "dispatch", "read_json"]

#: upsert answers 200 + JSON for an update from this version on, 204 before (UNSURE).
_UPSERT_JSON_FROM = 46.0
_MAX_BODY_BYTES = 50 * 1024 * 1024


@dataclass(slots=True)
class ApiUsage:
    """The org's daily API request counter (``Sforce-Limit-Info``, ``/limits``)."""

    max: int = 15000
    used: int = 0


@dataclass(slots=True)
class RestContext:
    """What a REST request needs: the org, its query cursors, the API counter."""

    org: OrgState
    cursors: QueryCursors
    usage: ApiUsage
    bulk2: Bulk2Jobs


async def read_json(request: Request) -> object:
    """The request body as JSON, or Salesforce's JSON_PARSER_ERROR."""
    content_type = request.headers.get("content-type", "application/json")
    if "json" not in content_type.lower() and content_type.strip():
        raise SfError(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            f"Content-Type header specified in HTTP request is not supported: {content_type}",
        )
    raw = await request.body()
    if len(raw) > _MAX_BODY_BYTES:
        raise SfError(413, "REQUEST_ENTITY_TOO_LARGE", "The request body is too large")
    if not raw.strip():
        raise SfError(400, "JSON_PARSER_ERROR", "No content to map due to end-of-input")
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = (
            f" at [line:{exc.lineno}, column:{exc.colno}]"
            if isinstance(exc, json.JSONDecodeError)
            else ""
        )
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "invalid UTF-8"
        raise SfError(400, "JSON_PARSER_ERROR", f"Unexpected character: {reason}{where}") from None


def _refuse_constant(name: str) -> object:
    # Python's parser takes NaN and Infinity; Salesforce's (Jackson) refuses them, and a
    # stored NaN could not be answered as JSON. The wording is UNSURE.
    raise SfError(400, "JSON_PARSER_ERROR", f"Unexpected character: {name} is not a JSON number")


class _JsonResponse(JSONResponse):
    """Starlette's JSONResponse rendered by orjson: the same JSON text (compact, UTF-8,
    keys in order) at a fraction of the cost, which every query page paid; the standard
    encoder stays for what orjson refuses (integers wider than 64 bits)."""

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except (orjson.JSONEncodeError, TypeError):
            return super().render(content)


def _object(name: str) -> ObjectDef:
    o = object_def(name)
    if o is None:
        raise not_found()
    return o


def _json(body: object, status: int = 200) -> Response:
    return _JsonResponse(body, status_code=status)


def _stamp_param(request: Request, name: str) -> datetime:
    raw = request.query_params.get(name)
    if raw is None:
        raise SfError(400, "MISSING_ARGUMENT", f"Missing required parameter: {name}")
    # an unencoded '+' in a query string arrives as a space
    text = raw.replace(" ", "+").replace("Z", "+00:00")
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise SfError(
            400, "INVALID_REPLICATION_DATE", f"{name}: invalid date/time value: {raw}"
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC)


def _replication_window(ctx: RestContext, request: Request) -> tuple[str, str]:
    start, end = _stamp_param(request, "start"), _stamp_param(request, "end")
    if end <= start:
        raise SfError(400, "INVALID_REPLICATION_DATE", "end date must be after start date")
    now = datetime.now(UTC)
    if start < now - timedelta(days=30):
        raise SfError(400, "INVALID_REPLICATION_DATE", "startDate cannot be more than 30 days ago")
    return format_datetime(start), format_datetime(min(end, now))


def _updated(ctx: RestContext, o: ObjectDef, request: Request) -> Response:
    start, end = _replication_window(ctx, request)
    rows = ctx.org.records[o.name].values()
    ids = sorted(
        str(r["Id"]) for r in rows if not r["IsDeleted"] and start <= str(r["SystemModstamp"]) < end
    )
    # UNSURE: Salesforce is said to work at minute granularity; we keep seconds.
    return _json({"ids": ids, "latestDateCovered": end})


def _deleted(ctx: RestContext, o: ObjectDef, request: Request) -> Response:
    start, end = _replication_window(ctx, request)
    rows = [r for r in ctx.org.records[o.name].values() if r["IsDeleted"]]
    found = sorted(
        (
            {"id": r["Id"], "deletedDate": r["SystemModstamp"]}
            for r in rows
            if start <= str(r["SystemModstamp"]) < end
        ),
        key=lambda d: str(d["deletedDate"]),
    )
    earliest = min((str(r["SystemModstamp"]) for r in rows), default=start)
    return _json(
        {"deletedRecords": found, "earliestDateAvailable": earliest, "latestDateCovered": end}
    )


def _fields_param(o: ObjectDef, request: Request) -> list[str] | None:
    raw = request.query_params.get("fields")
    if raw is None:
        return None
    names = []
    for name in (n.strip() for n in raw.split(",") if n.strip()):
        f = o.field(name)
        if f is None:
            raise SfError(
                400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {o.name}"
            )
        names.append(f.name)
    return names


async def _record(ctx: RestContext, o: ObjectDef, rid: str, request: Request, v: str) -> Response:
    method = request.method
    if method == "GET":
        row = ctx.org.live(o.name, rid)
        if row is None:
            raise ctx.org.missing(o, rid)
        return _json(render_record(o, row, v, _fields_param(o, request)))
    if method == "PATCH":
        ctx.org.update(o, rid, await read_json(request))
        return Response(status_code=204)
    if method == "DELETE":
        ctx.org.delete(o, rid)
        return Response(status_code=204)
    raise method_not_allowed(method, "GET,PATCH,DELETE,HEAD")


async def _external(
    ctx: RestContext, o: ObjectDef, field_name: str, value: str, request: Request, v: str
) -> Response:
    f = o.field(field_name)
    if f is None or not (f.external_id or f.name == "Id"):
        raise SfError(
            404,
            "NOT_FOUND",
            f"Provided external ID field does not exist or is not accessible: {field_name}",
        )
    method = request.method
    if method == "PATCH":
        rid, created = ctx.org.upsert(o, f.name, value, await read_json(request))
        result = {"id": rid, "success": True, "errors": [], "created": created}
        if created:
            return _json(result, 201)
        return _json(result) if float(v) >= _UPSERT_JSON_FROM else Response(status_code=204)
    rid_or_none = ctx.org.live(o.name, value) if f.name == "Id" else None
    found = str(rid_or_none["Id"]) if rid_or_none else ctx.org.by_external_id(o.name, f.name, value)
    if found is None:
        raise not_found()
    if method == "GET":
        row = ctx.org.live(o.name, found)
        assert row is not None  # noqa: S101 - the index holds live records only
        return _json(render_record(o, row, v, _fields_param(o, request)))
    if method == "DELETE":
        ctx.org.delete(o, found)
        return Response(status_code=204)
    raise method_not_allowed(method, "GET,PATCH,DELETE,HEAD")


async def _sobjects(ctx: RestContext, parts: list[str], request: Request, v: str) -> Response:
    method = request.method
    if not parts:
        if method != "GET":
            raise method_not_allowed(method, "GET,HEAD")
        return _json(describe_global(v))
    o = _object(parts[0])
    rest = parts[1:]
    if not rest:
        if method == "GET":
            return _json({"objectDescribe": describe_summary(o, v), "recentItems": []})
        if method == "POST":
            rid = ctx.org.create(o, await read_json(request))
            return _json({"id": rid, "success": True, "errors": []}, 201)
        raise method_not_allowed(method, "GET,POST,HEAD")
    if len(rest) == 1 and rest[0] in ("describe", "updated", "deleted"):
        if method != "GET":
            raise method_not_allowed(method, "GET,HEAD")
        if rest[0] == "describe":
            return _json(describe_object(o, v))
        return _updated(ctx, o, request) if rest[0] == "updated" else _deleted(ctx, o, request)
    if len(rest) == 1:
        return await _record(ctx, o, rest[0], request, v)
    if len(rest) == 2:
        return await _external(ctx, o, rest[0], rest[1], request, v)
    raise not_found()


def _limits(ctx: RestContext) -> Response:
    u = ctx.usage
    return _json(
        {
            "DailyApiRequests": {"Max": u.max, "Remaining": max(0, u.max - u.used)},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
            "DataStorageMB": {"Max": 1024, "Remaining": 1000},
        }
    )


async def _query(
    ctx: RestContext, parts: list[str], request: Request, v: str, *, all_: bool
) -> Response:
    if request.method != "GET":
        raise method_not_allowed(request.method, "GET,HEAD")
    if parts:
        if len(parts) != 1:
            raise not_found()
        return _json(ctx.cursors.more(parts[0], version=v))
    soql = request.query_params.get("q")
    if soql is None:
        raise SfError(400, "MALFORMED_QUERY", "A query string has to be specified")
    batch = batch_size_from_header(request.headers.get("sforce-query-options"))
    return _json(ctx.cursors.run(soql, version=v, include_deleted=all_, batch=batch))


Handler = Callable[[RestContext, list[str], Request, str], Awaitable[Response]]


async def dispatch(ctx: RestContext, parts: list[str], request: Request, version: str) -> Response:
    """Answer one REST call (``parts`` = path segments after the version).

    Raises:
        SfError: any refusal; the app turns it into Salesforce's error body.
    """
    if not parts:
        base = f"/services/data/v{version}"
        names = ("sobjects", "query", "queryAll", "limits", "composite", "jobs")
        return _json({n: f"{base}/{n}" for n in names})
    head, rest = parts[0], parts[1:]
    if head == "sobjects":
        return await _sobjects(ctx, rest, request, version)
    if head in ("query", "queryAll"):
        return await _query(ctx, rest, request, version, all_=head == "queryAll")
    if head == "limits" and not rest:
        return _limits(ctx)
    if head == "jobs":
        body = await read_json(request) if request.method in ("POST", "PATCH") else None
        return await ctx.bulk2.dispatch(rest, request, version, body)
    if head == "composite" and rest and rest[0] == "sobjects":
        return await composite.dispatch(ctx.org, rest[1:], request, version, read_json)
    raise not_found()
