"""One REST call against the resources: routing, parameters, ETags, reads and writes.

Paths are relative to the version root (``/fscmRestApi/resources/11.13.18.05``)::

    /                                   GET the resource catalog
    /<resource>                         GET a collection page, POST create (Upsert-Mode)
    /<resource>/describe                GET the ADF describe metadata
    /<resource>/<key>                   GET (If-None-Match), PATCH / PUT / DELETE (If-Match)
    /<resource>/<key>/child/<child>     GET a child page, POST a child record
    /<resource>/<key>/child/<child>/<k> GET, PATCH a child record

Order keys may be given as ``SourceTransactionSystem:SourceTransactionId`` as well as the
HeaderId (reference §2). The batch media type reuses :meth:`OracleService.handle` per part.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import cast

from erpbridge.sims.oracle.describe import describe_resource
from erpbridge.sims.oracle.errors import OracleError
from erpbridge.sims.oracle.filter import plan_q
from erpbridge.sims.oracle.model import RESOURCES, ChildDef, ResourceDef
from erpbridge.sims.oracle.query import (
    QueryError,
    parse_expand,
    parse_fields,
    parse_order_by,
)
from erpbridge.sims.oracle.rules import Rules
from erpbridge.sims.oracle.state import OracleState, Row
from erpbridge.sims.oracle.wire import (
    COLLECTION_MEDIA_TYPE,
    ITEM_MEDIA_TYPE,
    View,
    etag_of,
    item_key,
    render_child_collection,
    render_collection,
    render_item,
)

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "Answer", "Call", "OracleService"]

DEFAULT_LIMIT = 25
MAX_LIMIT = 500  # reference §1.3: "keep <= 500"; larger limits are cut to this
_JSON_TYPES = ("application/json", ITEM_MEDIA_TYPE, "application/vnd.oracle.adf.resource+json")


@dataclass(slots=True)
class Call:
    """One request, already authenticated. ``payload`` is the parsed JSON body, if any."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    root: str
    payload: object = None
    framework_version: int = 1
    #: the REST family of the path (``fscmRestApi`` or ``crmRestApi``).
    family: str = "fscmRestApi"


@dataclass(slots=True)
class Answer:
    """What to send back: status, JSON body (None = empty) and headers."""

    status: int
    body: object = None
    media_type: str = ITEM_MEDIA_TYPE
    headers: dict[str, str] = field(default_factory=dict)


def _int_param(query: Mapping[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit():
        raise QueryError(f"{name}={raw!r} is not a non-negative integer", parameter=name)
    return int(raw)


_RELS = frozenset({"self", "canonical", "child", "parent", "lov", "enclosure"})


def _link_rels(raw: str | None) -> frozenset[str] | None:
    """``links=self,canonical`` -> the relations to show (reference §1.3 lists ``links=``)."""
    if raw is None or raw == "":
        return None
    rels = frozenset(r.strip() for r in raw.split(",") if r.strip())
    unknown = sorted(rels - _RELS)
    if unknown:
        raise QueryError(f"links: unknown relation {unknown[0]!r}", parameter="links")
    return rels


def _sort_value(value: object) -> tuple[int, object]:
    if value is None:
        return (1, 0)
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, int | float):
        return (0, float(value))
    return (0, str(value))


def _by(name: str) -> Callable[[tuple[str, Row]], tuple[int, object]]:
    def key(pair: tuple[str, Row]) -> tuple[int, object]:
        return _sort_value(pair[1].get(name))

    return key


class OracleService:
    """The resources of one simulated pod."""

    def __init__(
        self, state: OracleState, *, child_limit: int | None = None, auto_accounts: bool = True
    ) -> None:
        self.state = state
        self.rules = Rules(state, auto_accounts=auto_accounts)
        self.child_limit = child_limit

    def handle(self, call: Call) -> Answer:
        """Answer one call.

        Raises:
            OracleError: any refusal (400/404/405/409/412/415).
            QueryError: a bad query parameter (400).
        """
        parts = [p for p in call.path.strip("/").split("/") if p]
        if not parts:
            return self._catalog(call)
        resource = RESOURCES.get(parts[0])
        if resource is None or resource.family != call.family:
            raise OracleError(404, f"The resource {parts[0]} doesn't exist.")
        if len(parts) == 1:
            return self._collection(call, resource)
        if len(parts) == 2 and parts[1] == "describe":
            if call.method != "GET":
                raise OracleError(405, "describe supports GET only.")
            href = f"{call.root}/{resource.name}/describe"
            body = describe_resource(resource, href)
            return Answer(200, body, "application/vnd.oracle.adf.description+json")
        key = self._resolve_key(resource, parts[1])
        if len(parts) == 2:
            return self._item(call, resource, key)
        if parts[2] != "child" or len(parts) not in (4, 5):
            raise OracleError(404, f"The path {call.path} doesn't exist.")
        child = resource.child(parts[3])
        if child is None:
            raise OracleError(404, f"The child {parts[3]} of {resource.name} doesn't exist.")
        if len(parts) == 4:
            return self._child_collection(call, resource, key, child)
        return self._child_item(call, resource, key, child, parts[4])

    # --- helpers ------------------------------------------------------------------------

    def _resolve_key(self, resource: ResourceDef, raw: str) -> str:
        if resource.alt_key and ":" in raw and resource.name == "salesOrdersForOrderHub":
            system, _, source_id = raw.partition(":")
            found = self.state.by_alt_key(resource.name, (system, source_id))
            if found is None:
                raise OracleError(404, f"The resource {resource.name}/{raw} doesn't exist.")
            return found
        if self.state.get(resource.name, raw) is None:
            raise OracleError(404, f"The resource {resource.name}/{raw} doesn't exist.")
        return raw

    def _view(self, call: Call, resource: ResourceDef) -> View:
        fields, child_fields = parse_fields(call.query.get("fields", "") or "")
        expand_raw = call.query.get("expand", "") or ""
        known = [c.name for c in resource.children]
        view = View(
            fields=fields,
            child_fields=child_fields,
            expand=parse_expand(expand_raw, known) if expand_raw else [],
            only_data=call.query.get("onlyData", "").lower() == "true",
            framework_version=call.framework_version,
            child_limit=self.child_limit,
            link_rels=_link_rels(call.query.get("links")),
        )
        view.check(resource)
        return view

    def _payload(self, call: Call) -> dict[str, object]:
        if not isinstance(call.payload, dict):
            raise OracleError(400, "The request body must be a JSON object.", "", "/")
        return cast(dict[str, object], call.payload)

    def _check_if_match(self, call: Call, key: str, row: Row) -> None:
        wanted = call.headers.get("if-match")
        if wanted is None or wanted.strip() == "*":
            return
        current = etag_of(key, row)
        if current not in [t.strip() for t in wanted.split(",")]:
            raise OracleError(
                412, "The resource was changed since it was read (ETag mismatch).", "", ""
            )

    def _item_answer(
        self, call: Call, resource: ResourceDef, key: str, status: int, view: View | None = None
    ) -> Answer:
        row = self.state.get(resource.name, key)
        if row is None:  # deleted in the same batch
            raise OracleError(404, f"The resource {resource.name}/{key} doesn't exist.")
        if view is None:
            view = View(
                expand=[c.name for c in resource.children], framework_version=call.framework_version
            )
        href = f"{call.root}/{resource.name}/{key}"
        body = render_item(resource, row, href, view)
        headers = {"ETag": etag_of(key, row)}
        if status == 201:
            headers["Location"] = href
        return Answer(status, body, ITEM_MEDIA_TYPE, headers)

    # --- routes -------------------------------------------------------------------------

    def _catalog(self, call: Call) -> Answer:
        if call.method != "GET":
            raise OracleError(405, "The version root supports GET and the batch media type.")
        links = [
            {"rel": "child", "href": f"{call.root}/{r.name}", "name": r.name, "kind": "collection"}
            for r in RESOURCES.values()
            if r.family == call.family
        ]
        body = {
            "links": links,
            "adf:extension": {"defaultFrameworkVersion": "1", "allowedFrameworkVersions": "1-9"},
        }
        return Answer(200, body, "application/json")

    def _collection(self, call: Call, resource: ResourceDef) -> Answer:
        if call.method == "POST":
            upsert = call.headers.get("upsert-mode", "").strip().lower() == "true"
            key, created = self.rules.create(resource, self._payload(call), upsert=upsert)
            return self._item_answer(call, resource, key, 201 if created else 200)
        if call.method != "GET":
            raise OracleError(405, f"{call.method} isn't supported on a collection.")
        if call.query.get("finder"):
            raise QueryError("finder: no finders are supported by this service", parameter="finder")
        limit = min(_int_param(call.query, "limit", DEFAULT_LIMIT), MAX_LIMIT)
        if limit == 0:
            raise QueryError("limit=0: a page holds at least one record", parameter="limit")
        offset = _int_param(call.query, "offset", 0)
        view = self._view(call, resource)
        q = call.query.get("q")
        if q:
            plan = plan_q(q, resource.attr, framework_version=call.framework_version)
            hint, floor, pred = plan.hint, plan.floor, plan.predicate
            if hint is not None:
                rows = self.state.lookup(resource.name, hint[0], hint[1])
            elif floor is not None:
                rows = self.state.rows_from(resource.name, floor.attr, floor.value)
            else:
                rows = self.state.rows(resource.name)
            rows = [(k, r) for k, r in rows if pred(r)]
        else:
            rows = self.state.rows(resource.name)
        order = call.query.get("orderBy")
        if order:
            for name, desc in reversed(parse_order_by(order, resource.attr)):
                rows.sort(key=_by(name), reverse=desc)
        page = rows[offset : offset + limit]
        href_base = f"{call.root}/{resource.name}"
        items = [
            render_item(resource, r, f"{href_base}/{item_key(resource, r)}", view) for _, r in page
        ]
        total = len(rows) if call.query.get("totalResults", "").lower() == "true" else None
        body = render_collection(
            items,
            has_more=offset + len(page) < len(rows),
            limit=limit,
            offset=offset,
            total=total,
            href=href_base,
            name=resource.name,
            only_data=view.only_data,
        )
        if view.link_rels is not None and "links" in body:
            body["links"] = view.shown(cast(list[Row], body["links"]))
        return Answer(200, body, COLLECTION_MEDIA_TYPE)

    def _item(self, call: Call, resource: ResourceDef, key: str) -> Answer:
        row = self.state.get(resource.name, key)
        if row is None:
            raise OracleError(404, f"The resource {resource.name}/{key} doesn't exist.")
        if call.method == "GET":
            view = self._view(call, resource)
            if call.headers.get("if-none-match", "").strip() == etag_of(key, row):
                return Answer(304, None, ITEM_MEDIA_TYPE, {"ETag": etag_of(key, row)})
            return self._item_answer(call, resource, key, 200, view)
        if call.method in ("PATCH", "PUT"):
            self._check_if_match(call, key, row)
            self.rules.update(resource, key, self._payload(call), replace=call.method == "PUT")
            return self._item_answer(call, resource, key, 200)
        if call.method == "DELETE":
            self._check_if_match(call, key, row)
            self.rules.delete(resource, key)
            return Answer(204)
        raise OracleError(405, f"{call.method} isn't supported on an item.")

    def _child_collection(
        self, call: Call, resource: ResourceDef, key: str, child: ChildDef
    ) -> Answer:
        if call.method == "POST":
            child_key = self.rules.create_child(resource, key, child, self._payload(call))
            return self._child_item(call, resource, key, child, child_key, status=201)
        if call.method != "GET":
            raise OracleError(405, f"{call.method} isn't supported on a child collection.")
        row = self.state.get(resource.name, key) or {}
        limit = min(_int_param(call.query, "limit", DEFAULT_LIMIT), MAX_LIMIT)
        offset = _int_param(call.query, "offset", 0)
        only_data = call.query.get("onlyData", "").lower() == "true"
        view = View(only_data=only_data, framework_version=max(call.framework_version, 3))
        rows = cast(list[Row], row.get(child.name) or [])
        href = f"{call.root}/{resource.name}/{key}/child/{child.name}"
        body = render_child_collection(child, rows, href, view, limit=limit, offset=offset)
        return Answer(200, body, COLLECTION_MEDIA_TYPE)

    def _child_item(
        self,
        call: Call,
        resource: ResourceDef,
        key: str,
        child: ChildDef,
        child_key: str,
        status: int = 200,
    ) -> Answer:
        if status == 200 and call.method == "PATCH":
            payload = {**self._payload(call), child.key: child_key}
            self.rules.update(resource, key, {child.name: [payload]})
        elif status == 200 and call.method != "GET":
            raise OracleError(405, f"{call.method} isn't supported on a child item.")
        row = self.state.get(resource.name, key) or {}
        rows = cast(list[Row], row.get(child.name) or [])
        match = next((r for r in rows if str(r.get(child.key)) == child_key), None)
        if match is None:
            raise OracleError(404, f"The {child.name} record {child_key} doesn't exist.")
        href = f"{call.root}/{resource.name}/{key}/child/{child.name}/{child_key}"
        only_data = call.query.get("onlyData", "").lower() == "true"
        body = {a.name: match.get(a.name) for a in child.attrs}
        if not only_data:
            body["links"] = [{"rel": "self", "href": href, "name": child.name, "kind": "item"}]
        headers = {"Location": href} if status == 201 else {}
        return Answer(status, body, ITEM_MEDIA_TYPE, headers)


def _refuse_constant(name: str) -> object:
    # Python accepts NaN/Infinity; JSON (and Oracle) do not.
    raise OracleError(400, f"The request body isn't valid JSON: {name} is not a number.", "", "/")


def parse_body(raw: bytes) -> object:
    """The JSON body of a request, or a 400 that says what is wrong with it."""
    if not raw.strip():
        return None
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OracleError(400, f"The request body isn't valid JSON: {exc}.", "", "/") from None
    except RecursionError:
        raise OracleError(400, "The request body is nested too deeply.", "", "/") from None
