"""The spi operations over a generic JSON REST API (settings say the shapes)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from datetime import UTC, datetime
from urllib.parse import quote

import httpx

from erpbridge.connectors.rest.batch import BatchWriter
from erpbridge.connectors.rest.client import RestClient, dig
from erpbridge.connectors.rest.errors import SYSTEM, classify_response
from erpbridge.connectors.rest.paging import list_pages
from erpbridge.connectors.rest.records import record_of
from erpbridge.connectors.rest.settings import RestObject, RestSettings
from erpbridge.connectors.rest.webhook import parse_delivery, verify_delivery
from erpbridge.spi.errors import AuthError, ConnectorError, NotFoundError
from erpbridge.spi.records import (
    Change,
    ChangePage,
    CheckResult,
    Cursor,
    ReadError,
    Record,
    WriteOp,
    WriteResult,
)
from erpbridge.spi.schema import Catalog, Field, FieldType, ObjectSchema

__all__ = ["RestConnector"]


class RestConnector:
    """One connection to a REST API.

    Args:
        settings: the connection.
        http: the HTTP client (the caller closes it).
    """

    system = SYSTEM

    def __init__(self, settings: RestSettings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.limits = settings.limits
        self.client = RestClient(settings, http)
        self.writer = BatchWriter(self.client)

    async def check(self) -> CheckResult:
        """GET ``check_path`` (default: the first object's list, one record). Never raises."""
        path = self.settings.check_path
        params: dict[str, str | int] = {}
        if path is None and self.settings.objects:
            path = next(iter(self.settings.objects.values())).path
            if self.settings.paging.type in ("offset", "cursor", "link"):
                params[self.settings.paging.limit_param] = 1
        if path is None:
            return CheckResult(ok=False, reason="no check_path and no objects to try")
        try:
            response = await self.client.send("GET", path, params=params)
            if not response.is_success:
                raise classify_response(response, doing=f"GET {path}")
        except ConnectorError as exc:
            return CheckResult(ok=False, reason=f"{type(exc).__name__}: {exc}")
        return CheckResult(ok=True, reason=f"GET {path}: HTTP {response.status_code}")

    async def describe(self) -> Catalog:
        """The configured objects with the fields their settings declare."""
        objects = {}
        for name, spec in self.settings.objects.items():
            fields = [Field(name=spec.id_field, required=False, read_only=True)]
            if spec.stamp_field:
                fields.append(Field(name=spec.stamp_field, type=FieldType.DATETIME, read_only=True))
            fields += [
                Field(name=n, type=t)
                for n, t in spec.fields.items()
                if n not in (spec.id_field, spec.stamp_field)
            ]
            objects[name] = ObjectSchema(
                name=name, fields=fields, id_field=spec.id_field, stamp_field=spec.stamp_field
            )
        return Catalog(objects=objects)

    async def read_changes(
        self,
        object: str,
        cursor: Cursor | None,
        page_size: int,
        fields: Collection[str] | None = None,
    ) -> AsyncIterator[ChangePage]:
        """Pages of records changed at or after ``cursor.read_from`` (everything without one).

        With ``is_sorted``, each page carries the cursor after its last record; otherwise
        only the last page does, so a read cut short is read again from the old cursor.
        """
        spec = self._spec(object)
        params: dict[str, str | int] = dict(spec.params)
        if cursor is not None and spec.change_filter:
            params[spec.change_filter] = cursor.read_from.isoformat()
        current = cursor
        async for page in list_pages(self.client, object, spec, params, page_size):
            records, errors = self._records(object, spec, page.items, page.number, cursor)
            for record in records:
                if record.stamp is not None:
                    current = (
                        current.advance(record.stamp, record.id)
                        if current
                        else Cursor(stamp=record.stamp, last_id=record.id)
                    )
            show = current if (spec.is_sorted or page.is_last) else None
            yield ChangePage(records, show, has_more=not page.is_last, errors=errors)

    def _records(
        self,
        object: str,
        spec: RestObject,
        items: list[object],
        number: int,
        cursor: Cursor | None,
    ) -> tuple[list[Record], list[ReadError]]:
        records: list[Record] = []
        errors: list[ReadError] = []
        for index, item in enumerate(items):
            result = record_of(object, spec, item, f"{spec.path} page {number} item {index}")
            if isinstance(result, ReadError):
                errors.append(result)
            elif _is_before(result.stamp, cursor):
                continue  # the server ignored the change filter
            else:
                records.append(result)
        records.sort(key=lambda r: (r.stamp is None, r.stamp or _NEVER, r.id))
        return records, errors

    async def get(
        self, object: str, ids: Sequence[str], fields: Collection[str] | None = None
    ) -> list[Record]:
        """One GET per id; ids the API does not know (404, 410) are left out."""
        spec = self._spec(object)
        found: list[Record] = []
        for record_id in ids:
            path = spec.item.replace("{id}", quote(record_id, safe=""))
            response = await self.client.send("GET", path, object=object)
            if response.status_code in (404, 410):
                continue
            if not response.is_success:
                raise classify_response(response, object=object, doing=f"GET {path}")
            item = dig(response.json(), spec.item_record_path)
            result = record_of(object, spec, item, f"GET {path}")
            if isinstance(result, ReadError):
                raise result.error
            found.append(result)
        return found

    async def find(self, object: str, key_field: str, values: Sequence[object]) -> list[Record]:
        """One list call per value with ``key_field=value``; only exact matches count."""
        spec = self._spec(object)
        found: list[Record] = []
        for value in values:
            params: dict[str, str | int] = {**spec.params, key_field: str(value)}
            body, _ = await self.client.get_json(spec.path, object=object, params=params)
            items = dig(body, spec.record_path)
            for index, item in enumerate(items if isinstance(items, list) else []):
                if isinstance(item, dict) and str(item.get(key_field)) == str(value):
                    result = record_of(object, spec, item, f"{spec.path} item {index}")
                    if isinstance(result, Record):
                        found.append(result)
        return found

    async def write(self, object: str, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Through the object's batch endpoint (batch.py), else one call per op (writer.py)."""
        return await self.writer.write(object, self._spec(object), ops) if ops else []

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[Change]:
        """Verify a delivery's signature or token, then its records as changes (webhook.py).

        Raises:
            AuthError: no ``webhook`` settings, or a missing or wrong signature / token.
            ValidationError: a body that is not what the settings describe (400).
        """
        hook = self.settings.webhook
        if hook is None:
            raise AuthError(
                "this rest connection has no webhook settings (set webhook.secret or "
                "webhook.token)",
                system=SYSTEM,
            )
        verify_delivery(hook, headers, body)
        return parse_delivery(hook, self.settings.objects, body)

    async def aclose(self) -> None:
        """Nothing to release (the caller closes the HTTP client)."""

    def _spec(self, object: str) -> RestObject:
        spec = self.settings.objects.get(object)
        if spec is None:
            known = ", ".join(sorted(self.settings.objects)) or "none"
            raise NotFoundError(
                f"object {object!r} is not configured (objects: {known})",
                system=SYSTEM,
                object=object,
            )
        return spec


_NEVER = datetime.min.replace(tzinfo=UTC)


def _is_before(stamp: datetime | None, cursor: Cursor | None) -> bool:
    return stamp is not None and cursor is not None and stamp < cursor.read_from
