"""One OData V2 request against one service, independent of HTTP plumbing.

:func:`ODataService.handle` takes a decoded request (method, service, path relative to the
service root, query options, headers, body) and returns status, headers and body. app.py
calls it for plain HTTP requests (after auth and CSRF checks); batch.py calls it for each
part of a ``$batch``. Routes and status codes follow the reference §2 table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

import orjson

from erpbridge.sims.sap.errors import ODataError
from erpbridge.sims.sap.metadata import render_metadata
from erpbridge.sims.sap.model import EntitySetDef, NavDef, ServiceDef
from erpbridge.sims.sap.query import (
    parse_expand,
    parse_options,
    parse_select,
    sort_rows,
)
from erpbridge.sims.sap.rules import Rules
from erpbridge.sims.sap.state import Key, Row, SapState
from erpbridge.sims.sap.wire import encode_row, format_key, parse_key_predicate

__all__ = ["ODataRequest", "ODataResponse", "ODataService"]

_SEGMENT = re.compile(
    r"^(?P<set>[A-Za-z_][A-Za-z0-9_]*)(?:\((?P<key>.*)\))?"
    r"(?:/(?P<nav>[A-Za-z_][A-Za-z0-9_]*|\$count))?(?:/(?P<count>\$count))?$"
)
_JSON = "application/json; charset=utf-8"


@dataclass(frozen=True, slots=True)
class ODataRequest:
    """A request as the service sees it; ``path`` is URL-decoded and relative to the root."""

    method: str
    service: ServiceDef
    path: str
    params: Mapping[str, str]
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    root_url: str  # absolute service root, with a trailing slash


@dataclass(slots=True)
class ODataResponse:
    """Status, headers and body of an answer."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def error(cls, exc: ODataError, service: str) -> ODataResponse:
        """The JSON error answer for ``exc``."""
        exc.service = exc.service or service
        return cls(exc.status, {"content-type": _JSON}, exc.body())


def _json(status: int, payload: object, headers: dict[str, str] | None = None) -> ODataResponse:
    try:  # orjson: every answer is rendered here, and the standard library was its top cost
        body = orjson.dumps(payload)
    except (orjson.JSONEncodeError, TypeError):
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return ODataResponse(status, {"content-type": _JSON, **(headers or {})}, body)


def _not_found(text: str) -> ODataError:
    return ODataError(404, "/IWBEP/CM_MGW_RT/020", f"Resource not found for segment '{text}'")


def _method_not_allowed(method: str, path: str) -> ODataError:
    return ODataError(405, "/IWBEP/CM_MGW_RT/101", f"Method {method} is not allowed for '{path}'")


def etag_of(entity_set: EntitySetDef, row: Row) -> str | None:
    """The weak ETag SAP derives from the set's ETag property (None when it has none)."""
    if entity_set.etag_prop is None:
        return None
    value = row.get(entity_set.etag_prop)
    if entity_set.etag_prop == "LastChangeDateTime" and value is not None:
        text = value.isoformat().replace("+00:00", "Z")  # type: ignore[union-attr]  # datetime
        # quote(text, safe=""): of an ISO 8601 stamp's characters only ":" and "+" are
        # quoted (the stamp is in every rendered order, and quote() was a visible cost).
        quoted = text.replace(":", "%3A").replace("+", "%2B")
        return f"W/\"datetimeoffset'{quoted}'\""
    return f"W/\"'{value or ''}'\""


class ODataService:
    """Answers OData requests from a :class:`SapState`.

    Args:
        state: the records.
        max_page_size: server-side page size; longer results get ``__next``. Default 1000
            (UNSURE for real releases, reference §3; configurable).
    """

    def __init__(self, state: SapState, *, max_page_size: int = 1000) -> None:
        self.state = state
        self.rules = Rules(state)
        self.max_page_size = max_page_size

    def handle(self, request: ODataRequest) -> ODataResponse:
        """Answer one request; every refusal is an OData error body, never an exception."""
        try:
            return self._route(request)
        except ODataError as exc:
            return ODataResponse.error(exc, request.service.name)

    def _route(self, request: ODataRequest) -> ODataResponse:
        method = request.method
        if method == "POST" and "x-http-method" in request.headers:
            method = request.headers["x-http-method"].upper()  # SAP's MERGE tunnelling
        fmt = request.params.get("$format", "json").lower()
        if fmt not in ("json", "application/json"):
            raise ODataError(
                415, "/IWBEP/CM_MGW_RT/030", f"Format '{fmt}' is not supported (use json)"
            )
        path = request.path.strip("/")
        if path == "":
            if method not in ("GET", "HEAD"):
                raise _method_not_allowed(method, "/")
            sets = [s.name for s in request.service.sets]
            return _json(200, {"d": {"EntitySets": sets}})
        if path == "$metadata":
            if method not in ("GET", "HEAD"):
                raise _method_not_allowed(method, path)
            return ODataResponse(
                200, {"content-type": "application/xml"}, render_metadata(request.service.name)
            )
        match = _SEGMENT.match(path)
        if match is None:
            raise _not_found(path)
        entity_set = request.service.set_by_name.get(match["set"])
        if entity_set is None:
            raise _not_found(match["set"])
        key = parse_key_predicate(entity_set, match["key"]) if match["key"] is not None else None
        nav_name = match["nav"]
        is_count = nav_name == "$count" or match["count"] is not None
        if nav_name == "$count":
            nav_name = None
        if key is None:
            if nav_name is not None:
                raise _not_found(path)
            return self._on_collection(request, method, entity_set, is_count)
        if nav_name is not None:
            nav = entity_set.nav_by_name.get(nav_name)
            if nav is None:
                raise _not_found(nav_name)
            return self._on_navigation(request, method, entity_set, key, nav, is_count)
        if is_count:
            raise _not_found(path)
        return self._on_entity(request, method, entity_set, key)

    # --- collections ------------------------------------------------------------------

    def _on_collection(
        self, request: ODataRequest, method: str, entity_set: EntitySetDef, is_count: bool
    ) -> ODataResponse:
        if method == "POST" and not is_count:
            body = _payload(request)
            row = self.rules.create(entity_set, body)
            return self._created(request, entity_set, row, body)
        if method not in ("GET", "HEAD"):
            raise _method_not_allowed(method, entity_set.name)
        return self._list(request, entity_set, None, is_count)

    def _list(
        self,
        request: ODataRequest,
        entity_set: EntitySetDef,
        rows: list[Row] | None,
        is_count: bool,
    ) -> ODataResponse:
        """A collection answer; ``rows`` None means the whole set (an index may narrow it)."""
        options = parse_options(entity_set, dict(request.params))
        if rows is None:
            lookup, floor = options.lookup, options.floor
            if lookup is not None:
                rows = self.state.rows_where(entity_set.name, lookup.prop, lookup.values)
            elif floor is not None:
                rows = self.state.rows_from(entity_set.name, floor.prop, floor.value)
            else:
                rows = self.state.rows(entity_set.name)
        if options.predicate is not None:
            predicate = options.predicate
            rows = [r for r in rows if predicate(r)]
        if is_count:
            return ODataResponse(200, {"content-type": "text/plain"}, str(len(rows)).encode())
        if options.order:
            sort_rows(rows, list(options.order))
        total = len(rows)
        end = total if options.top is None else options.skip + options.top
        window = rows[options.skip : end]
        page = window[options.skiptoken : options.skiptoken + self.max_page_size]
        results = [
            self._render(request, entity_set, r, options.select, options.expand) for r in page
        ]
        payload: dict[str, object] = {"results": results}
        if options.inlinecount:
            payload["__count"] = str(total)
        if options.skiptoken + self.max_page_size < len(window):
            params = {k: v for k, v in request.params.items() if k != "$skiptoken"}
            params["$skiptoken"] = str(options.skiptoken + self.max_page_size)
            payload["__next"] = (
                request.root_url + quote(request.path.strip("/")) + "?" + urlencode(params)
            )
        return _json(200, {"d": payload})

    def _created(
        self,
        request: ODataRequest,
        entity_set: EntitySetDef,
        row: Row,
        body: Mapping[str, object],
    ) -> ODataResponse:
        """201 with the created record and the navigations the payload deep-inserted."""
        expand: dict[str, object] = {n: {} for n in entity_set.nav_by_name if n in body}
        rendered = self._render(request, entity_set, row, None, expand or None)
        meta = rendered["__metadata"]
        assert isinstance(meta, dict)  # noqa: S101 - built by _render
        headers = {"location": str(meta["uri"])}
        etag = etag_of(entity_set, row)
        if etag:
            headers["etag"] = etag
        return _json(201, {"d": rendered}, headers)

    # --- single entities --------------------------------------------------------------

    def _load(self, entity_set: EntitySetDef, key: Key) -> Row:
        row = self.state.get(entity_set.name, key)
        if row is None:
            raise _not_found(f"{entity_set.name}({','.join(key)})")
        return row

    def _on_entity(
        self, request: ODataRequest, method: str, entity_set: EntitySetDef, key: Key
    ) -> ODataResponse:
        if method in ("GET", "HEAD"):
            row = self._load(entity_set, key)
            select = request.params.get("$select")
            expand = request.params.get("$expand")
            rendered = self._render(
                request,
                entity_set,
                row,
                frozenset(parse_select(entity_set, select) or ()) if select else None,
                parse_expand(expand) if expand else None,
            )
            etag = etag_of(entity_set, row)
            return _json(200, {"d": rendered}, {"etag": etag} if etag else None)
        if method in ("PATCH", "MERGE", "PUT"):
            self._check_if_match(request, entity_set, self._load(entity_set, key))
            row = self.rules.update(entity_set, key, _payload(request), replace=method == "PUT")
            etag = etag_of(entity_set, row)
            return ODataResponse(204, {"etag": etag} if etag else {})
        if method == "DELETE":
            self._check_if_match(request, entity_set, self._load(entity_set, key))
            self.rules.delete(entity_set, key)
            return ODataResponse(204)
        raise _method_not_allowed(method, entity_set.name)

    def _check_if_match(self, request: ODataRequest, entity_set: EntitySetDef, row: Row) -> None:
        wanted = request.headers.get("if-match")
        if wanted is None or wanted.strip() == "*":
            return
        if wanted.strip() != etag_of(entity_set, row):
            raise ODataError(
                412,
                "/IWBEP/CM_MGW_RT/010",
                "The Data Services Request could not be processed: the ETag does not match "
                "(the entity was changed by someone else)",
            )

    def _on_navigation(
        self,
        request: ODataRequest,
        method: str,
        entity_set: EntitySetDef,
        key: Key,
        nav: NavDef,
        is_count: bool,
    ) -> ODataResponse:
        parent = self._load(entity_set, key)
        target = request.service.set_by_name[nav.target]
        if method == "POST" and nav.many and not is_count:
            payload = dict(_payload(request))
            for mine, theirs in nav.join:
                payload[theirs] = parent[mine]
            row = self.rules.create(target, payload)
            return self._created(request, target, row, _payload(request))
        if method not in ("GET", "HEAD"):
            raise _method_not_allowed(method, f"{entity_set.name}/{nav.name}")
        rows = self._related(parent, nav)
        if nav.many or is_count:
            return self._list(request, target, rows, is_count)
        if not rows:
            raise _not_found(nav.name)
        return _json(200, {"d": self._render(request, target, rows[0], None, None)})

    def _related(self, parent: Row, nav: NavDef) -> list[Row]:
        props = tuple(b for _, b in nav.join)
        values = tuple(str(parent.get(a) or "") for a, _ in nav.join)
        if not all(values):
            return []
        return self.state.related(nav.target, props, values)

    # --- rendering ----------------------------------------------------------------------

    def _render(
        self,
        request: ODataRequest,
        entity_set: EntitySetDef,
        row: Row,
        select: frozenset[str] | None,
        expand: Mapping[str, object] | None,
    ) -> dict[str, object]:
        uri = request.root_url + entity_set.name + format_key(entity_set, row)
        meta: dict[str, object] = {
            "id": uri,
            "uri": uri,
            "type": f"{request.service.name}.{entity_set.type_name}",
        }
        etag = etag_of(entity_set, row)
        if etag:
            meta["etag"] = etag
        out: dict[str, object] = {"__metadata": meta}
        out.update(encode_row(entity_set, row, select))
        for name in expand or {}:
            if name not in entity_set.nav_by_name:
                raise ODataError(
                    400,
                    "/IWBEP/CM_MGW_RT/021",
                    f"Navigation property '{name}' not found in type '{entity_set.type_name}'",
                )
        for nav in entity_set.navs:
            if expand and nav.name in expand:
                sub = expand[nav.name]
                target = request.service.set_by_name[nav.target]
                related = self._related(row, nav)
                rendered = [
                    self._render(request, target, r, None, sub if isinstance(sub, dict) else None)
                    for r in related
                ]
                if nav.many:
                    out[nav.name] = {"results": rendered}
                else:
                    out[nav.name] = rendered[0] if rendered else None
            elif select is None or nav.name in select:
                out[nav.name] = {"__deferred": {"uri": f"{uri}/{nav.name}"}}
        return out


def _payload(request: ODataRequest) -> Mapping[str, object]:
    """The JSON object of a create/update body, or a 400 saying what is wrong with it."""
    content_type = request.headers.get("content-type", "application/json").lower()
    if "json" not in content_type:
        raise ODataError(
            415,
            "/IWBEP/CM_MGW_RT/030",
            f"Content type '{content_type}' is not supported; send application/json",
        )
    try:
        data = orjson.loads(request.body or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ODataError(
            400, "/IWBEP/CM_MGW_RT/006", f"Malformed request body (not valid JSON): {exc}"
        ) from exc
    if isinstance(data, dict) and set(data) == {"d"} and isinstance(data["d"], dict):
        data = data["d"]
    if not isinstance(data, dict):
        raise ODataError(
            400, "/IWBEP/CM_MGW_RT/006", "Malformed request body: a JSON object is expected"
        )
    return data
