"""The ``sap`` connector: every spi operation over SAP S/4HANA's OData V2 APIs.

- ``check``: CSRF token fetch (proves URL, credentials, session) and one ``$metadata``.
- ``describe``: ``$metadata`` of each service -> Catalog (describe.py).
- ``read_changes``: ``LastChangeDateTime`` (or date + time) keyset pages, ``__next`` followed
  (cursor.py); headers without a stamp of their own through their items' stamps
  (children.py); other objects without a stamp are read whole in key order with ``$skip``.
- ``get`` / ``find``: ``$filter`` with ``or``-ed equalities, chunked.
- ``write``: one ``$batch`` per chunk, one changeset per record, a result per record; a
  create (or upsert) with a natural key looks it up first, so a retried create never makes a
  duplicate (DESIGN.md §3.2: API_SALES_ORDER_SRV has no idempotency key of its own); an
  update carrying lines reads the record first and changes its items in the same
  changeset (lines.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Sequence
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx
import structlog

from erpbridge.connectors._http import build_client
from erpbridge.connectors.sap.batch import (
    BatchOperation,
    PartAnswer,
    decode_batch_answer,
    encode_batch,
)
from erpbridge.connectors.sap.children import CHILD_STAMPS, read_by_children
from erpbridge.connectors.sap.client import SapClient
from erpbridge.connectors.sap.cursor import STAMPS, literal
from erpbridge.connectors.sap.describe import EntitySetSchema, parse_metadata, to_object_schema
from erpbridge.connectors.sap.errors import SYSTEM, malformed_answer
from erpbridge.connectors.sap.records import to_record, to_records
from erpbridge.connectors.sap.settings import DEFAULT_SERVICES, SapSettings
from erpbridge.connectors.sap.writer import PlannedWrite, has_lines, plan_write, write_result
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
from erpbridge.spi.schema import Catalog
from erpbridge.spi.settings import Limits

__all__ = ["DEFAULT_BATCH_SIZE", "EXPAND", "SapConnector"]

_log = structlog.get_logger(__name__)

#: records per $batch when the connection's limits do not say.
DEFAULT_BATCH_SIZE = 100
#: requests per $batch call: orders with many changed items split a chunk into several
#: calls (a changeset is never split; Gateway's limit is by time, reference §4 UNSURE).
MAX_BATCH_REQUESTS = 500
#: ids or values per $filter (keeps URLs well under Gateway's 8 KB line limit).
_FILTER_CHUNK = 40
#: nested lines read with each object (to-many navigations a flow needs).
EXPAND: dict[str, str] = {
    "A_SalesOrder": "to_Item",
    "A_BusinessPartner": "to_BusinessPartnerAddress",
    "A_Product": "to_Description",
    "A_MaterialStock": "to_MatlStkInAcctMod",
    "A_PurchaseRequisitionHeader": "to_PurchaseReqnItem",
    "A_MaterialDocumentHeader": "to_MaterialDocumentItem",
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SapConnector:
    """One connection to one SAP system.

    Args:
        settings: the validated connection settings.
        http: the caller's pooled client; None makes (and later closes) one of our own.
    """

    system = SYSTEM

    def __init__(self, settings: SapSettings, http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.limits: Limits = settings.limits
        self._owns_http = http is None
        if http is None:
            ca_file = Path(settings.ca_file) if settings.ca_file else None
            http = build_client(settings.limits, ca_file=ca_file)
        self.http = http
        self.client = SapClient(settings, http)
        self._schemas: dict[str, dict[str, EntitySetSchema]] = {}
        self._schema_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SapConnector({self.settings.base_url!r})"

    # --- schema ---------------------------------------------------------------------------

    def _services(self) -> list[str]:
        table = {**DEFAULT_SERVICES, **self.settings.services}
        return sorted(set(table.values()))

    async def _service_schema(self, service: str) -> dict[str, EntitySetSchema]:
        async with self._schema_lock:
            if service not in self._schemas:
                xml = await self.client.get_metadata(service)
                self._schemas[service] = parse_metadata(service, xml)
            return self._schemas[service]

    async def _set_schema(self, object: str) -> EntitySetSchema:
        service = self.settings.service_of(object)
        if service is None:
            known = ", ".join(sorted({**DEFAULT_SERVICES, **self.settings.services}))
            raise NotFoundError(
                f"no OData service known for object {object!r} (known: {known}; add it "
                "under services: in the connection)",
                system=SYSTEM,
                object=object,
            )
        sets = await self._service_schema(service)
        if object not in sets:
            raise NotFoundError(
                f"service {service} has no entity set {object!r}", system=SYSTEM, object=object
            )
        return sets[object]

    # --- records ----------------------------------------------------------------------------

    def _sets(self, entity_set: EntitySetSchema) -> dict[str, EntitySetSchema]:
        return self._schemas.get(entity_set.service, {})

    async def _query(
        self,
        entity_set: EntitySetSchema,
        params: dict[str, str],
        limit: int | None = None,
        fields: Collection[str] | None = None,
    ) -> list[Record]:
        """Run a collection query, following ``__next`` until ``limit`` records or the end.

        ``fields`` (the spi's hint; None: everything) leaves out the lines nobody asked
        for and selects only the asked properties with those the record needs (keys,
        change stamp).
        """
        params = {**params, **_shape(entity_set, fields)}
        d = await self.client.get_json(
            entity_set.service, entity_set.name, params=params, object=entity_set.name
        )
        records = to_records(entity_set, d, self._sets(entity_set))
        while isinstance(d.get("__next"), str) and (limit is None or len(records) < limit):
            d = await self.client.get_absolute_json(str(d["__next"]), entity_set.name)
            records += to_records(entity_set, d, self._sets(entity_set))
        return records

    # --- spi --------------------------------------------------------------------------------

    async def check(self) -> CheckResult:
        """Fetch a CSRF token and one ``$metadata``; never raises."""
        service = self._services()[0]
        try:
            await self.client.fetch_token(service)
            await self._service_schema(service)
        except ConnectorError as exc:
            return CheckResult(False, reason=str(exc), details={"base_url": self.settings.base_url})
        return CheckResult(
            True,
            reason=f"connected to {self.settings.base_url} as {self.settings.username}",
            details={"base_url": self.settings.base_url, "service": service},
        )

    async def describe(self) -> Catalog:
        """Every entity set of the configured services; services the system lacks are skipped."""
        objects = {}
        for service in self._services():
            try:
                sets = await self._service_schema(service)
            except NotFoundError:
                _log.warning("sap.service_missing", service=service)
                continue
            for name, entity_set in sets.items():
                spec = STAMPS.get(name) or CHILD_STAMPS.get(name)
                objects[name] = to_object_schema(
                    entity_set, sets, spec.field_name if spec else None
                )
        return Catalog(objects)

    async def read_changes(
        self,
        object: str,
        cursor: Cursor | None,
        page_size: int,
        fields: Collection[str] | None = None,
    ) -> AsyncIterator[ChangePage]:
        """Pages of records changed at or after ``cursor.read_from`` in (stamp, id) order."""
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        entity_set = await self._set_schema(object)
        child_spec = CHILD_STAMPS.get(object)
        if child_spec is not None:  # a header stamped through its items (children.py)
            # ``fields`` is not honoured here: the header's stamp and version come from
            # its items, so they are always read with it.
            item_set = await self._set_schema(child_spec.child_set)
            async for page in read_by_children(
                entity_set, item_set, child_spec, cursor, page_size, self._query, self.find
            ):
                yield page
            return
        spec = STAMPS.get(object)
        if spec is None or len(entity_set.keys) != 1:
            async for page in self._read_whole(entity_set, page_size, fields):
                yield page
            return
        key = entity_set.keys[0]
        read_from = cursor.read_from if cursor else None
        overlap = cursor.overlap if cursor else Cursor(stamp=_EPOCH).overlap
        position: tuple[datetime, str] | None = None
        yielded = False
        while True:
            params = {"$orderby": spec.orderby(key), "$top": str(page_size)}
            if position is not None:
                params["$filter"] = spec.after_filter(position[0], key, position[1])
            elif read_from is not None:
                params["$filter"] = spec.start_filter(read_from)
            records = (await self._query(entity_set, params, page_size, fields))[:page_size]
            has_more = len(records) == page_size
            if not records:
                if not yielded:
                    yield ChangePage([], cursor, has_more=False)
                return
            last = records[-1]
            position = (last.stamp or _EPOCH, last.id)
            kept = [r for r in records if read_from is None or (r.stamp or _EPOCH) >= read_from]
            if kept or not has_more:
                yield ChangePage(
                    kept, Cursor(stamp=position[0], last_id=last.id, overlap=overlap), has_more
                )
                yielded = True
            if not has_more:
                return

    async def _read_whole(
        self, entity_set: EntitySetSchema, page_size: int, fields: Collection[str] | None
    ) -> AsyncIterator[ChangePage]:
        """Objects without a change stamp (stock, customers): all records in key order."""
        skip = 0
        while True:
            params = {
                "$orderby": ",".join(f"{k} asc" for k in entity_set.keys),
                "$top": str(page_size),
                "$skip": str(skip),
            }
            records = (await self._query(entity_set, params, page_size, fields))[:page_size]
            has_more = len(records) == page_size
            yield ChangePage(records, None, has_more)
            if not has_more:
                return
            skip += page_size

    async def get(
        self, object: str, ids: Sequence[str], fields: Collection[str] | None = None
    ) -> list[Record]:
        """The records with these ids (missing ids are absent from the answer)."""
        entity_set = await self._set_schema(object)
        if object in CHILD_STAMPS:
            fields = None  # the version is a hash of the header with its items (children.py)
        if len(entity_set.keys) == 1:
            return await self._find(object, entity_set.keys[0], list(ids), fields)
        found: list[Record] = []
        params = _shape(entity_set, fields) or None
        for record_key in ids:
            path = quote(f"{entity_set.name}({record_key})", safe="()'=,")
            try:
                d = await self.client.get_json(
                    entity_set.service, path, params=params, object=object
                )
            except NotFoundError:
                continue
            found.append(to_record(entity_set, d, self._sets(entity_set)))
        return found

    async def find(self, object: str, key_field: str, values: Sequence[object]) -> list[Record]:
        """Records whose ``key_field`` equals one of ``values``."""
        return await self._find(object, key_field, values, None)

    async def _find(
        self,
        object: str,
        key_field: str,
        values: Sequence[object],
        fields: Collection[str] | None,
    ) -> list[Record]:
        entity_set = await self._set_schema(object)
        prop = entity_set.props.get(key_field)
        if prop is None:
            raise ValidationError(
                f"{object} has no property {key_field!r} to look records up by",
                field=key_field,
                system=SYSTEM,
                object=object,
            )
        unique = list(dict.fromkeys(v for v in values if v is not None))
        found: list[Record] = []
        for start in range(0, len(unique), _FILTER_CHUNK):
            chunk = unique[start : start + _FILTER_CHUNK]
            expression = " or ".join(f"{key_field} eq {literal(v, prop.edm_type)}" for v in chunk)
            found += await self._query(entity_set, {"$filter": expression}, None, fields)
        return found

    async def write(self, object: str, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Write through ``$batch``; one result per op, in order."""
        entity_set = await self._set_schema(object)
        results: list[WriteResult | None] = [None] * len(ops)
        size = self.limits.batch_size or DEFAULT_BATCH_SIZE
        indexed = list(enumerate(ops))
        for start in range(0, len(indexed), size):
            chunk = indexed[start : start + size]
            existing = await self._existing(entity_set, [op for _, op in chunk])
            current = await self._current(entity_set, [op for _, op in chunk])
            planned: list[PlannedWrite] = []
            for index, op in chunk:
                outcome = plan_write(
                    entity_set, index, op, existing, self._sets(entity_set), current
                )
                if isinstance(outcome, WriteResult):
                    results[index] = outcome
                else:
                    planned.append(outcome)
            for group in _by_request_count(planned):
                answers = await self._send_batch(entity_set, [p.requests for p in group])
                for plan, answer in zip(group, answers, strict=True):
                    results[plan.index] = write_result(
                        entity_set, plan, answer, self._sets(entity_set)
                    )
        _log.info("sap.write_done", object=object, records=len(ops))
        return [r for r in results if r is not None]

    async def aclose(self) -> None:
        """Close our own HTTP client (the caller closes one it passed in)."""
        if self._owns_http:
            await self.http.aclose()

    # --- write helpers ----------------------------------------------------------------------

    async def _existing(
        self, entity_set: EntitySetSchema, ops: Sequence[WriteOp]
    ) -> dict[tuple[str, str], Record]:
        """Records already holding the natural keys of creates/upserts (the pre-create lookup)."""
        wanted: dict[str, list[object]] = {}
        for op in ops:
            if op.key_field and op.key_value is not None and op.mode is not WriteMode.DELETE:
                if op.mode is WriteMode.UPDATE and op.target_id:
                    continue
                if op.mode is WriteMode.CREATE and op.key_checked:
                    continue  # the engine found no record with this key a moment ago
                wanted.setdefault(op.key_field, []).append(op.key_value)
        found: dict[tuple[str, str], Record] = {}
        for key_field, values in wanted.items():
            for record in await self.find(entity_set.name, key_field, values):
                found.setdefault((key_field, str(record.fields.get(key_field))), record)
        return found

    async def _current(
        self, entity_set: EntitySetSchema, ops: Sequence[WriteOp]
    ) -> dict[str, Record]:
        """Records (with their lines) that line-level updates by ``target_id`` change."""
        ids = [op.target_id for op in ops if op.target_id and has_lines(entity_set, op)]
        if not ids:
            return {}
        return {r.id: r for r in await self.get(entity_set.name, ids)}

    async def _send_batch(
        self, entity_set: EntitySetSchema, requests: list[list[BatchOperation]]
    ) -> list[list[PartAnswer]]:
        content_type, body = encode_batch(requests)
        response = await self.client.request(
            "POST",
            entity_set.service,
            "$batch",
            headers={"Content-Type": content_type},
            content=body,
            object=entity_set.name,
            ok=(202,),
        )
        try:
            answers = decode_batch_answer(
                response.headers.get("content-type", ""), response.content
            )
        except ValueError as exc:
            raise malformed_answer(response, str(exc), entity_set.name) from exc
        if len(answers) != len(requests):
            raise malformed_answer(
                response,
                f"{len(answers)} answers for {len(requests)} changesets",
                entity_set.name,
            )
        return answers


def _by_request_count(planned: list[PlannedWrite]) -> list[list[PlannedWrite]]:
    """Changesets grouped into $batch calls of at most MAX_BATCH_REQUESTS requests each
    (one changeset alone may exceed it: it is never split)."""
    groups: list[list[PlannedWrite]] = []
    size = 0
    for plan in planned:
        if groups and size + len(plan.requests) <= MAX_BATCH_REQUESTS:
            groups[-1].append(plan)
            size += len(plan.requests)
        else:
            groups.append([plan])
            size = len(plan.requests)
    return groups


def _shape(entity_set: EntitySetSchema, fields: Collection[str] | None) -> dict[str, str]:
    """``$expand`` (and ``$select``) of a read of ``entity_set`` for the asked ``fields``.

    None: every property and the lines of :data:`EXPAND`. A field list: the lines only
    when asked, and ``$select`` of the asked properties plus the keys and the change stamp
    (the record's id and version); no ``$select`` when that would be every property. An
    expanded navigation is named in ``$select`` too, as OData V2 wants (Gateway returns
    nothing of a navigation a ``$select`` leaves out).
    """
    expand = EXPAND.get(entity_set.name)
    if fields is None:
        return {"$expand": expand} if expand else {}
    out: dict[str, str] = {}
    if expand and expand in fields:
        out["$expand"] = expand
    spec = STAMPS.get(entity_set.name)
    needed = {*entity_set.keys, *((spec.stamp, spec.time) if spec else ())}
    chosen = [name for name in entity_set.props if name in fields or name in needed]
    if len(chosen) < len(entity_set.props):
        out["$select"] = ",".join([*chosen, *([out["$expand"]] if "$expand" in out else [])])
    return out
