"""The ``oracle`` connector: every spi operation over Oracle Fusion Cloud REST (see README.md).

- ``check``: GET the version root (proves URL, credentials and API version).
- ``describe``: each object's ``/describe`` -> Catalog (describe.py).
- ``read_changes``: ``LastUpdateDate`` keyset pages with the id tie-break (cursor.py).
- ``get`` / ``find``: ``q=<attr> IN (...)``, chunked; opaque keys are read item by item.
- ``write``: the batch media type, a result per op (writer.py), natural-key lookup before
  creates, ``Upsert-Mode: true`` where the resource has an alternate key; a change of a
  sales order Oracle has is a revision to its ``System:Id`` key, or nothing when the
  content is Oracle's already (revisions.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import httpx
import structlog

from erpbridge.connectors._http import build_client
from erpbridge.connectors.oracle.client import JsonObject, OracleClient
from erpbridge.connectors.oracle.cursor import after_filter, literal, parse_stamp, start_filter
from erpbridge.connectors.oracle.describe import to_object_schema
from erpbridge.connectors.oracle.errors import SYSTEM, JsonValue
from erpbridge.connectors.oracle.objects import OBJECTS, STAMP_FIELD, ObjectSpec
from erpbridge.connectors.oracle.revisions import (
    plan_revision,
    refusal_hint,
    unknown_order_cancel,
)
from erpbridge.connectors.oracle.settings import OracleSettings
from erpbridge.connectors.oracle.writer import (
    PlannedPart,
    change_indicator,
    failed_result,
    plan_part,
    result_of,
)
from erpbridge.spi.errors import ConnectorError, NotFoundError, ValidationError
from erpbridge.spi.records import (
    ChangePage,
    CheckResult,
    Cursor,
    Record,
    WriteMode,
    WriteOp,
    WriteResult,
)
from erpbridge.spi.schema import Catalog, ObjectSchema
from erpbridge.spi.settings import Limits

__all__ = ["DEFAULT_BATCH_SIZE", "OracleConnector"]

_log = structlog.get_logger(__name__)

#: parts per batch request when the connection's limits do not say.
DEFAULT_BATCH_SIZE = 50
#: values per ``IN (...)`` (keeps URLs short).
_CHUNK = 40
#: Oracle pages at most 500 records (reference §1.3).
_MAX_PAGE = 500
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _strip(value: object) -> object:
    """Wire JSON -> record values: links dropped, child collections as lists of records."""
    if isinstance(value, dict):
        if "items" in value and isinstance(value.get("items"), list) and "hasMore" in value:
            return [_strip(v) for v in cast(list[object], value["items"])]
        return {k: _strip(v) for k, v in value.items() if k != "links"}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _self_key(item: Mapping[str, object]) -> str | None:
    for link in cast(list[object], item.get("links") or []):
        if isinstance(link, dict) and link.get("rel") == "self" and link.get("href"):
            return str(link["href"]).rstrip("/").rsplit("/", 1)[-1]
    return None


class OracleConnector:
    """One connection to one Fusion pod.

    Args:
        settings: the validated connection settings.
        http: the caller's pooled client; None makes (and later closes) one of our own.
    """

    system = SYSTEM

    def __init__(self, settings: OracleSettings, http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.limits: Limits = settings.limits
        self._owns_http = http is None
        if http is None:
            ca_file = Path(settings.ca_file) if settings.ca_file else None
            http = build_client(settings.limits, ca_file=ca_file)
        self.http = http
        self.client = OracleClient(settings, http)

    def __repr__(self) -> str:
        return f"OracleConnector({self.settings.base_url!r})"

    # --- objects and records ----------------------------------------------------------------

    def _spec(self, object: str) -> tuple[ObjectSpec, str]:
        spec = OBJECTS.get(object)
        if spec is None:
            known = ", ".join(sorted(OBJECTS))
            raise NotFoundError(
                f"unknown object {object!r} (known: {known})", system=SYSTEM, object=object
            )
        return spec, self.settings.resources.get(object, spec.resource)

    def _record(self, object: str, spec: ObjectSpec, item: Mapping[str, object]) -> Record:
        raw_id = item.get(spec.id_field) if spec.id_field else _self_key(item)
        if raw_id is None or raw_id == "":
            raise ConnectorError(
                f"a record without {spec.id_field or 'a self link'} in the answer",
                system=SYSTEM,
                object=object,
            )
        fields = cast(dict[str, JsonValue], _strip(item))
        stamp = parse_stamp(item.get(STAMP_FIELD))
        version = change_indicator(item) or (
            str(item.get(STAMP_FIELD)) if item.get(STAMP_FIELD) else None
        )
        return Record(object=object, id=str(raw_id), fields=fields, version=version, stamp=stamp)

    async def _records(
        self, object: str, spec: ObjectSpec, resource: str, items: list[JsonObject]
    ) -> list[Record]:
        """Records of a page; expanded children the server paged are read to the end."""
        records: list[Record] = []
        for item in items:
            for name in spec.children:
                value = item.get(name)
                if isinstance(value, dict) and value.get("hasMore") is True:
                    rest = await self._rest_of_children(object, spec, resource, item, name, value)
                    item = {**item, name: rest}
            records.append(self._record(object, spec, item))
        return records

    async def _rest_of_children(
        self,
        object: str,
        spec: ObjectSpec,
        resource: str,
        item: JsonObject,
        name: str,
        first: JsonObject,
    ) -> list[JsonValue]:
        key = item.get(spec.id_field) if spec.id_field else _self_key(item)
        children = list(cast(list[JsonValue], first.get("items") or []))
        while True:
            params = {"onlyData": "true", "limit": str(_MAX_PAGE), "offset": str(len(children))}
            body = await self.client.get(
                f"/{resource}/{key}/child/{name}", params, object=object, family=spec.family
            )
            page = body.get("items")
            if not isinstance(page, list):
                raise ConnectorError(
                    f"child {name} answer without an items list", system=SYSTEM, object=object
                )
            children.extend(page)
            if body.get("hasMore") is not True or not page:
                return children

    @staticmethod
    def _params(
        spec: ObjectSpec, fields: Collection[str] | None = None, **extra: str
    ) -> dict[str, str]:
        # Only the self link: it carries opaque keys and the change indicator (the record's
        # version, which moves on every change even within one millisecond).
        params = {"links": "self", **extra}
        # The spi's field list: child collections only when asked (each is a join and a
        # nested page in the answer). Attributes are not narrowed with ``fields=``: the
        # version and the id come from the self link and the stamp, which must stay.
        children = [c for c in spec.children if fields is None or c in fields]
        if children:
            params["expand"] = ",".join(children)
        return params

    async def _page(
        self, object: str, resource: str, params: Mapping[str, str]
    ) -> tuple[list[JsonObject], bool]:
        family = OBJECTS[object].family
        body = await self.client.get(f"/{resource}", params, object=object, family=family)
        items = body.get("items")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ConnectorError(
                "collection answer without an items list", system=SYSTEM, object=object
            )
        return cast(list[JsonObject], items), body.get("hasMore") is True

    # --- check and describe ---------------------------------------------------------------

    async def check(self) -> CheckResult:
        """GET the version root: URL, credentials and API version in one call. Never raises."""
        try:
            await self.client.get("/")
        except ConnectorError as exc:
            return CheckResult(False, str(exc), {"error_class": type(exc).__name__})
        return CheckResult(True, "", {"api_version": self.settings.api_version})

    async def describe(self) -> Catalog:
        """Every known object's schema, from its ``/describe``.

        An object the pod does not serve (404: ``customerCreditProfiles`` has no confirmed
        Oracle name, a pod may lack a family) is left out of the catalog, so a check names
        that object instead of failing for all of them.
        """
        objects: dict[str, ObjectSchema] = {}
        for object in OBJECTS:
            spec, resource = self._spec(object)
            try:
                answer = await self.client.get(
                    f"/{resource}/describe", object=object, family=spec.family
                )
            except NotFoundError:
                _log.info("oracle.describe_missing", object=object, resource=resource)
                continue
            objects[object] = to_object_schema(object, spec, answer)
        return Catalog(objects)

    # --- reading ----------------------------------------------------------------------------

    async def read_changes(
        self,
        object: str,
        cursor: Cursor | None,
        page_size: int,
        fields: Collection[str] | None = None,
    ) -> AsyncIterator[ChangePage]:
        """Pages in (LastUpdateDate, id) order from ``cursor.read_from`` on."""
        spec, resource = self._spec(object)
        limit = str(max(1, min(page_size, _MAX_PAGE)))
        start = cursor.read_from if cursor else _EPOCH
        position = cursor or Cursor(stamp=_EPOCH)
        if spec.id_field is None:
            pages = self._read_by_offset(object, spec, resource, start, limit, position, fields)
            async for page in pages:
                yield page
            return
        q = start_filter(start)
        order = f"{STAMP_FIELD}:asc,{spec.id_field}:asc"
        while True:
            params = self._params(spec, fields, q=q, orderBy=order, limit=limit)
            items, has_more = await self._page(object, resource, params)
            records = await self._records(object, spec, resource, items)
            for record in records:
                if record.stamp is not None:
                    position = position.advance(record.stamp, record.id)
            yield ChangePage(records, position, has_more)
            if not has_more or not items:
                return
            last = items[-1]
            if not last.get(STAMP_FIELD):
                raise ConnectorError(
                    f"a record without {STAMP_FIELD}: cannot page past it",
                    system=SYSTEM,
                    object=object,
                )
            q = after_filter(str(last[STAMP_FIELD]), spec.id_field, str(last[spec.id_field]))

    async def _read_by_offset(
        self,
        object: str,
        spec: ObjectSpec,
        resource: str,
        start: datetime,
        limit: str,
        position: Cursor,
        fields: Collection[str] | None,
    ) -> AsyncIterator[ChangePage]:
        """Opaque-key objects: one query, offset pages (the cursor overlap covers shifts)."""
        offset = 0
        while True:
            params = self._params(
                spec, fields, q=start_filter(start), orderBy=f"{STAMP_FIELD}:asc", limit=limit
            )
            params["offset"] = str(offset)
            items, has_more = await self._page(object, resource, params)
            records = sorted(
                await self._records(object, spec, resource, items),
                key=lambda r: (r.stamp or _EPOCH, r.id),
            )
            for record in records:
                if record.stamp is not None:
                    position = position.advance(record.stamp, record.id)
            yield ChangePage(records, position, has_more)
            if not has_more or not items:
                return
            offset += len(items)

    async def get(
        self, object: str, ids: Sequence[str], fields: Collection[str] | None = None
    ) -> list[Record]:
        """The records with these ids (missing ids are absent)."""
        spec, resource = self._spec(object)
        if spec.id_field is None:
            found: list[Record] = []
            for record_id in dict.fromkeys(ids):
                try:
                    item = await self.client.get(
                        f"/{resource}/{record_id}", object=object, family=spec.family
                    )
                except NotFoundError:
                    continue
                found.extend(await self._records(object, spec, resource, [item]))
            return found
        if not spec.numeric_id:
            return await self._where_in(object, spec, resource, spec.id_field, list(ids), fields)
        # A numeric id attribute: an id that is not a number cannot exist.
        numeric: list[JsonValue] = [int(i) for i in ids if i.isascii() and i.isdigit()]
        return await self._where_in(object, spec, resource, spec.id_field, numeric, fields)

    async def find(self, object: str, key_field: str, values: Sequence[object]) -> list[Record]:
        """Records whose ``key_field`` is one of ``values`` (any queryable attribute)."""
        spec, resource = self._spec(object)
        if not key_field.isidentifier():
            raise ValidationError(
                f"{key_field!r} is not an attribute name", field=key_field, system=SYSTEM
            )
        return await self._where_in(object, spec, resource, key_field, list(values))

    async def _where_in(
        self,
        object: str,
        spec: ObjectSpec,
        resource: str,
        field: str,
        values: list[object],
        fields: Collection[str] | None = None,
    ) -> list[Record]:
        records: list[Record] = []
        unique = list(dict.fromkeys(v for v in values if v is not None))
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start : start + _CHUNK]
            q = f"{field} IN ({', '.join(literal(v) for v in chunk)})"
            offset = 0
            while True:
                params = self._params(spec, fields, q=q, limit=str(_MAX_PAGE), offset=str(offset))
                items, has_more = await self._page(object, resource, params)
                records.extend(await self._records(object, spec, resource, items))
                if not has_more or not items:
                    break
                offset += len(items)
        return records

    # --- writing ----------------------------------------------------------------------------

    async def write(self, object: str, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Write through batch requests; one result per op, in order."""
        spec, resource = self._spec(object)
        results: list[WriteResult | None] = [None] * len(ops)
        size = self.limits.batch_size or DEFAULT_BATCH_SIZE
        for start in range(0, len(ops), size):
            chunk = list(enumerate(ops))[start : start + size]
            existing = await self._existing(object, [op for _, op in chunk])
            current = await self._current(object, spec, chunk, existing)
            planned: list[PlannedPart] = []
            for index, op in chunk:
                outcome = self._plan(index, op, spec, resource, existing, current.get(index))
                if isinstance(outcome, WriteResult):
                    results[index] = outcome
                else:
                    planned.append(outcome)
            upsert = bool(spec.alt_key) and any(
                op.mode in (WriteMode.CREATE, WriteMode.UPSERT) for _, op in chunk
            )
            for index, result in await self._send(object, spec, resource, planned, upsert):
                results[index] = result
        _log.info("oracle.write_done", object=object, records=len(ops))
        return [r for r in results if r is not None]

    @staticmethod
    def _plan(
        index: int,
        op: WriteOp,
        spec: ObjectSpec,
        resource: str,
        existing: Mapping[tuple[str, str], Record],
        current: Record | None,
    ) -> PlannedPart | WriteResult:
        """A part for ``op``: a revision of an order Oracle has, else the plain plan."""
        if spec.revisable and op.mode is not WriteMode.DELETE:
            if current is not None:
                return plan_revision(index, op, resource, current)
            refused = unknown_order_cancel(op, resource)
            if refused is not None:
                return refused
        return plan_part(index, op, resource, existing)

    async def _current(
        self,
        object: str,
        spec: ObjectSpec,
        chunk: Sequence[tuple[int, WriteOp]],
        existing: Mapping[tuple[str, str], Record],
    ) -> dict[int, Record]:
        """Revisable objects: the record each non-delete op changes, as Oracle has it now.

        Found by the natural key (already read for the pre-create lookup) or, for an op
        without one, by its target id.
        """
        if not spec.revisable:
            return {}
        found: dict[int, Record] = {}
        by_target: dict[int, str] = {}
        for index, op in chunk:
            if op.mode is WriteMode.DELETE:
                continue
            record = None
            if op.key_field and op.key_value is not None:
                record = existing.get((op.key_field, str(op.key_value)))
            if record is not None:
                found[index] = record
            elif op.target_id:
                by_target[index] = op.target_id
        if by_target:
            records = {r.id: r for r in await self.get(object, list(by_target.values()))}
            for index, target in by_target.items():
                if target in records:
                    found[index] = records[target]
        return found

    async def _existing(self, object: str, ops: Sequence[WriteOp]) -> dict[tuple[str, str], Record]:
        """Records already holding the natural keys of creates/upserts (pre-create lookup)."""
        wanted: dict[str, list[JsonValue]] = {}
        for op in ops:
            creating = op.mode in (WriteMode.CREATE, WriteMode.UPSERT)
            if creating and op.key_field and op.key_value is not None:
                wanted.setdefault(op.key_field, []).append(op.key_value)
        found: dict[tuple[str, str], Record] = {}
        for key_field, values in wanted.items():
            for record in await self.find(object, key_field, values):
                found.setdefault((key_field, str(record.fields.get(key_field))), record)
        return found

    async def _send(
        self,
        object: str,
        spec: ObjectSpec,
        resource: str,
        planned: list[PlannedPart],
        upsert: bool,
    ) -> list[tuple[int, WriteResult]]:
        """Send parts; failing parts get their error, the rest is resent (all-or-nothing)."""
        done: list[tuple[int, WriteResult]] = []
        pending = list(planned)
        while pending:
            answer = await self.client.batch(
                [p.part for p in pending], upsert=upsert, object=object, family=spec.family
            )
            by_id = {str(part.get("id")): part for part in answer.parts}
            if answer.ok:
                for plan in pending:
                    part = by_id.get(str(plan.part["id"]), {})
                    payload = part.get("payload")
                    new_id = None
                    if isinstance(payload, dict):
                        raw = payload.get(spec.id_field) if spec.id_field else _self_key(payload)
                        new_id = None if raw is None else str(raw)
                    done.append((plan.index, result_of(plan, part, new_id)))
                return done
            failed = [p for p in pending if str(p.part["id"]) in by_id]
            if not failed:
                raise ConnectorError(
                    "batch refused without naming a part we sent", system=SYSTEM, object=object
                )
            for plan in failed:
                result = failed_result(plan, by_id[str(plan.part["id"])], object)
                error = result.error
                if plan.current is not None and isinstance(error, ValidationError):
                    error.hint = error.hint or refusal_hint(plan.current, plan.op.fields)
                done.append((plan.index, result))
            pending = [p for p in pending if p not in failed]
        return done

    async def aclose(self) -> None:
        """Close our own HTTP client (the caller closes one it passed in)."""
        if self._owns_http:
            await self.http.aclose()
