"""The Salesforce connector: every spi operation on the REST API (DESIGN.md §5).

- ``check``: log in and read ``/limits`` (API usage); never raises.
- ``describe``: ``/sobjects/{T}/describe`` for the configured objects.
- ``read_changes``: SOQL on ``queryAll`` ordered by (SystemModstamp, Id), paged with
  ``nextRecordsUrl`` (:mod:`.cursor`); deletes arrive as tombstones.
- ``get``: ``POST /composite/sobjects/{T}`` with ids and fields (200 ids per call).
- ``find``: SOQL ``WHERE key IN (...)`` (200 values per query).
- ``write``: sObject Collections, 200 records per call, ``allOrNone=false``, one result
  per op: create (POST), update (PATCH with id), upsert (PATCH ``/{T}/{key}``; a create
  with a key is sent as an upsert so a repeated create cannot duplicate), delete
  (DELETE ``?ids=``; an already deleted record counts as deleted).
- ``parse_webhook``: Outbound Messaging (:mod:`.webhook`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping, Sequence

import httpx

from erpbridge.connectors.salesforce.batch import collection_call, failed, route, write_result
from erpbridge.connectors.salesforce.client import SalesforceClient, expect_mapping
from erpbridge.connectors.salesforce.cursor import (
    after_cursor,
    changes_query,
    record_from_row,
    soql_literal,
    soql_name,
)
from erpbridge.connectors.salesforce.describe import child_objects, schema_from_describe
from erpbridge.connectors.salesforce.errors import SYSTEM
from erpbridge.connectors.salesforce.lines import (
    complete_lines,
    flatten_lines,
    line_fields,
    narrowed,
    select_list,
    with_lines,
)
from erpbridge.connectors.salesforce.settings import SalesforceSettings
from erpbridge.connectors.salesforce.webhook import ACK_RESPONSE, parse_outbound_message
from erpbridge.spi.errors import ConnectorError, ValidationError
from erpbridge.spi.records import (
    Change,
    ChangePage,
    CheckResult,
    Cursor,
    Record,
    WriteOp,
    WriteOutcome,
    WriteResult,
)
from erpbridge.spi.schema import Catalog, FieldType, ObjectSchema
from erpbridge.spi.settings import Limits

__all__ = ["SalesforceConnector"]

#: sObject Collections take at most 200 records per call.
MAX_BATCH = 200
_MIN_QUERY_BATCH = 200


class SalesforceConnector:
    """One connection to one Salesforce org.

    Args:
        settings: validated connection settings.
        http: the HTTP client to use; closed by its owner (``owns_http`` says whether
            that is this connector).
    """

    system = "salesforce"

    def __init__(
        self, settings: SalesforceSettings, http: httpx.AsyncClient, *, owns_http: bool = False
    ) -> None:
        self.settings = settings
        self.limits: Limits = settings.limits
        self.client = SalesforceClient(settings, http)
        self._owns_http = owns_http
        self._schemas: dict[str, ObjectSchema] = {}

    def __repr__(self) -> str:
        return f"SalesforceConnector(base_url={self.settings.base_url!r})"

    # --- check and describe ----------------------------------------------------------

    async def check(self) -> CheckResult:
        """Log in, check the API version is offered, read the limits; never raises."""
        try:
            session = await self.client.login()
            versions = await self.client.call_json("GET", "/services/data/")
            offered = [
                str(v.get("version"))
                for v in (versions if isinstance(versions, list) else [])
                if isinstance(v, Mapping)
            ]
            if offered and self.settings.api_version not in offered:
                return CheckResult(
                    ok=False,
                    reason=f"API version {self.settings.api_version} is not offered by this org "
                    f"(it offers {offered[0]} to {offered[-1]})",
                )
            limits = expect_mapping(await self.client.call_json("GET", "limits/"), "limits")
        except ConnectorError as exc:
            return CheckResult(ok=False, reason=f"{type(exc).__name__}: {exc}")
        daily = limits.get("DailyApiRequests")
        details = {"instance_url": session.instance_url, "api_version": self.settings.api_version}
        if isinstance(daily, Mapping):
            details["api_requests_remaining"] = f"{daily.get('Remaining')}/{daily.get('Max')}"
        if session.org_id:
            details["org_id"] = session.org_id
        return CheckResult(ok=True, details=details)

    async def schema(self, object: str) -> ObjectSchema:
        """The described schema of ``object``, with its configured lines (cached).

        Raises:
            ConnectorError: a configured line relationship the object does not have.
        """
        if object not in self._schemas:
            name = soql_name(object)
            data = await self.client.call_json("GET", f"sobjects/{name}/describe", object=name)
            schema = schema_from_describe(data, object=name)
            rels = self.settings.lines.get(name, ())
            if rels:
                children = child_objects(data)
                lines = {}
                for rel in rels:
                    if rel not in children:
                        raise ConnectorError(
                            f"lines: {name} has no child relationship {rel!r} "
                            f"(it has {', '.join(sorted(children)) or 'none'})",
                            system=SYSTEM,
                            object=name,
                        )
                    lines[rel] = await self.schema(children[rel])
                schema = with_lines(schema, lines)
            self._schemas[object] = schema
        return self._schemas[object]

    async def describe(self) -> Catalog:
        """The configured objects with their fields (one describe call each)."""
        objects = {}
        for name in self.settings.objects:
            objects[name] = await self.schema(name)
        return Catalog(objects=objects)

    async def _records(
        self, object: str, rows: object, schema: ObjectSchema | None = None
    ) -> list[Record]:
        """Query rows -> records, with their lines fetched to the end and flattened.

        ``schema``: what was selected (default: the whole described object).
        """
        if not isinstance(rows, list):
            raise ConnectorError("query result without records", system=SYSTEM, object=object)
        rels = [f.name for f in line_fields(schema or await self.schema(object))]
        records = []
        for row in rows:
            if not isinstance(row, Mapping):
                continue
            if rels:
                row = flatten_lines(await complete_lines(self.client, row, rels, object), rels)
            records.append(record_from_row(object, row))
        return records

    # --- reading -------------------------------------------------------------------------

    async def read_changes(
        self,
        object: str,
        cursor: Cursor | None,
        page_size: int,
        fields: Collection[str] | None = None,
    ) -> AsyncIterator[ChangePage]:
        """Pages of changed records (tombstones included) in (SystemModstamp, Id) order."""
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        schema = narrowed(await self.schema(object), fields)
        soql = changes_query(
            object, select_list(schema, ("Id", "SystemModstamp", "IsDeleted")), cursor
        )
        batch = max(_MIN_QUERY_BATCH, min(2000, page_size))
        headers = {"Sforce-Query-Options": f"batchSize={batch}"}
        data = expect_mapping(
            await self.client.call_json(
                "GET", "queryAll/", object=object, params={"q": soql}, headers=headers
            ),
            "query result",
            object=object,
        )
        position = cursor
        pending: list[Record] = []
        while True:
            records = await self._records(object, data.get("records"), schema)
            pending.extend(after_cursor(records, cursor))
            next_url = data.get("nextRecordsUrl")
            has_more_wire = not data.get("done", True) and isinstance(next_url, str)
            while len(pending) >= page_size or (pending and not has_more_wire):
                page, pending = pending[:page_size], pending[page_size:]
                position = _advance(position, page)
                yield ChangePage(page, position, has_more=bool(pending) or has_more_wire)
            if not has_more_wire:
                return
            data = expect_mapping(
                await self.client.call_json("GET", str(next_url), object=object, headers=headers),
                "query result",
                object=object,
            )

    async def get(
        self, object: str, ids: Sequence[str], fields: Collection[str] | None = None
    ) -> list[Record]:
        """Live records with these ids (missing or deleted ones are absent)."""
        name = soql_name(object)
        schema = narrowed(await self.schema(object), fields)
        wanted = [i for i in dict.fromkeys(ids) if i]
        if line_fields(schema):  # lines need a SOQL child sub-query
            return await self._find(name, "Id", wanted, schema)
        names = [f.name for f in schema.fields if f.type is not FieldType.LINES]
        found: list[Record] = []
        for start in range(0, len(wanted), MAX_BATCH):
            chunk = wanted[start : start + MAX_BATCH]
            # POST (not GET) keeps long field lists out of the URL; same answer.
            data = await self.client.call_json(
                "POST",
                f"composite/sobjects/{name}",
                object=name,
                json={"ids": chunk, "fields": names},
            )
            if not isinstance(data, list):
                raise ConnectorError("collections read did not answer a list", system=SYSTEM)
            rows = [row for row in data if row is not None]
            found.extend(await self._records(name, rows, schema))
        return found

    async def find(self, object: str, key_field: str, values: Sequence[object]) -> list[Record]:
        """Live records whose ``key_field`` is one of ``values`` (SOQL ``IN``)."""
        return await self._find(object, key_field, values, None)

    async def _find(
        self,
        object: str,
        key_field: str,
        values: Sequence[object],
        schema: ObjectSchema | None,
    ) -> list[Record]:
        name, key = soql_name(object), soql_name(key_field)
        schema = schema or await self.schema(object)
        fields = select_list(schema)
        try:
            literals = list(dict.fromkeys(soql_literal(v) for v in values if v is not None))
        except ValueError as exc:
            raise ValidationError(str(exc), system=SYSTEM, object=name, field=key) from exc
        found: list[Record] = []
        for start in range(0, len(literals), MAX_BATCH):
            chunk = ", ".join(literals[start : start + MAX_BATCH])
            soql = f"SELECT {fields} FROM {name} WHERE {key} IN ({chunk})"  # noqa: S608 - checked names, escaped literals
            async for page in self._query_pages(soql, name, schema):
                found.extend(page)
        return found

    async def _query_pages(
        self, soql: str, object: str, schema: ObjectSchema | None = None
    ) -> AsyncIterator[list[Record]]:
        data = expect_mapping(
            await self.client.call_json("GET", "query/", object=object, params={"q": soql}),
            "query result",
            object=object,
        )
        while True:
            yield await self._records(object, data.get("records"), schema)
            next_url = data.get("nextRecordsUrl")
            if data.get("done", True) or not isinstance(next_url, str):
                return
            data = expect_mapping(
                await self.client.call_json("GET", next_url, object=object),
                "query result",
                object=object,
            )

    # --- writing -------------------------------------------------------------------------

    async def write(self, object: str, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Write through sObject Collections; one result per op, in order.

        Consecutive ops of the same kind go in one call (at most 200, or ``batch_size``),
        so ops on the same record keep their order. When a call fails after earlier calls
        succeeded, the earlier results stand and the rest fail with that call's error.

        Raises:
            ConnectorError: the first call failed as a whole (nothing was written).
        """
        name = soql_name(object)
        size = min(MAX_BATCH, self.limits.batch_size or MAX_BATCH)
        results: list[WriteResult] = []
        runs: list[tuple[str, str | None, list[WriteOp]]] = []
        for op in ops:
            kind, key = route(op)
            if runs and runs[-1][:2] == (kind, key) and len(runs[-1][2]) < size:
                runs[-1][2].append(op)
            else:
                runs.append((kind, key, [op]))
        for position, (kind, key, run) in enumerate(runs):
            if kind == "invalid":
                results.extend(failed(op, key or "invalid write", name) for op in run)
                continue
            try:
                results.extend(await self._send(name, kind, key, run))
            except ConnectorError as exc:
                if position == 0 or not results:
                    raise
                rest = [op for _, _, later in runs[position:] for op in later]
                results.extend(
                    WriteResult(op.ref, WriteOutcome.FAILED, op.target_id, error=exc) for op in rest
                )
                break
        return results

    async def _send(
        self, name: str, kind: str, key: str | None, ops: list[WriteOp]
    ) -> list[WriteResult]:
        method, path, params, body = collection_call(name, kind, key, ops)
        data = await self.client.call_json(method, path, object=name, params=params, json=body)
        if not isinstance(data, list) or len(data) != len(ops):
            raise ConnectorError(
                f"collections answer has {len(data) if isinstance(data, list) else 'no'} "
                f"results for {len(ops)} records",
                system=SYSTEM,
                object=name,
            )
        return [write_result(op, kind, answer, name) for op, answer in zip(ops, data, strict=True)]

    # --- webhook -------------------------------------------------------------------------

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[Change]:
        """Verify and parse a Salesforce outbound message (see :mod:`.webhook`)."""
        return parse_outbound_message(headers, body, org_id=self.settings.org_id)

    def webhook_ack(self) -> tuple[int, str, bytes]:
        """(status, content type, body) the receiver must answer once the changes are stored.

        Salesforce re-sends an outbound message until it gets this SOAP ``Ack``; it is not
        part of the spi, so the API layer asks for it when the connector has it.
        """
        return 200, "text/xml; charset=utf-8", ACK_RESPONSE

    async def aclose(self) -> None:
        """Forget the session; close the HTTP client if this connector made it."""
        self.client.session = None
        if self._owns_http:
            await self.client.http.aclose()


def _advance(position: Cursor | None, page: Sequence[Record]) -> Cursor | None:
    """The cursor after ``page`` (a first cursor gets the spi's default overlap)."""
    for record in page:
        if record.stamp is None:
            continue
        if position is None:
            position = Cursor(stamp=record.stamp, last_id=record.id)
        else:
            position = position.advance(record.stamp, record.id)
    return position
