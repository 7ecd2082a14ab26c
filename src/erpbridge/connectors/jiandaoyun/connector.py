"""The ``jiandaoyun`` connector: every spi operation over the Open API v5.

- ``check``: ``app/entry/list`` of the configured app (proves URL, key and app scope).
- ``describe``: forms and widgets with their Chinese labels (describe.py).
- ``read_changes``: ``updateTime`` range filter from ``cursor.read_from``, ``data_id`` pages,
  re-ordered by (stamp, id) (cursor.py); skipped cheaply when ``dataModifyTime`` is older.
- ``get``: ``data/get`` per id; ``find``: ``data/list`` with ``in`` (text) or ``eq`` filters.
- ``write``: ``batch_create`` per chunk with a ``transaction_id`` derived from the ops'
  idempotency keys (reference §6), per-record ``create`` when a batch is refused so each
  op gets its own answer; ``batch_update`` for ops writing identical data, else ``update``;
  ``batch_delete``; upserts look the natural key up first (the product has no upsert).
- ``parse_webhook``: 数据推送 signature and body (webhook.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import httpx
import structlog

from erpbridge.connectors._http import build_client
from erpbridge.connectors.jiandaoyun.client import JdyClient
from erpbridge.connectors.jiandaoyun.cursor import change_pages, stamp_filter
from erpbridge.connectors.jiandaoyun.describe import FormSchema, parse_widgets
from erpbridge.connectors.jiandaoyun.errors import SYSTEM
from erpbridge.connectors.jiandaoyun.settings import JiandaoyunSettings
from erpbridge.connectors.jiandaoyun.values import parse_stamp, to_record, to_write_data
from erpbridge.connectors.jiandaoyun.webhook import parse_push, verify_push
from erpbridge.spi.errors import (
    AuthError,
    ConnectorError,
    NotFoundError,
    TransientError,
    ValidationError,
)
from erpbridge.spi.records import (
    Change,
    ChangePage,
    CheckResult,
    Cursor,
    Record,
    WriteMode,
    WriteOp,
    WriteOutcome,
    WriteResult,
)
from erpbridge.spi.schema import Catalog
from erpbridge.spi.settings import Limits

__all__ = ["MAX_BATCH", "JiandaoyunConnector"]

_log = structlog.get_logger(__name__)

#: records per batch call and rows per list page (the API's maximum).
MAX_BATCH = 100
#: values per ``in`` filter (documented maximum).
_MAX_IN = 200
#: requests per second when the connection does not say: below the documented 50/s
#: global limit, leaving room for other users of the same key.
_DEFAULT_RPS = 20.0
_TEXT_TYPES = frozenset({"text", "textarea", "combo", "radiogroup", "sn"})
_TXN_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://erpbridge.dev/jiandaoyun/transaction_id")

T = TypeVar("T")


def _transaction_id(entry_id: str, kind: str, ops: Sequence[WriteOp]) -> str | None:
    """A UUID derived from the ops' idempotency keys (None unless every op has one)."""
    keys = [op.idempotency_key for op in ops]
    if not keys or any(not k for k in keys):
        return None
    return str(uuid.uuid5(_TXN_NAMESPACE, "\n".join([entry_id, kind, *map(str, keys)])))


def _failed(op: WriteOp, error: ConnectorError) -> WriteResult:
    return WriteResult(ref=op.ref, outcome=WriteOutcome.FAILED, target_id=op.target_id, error=error)


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


@dataclasses.dataclass(slots=True)
class _Planned:
    index: int
    op: WriteOp
    data: dict[str, object]
    target_id: str | None = None


class JiandaoyunConnector:
    """One connection to one Jiandaoyun app.

    Args:
        settings: the validated connection settings.
        http: the caller's HTTP client; None = the connector makes (and closes) its own.
        clock: unix seconds, for the push age check. Default ``time.time``.
    """

    system = SYSTEM

    def __init__(
        self,
        settings: JiandaoyunSettings,
        http: httpx.AsyncClient | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        limits = settings.limits
        if limits.requests_per_s is None:
            limits = limits.model_copy(update={"requests_per_s": _DEFAULT_RPS})
        self.limits: Limits = limits
        self._owns_http = http is None
        if http is None:
            ca_file = Path(settings.ca_file) if settings.ca_file else None
            http = build_client(settings.limits, ca_file=ca_file)
        self.client = JdyClient(http, settings.base_url, settings.api_key, limits.timeout_s)
        self._clock = clock
        self._entries: dict[str, str] | None = None
        self._forms: dict[str, FormSchema] = {}
        self._gate = asyncio.Semaphore(limits.concurrency)

    def __repr__(self) -> str:
        s = self.settings
        return f"JiandaoyunConnector(base_url={s.base_url!r}, app_id={s.app_id!r})"

    # --- metadata -----------------------------------------------------------------------

    async def _entry_list(self) -> dict[str, str]:
        if self._entries is None:
            entries: dict[str, str] = {}
            skip = 0
            while True:
                answer = await self.client.call(
                    "app/entry/list", {"app_id": self.settings.app_id, "skip": skip, "limit": 100}
                )
                forms = answer.get("forms")
                if not isinstance(forms, list):
                    raise ConnectorError("entry list answer has no 'forms' list", system=SYSTEM)
                for form in forms:
                    if isinstance(form, Mapping) and isinstance(form.get("entry_id"), str):
                        entries[form["entry_id"]] = str(form.get("name") or "")
                if len(forms) < 100:
                    break
                skip += 100
            self._entries = entries
        return self._entries

    async def _entry_id(self, object: str) -> str:
        """The entry id of ``object`` (an entry id or a form name).

        Raises:
            NotFoundError: no such form in the app (or a form name used twice).
        """
        entries = await self._entry_list()
        if object in entries:
            return object
        matches = [entry_id for entry_id, name in entries.items() if name == object]
        if len(matches) == 1:
            return matches[0]
        why = "names several forms; use the entry id" if matches else "is not a form of this app"
        raise NotFoundError(f"{object!r} {why}", system=SYSTEM, object=object)

    async def _form(self, object: str, *, refresh: bool = False) -> FormSchema:
        entry_id = await self._entry_id(object)
        if refresh or entry_id not in self._forms:
            answer = await self.client.call(
                "app/entry/widget/list",
                {"app_id": self.settings.app_id, "entry_id": entry_id},
                object=entry_id,
            )
            name = (await self._entry_list()).get(entry_id, "")
            self._forms[entry_id] = parse_widgets(entry_id, name, answer)
        return self._forms[entry_id]

    def _natural_key(self, form: FormSchema) -> str | None:
        key = self.settings.natural_keys.get(form.entry_id) or self.settings.natural_keys.get(
            form.name
        )
        return form.resolve(key) if key else None

    async def check(self) -> CheckResult:
        """Can we reach the API with this key and see the app? Never raises."""
        try:
            self._entries = None
            entries = await self._entry_list()
        except AuthError as exc:
            return CheckResult(False, f"API key refused: {exc.message}")
        except NotFoundError as exc:
            return CheckResult(False, f"app {self.settings.app_id} not found: {exc.message}")
        except ConnectorError as exc:
            return CheckResult(False, f"{type(exc).__name__}: {exc.message}")
        return CheckResult(
            True, details={"app_id": self.settings.app_id, "forms": str(len(entries))}
        )

    async def describe(self) -> Catalog:
        """Every form of the app with its widgets and labels."""
        self._entries = None
        objects = {}
        for entry_id in await self._entry_list():
            form = await self._form(entry_id, refresh=True)
            objects[entry_id] = form.to_object_schema(self._natural_key(form))
        return Catalog(objects=objects)

    # --- reading ------------------------------------------------------------------------

    async def _list(
        self, entry_id: str, filter: Mapping[str, object] | None
    ) -> AsyncIterator[list[object]]:
        last = ""
        while True:
            body: dict[str, object] = {
                "app_id": self.settings.app_id,
                "entry_id": entry_id,
                "limit": MAX_BATCH,
            }
            if last:
                body["data_id"] = last
            if filter is not None:
                body["filter"] = filter
            answer = await self.client.call("app/entry/data/list", body, object=entry_id)
            page = answer.get("data")
            if not isinstance(page, list):
                raise TransientError(
                    "data list answer has no 'data' list", system=SYSTEM, object=entry_id
                )
            yield page
            if len(page) < MAX_BATCH:
                return
            tail = page[-1]
            last = str(tail.get("_id", "")) if isinstance(tail, Mapping) else ""
            if not last:
                raise TransientError(
                    "data list page ends without an _id", system=SYSTEM, object=entry_id
                )

    async def read_changes(
        self, object: str, cursor: Cursor | None, page_size: int
    ) -> AsyncIterator[ChangePage]:
        """Records changed at or after ``cursor.read_from``, in (stamp, id) order."""
        stamp_field = self.settings.stamp_field
        form = await self._form(object, refresh=True)
        if cursor is not None and stamp_field == "updateTime":
            modified = parse_stamp(form.data_modify_time)
            if modified is not None and modified < cursor.read_from:
                yield ChangePage(records=[], cursor=cursor, has_more=False)
                return
        records: list[Record] = []
        async for page in self._list(form.entry_id, stamp_filter(stamp_field, cursor)):
            for raw in page:
                record = to_record(form.entry_id, raw)
                if stamp_field != "updateTime" and isinstance(raw, Mapping):
                    record = dataclasses.replace(record, stamp=parse_stamp(raw.get(stamp_field)))
                records.append(record)
        for change_page in change_pages(records, cursor, max(1, page_size)):
            yield change_page

    async def _gated(self, call: Callable[[], Awaitable[T]]) -> T:
        async with self._gate:
            return await call()

    async def get(self, object: str, ids: Sequence[str]) -> list[Record]:
        """The records with these ids (missing ones are absent)."""
        entry_id = await self._entry_id(object)

        async def one(data_id: str) -> Record | None:
            body = {"app_id": self.settings.app_id, "entry_id": entry_id, "data_id": data_id}
            try:
                answer = await self._gated(
                    lambda: self.client.call("app/entry/data/get", body, object=entry_id)
                )
            except NotFoundError:
                return None
            return to_record(entry_id, answer.get("data"))

        found = await asyncio.gather(*(one(i) for i in dict.fromkeys(ids)))
        return [r for r in found if r is not None]

    async def find(self, object: str, key_field: str, values: Sequence[object]) -> list[Record]:
        """Records whose widget ``key_field`` (name or label) is one of ``values``.

        Raises:
            ValidationError: the form has no such widget, or it cannot be filtered by value.
        """
        form = await self._form(object)
        name = form.resolve(key_field)
        widget = form.widgets.get(name or "")
        if name is None or (widget is None and name != "_id"):
            raise ValidationError(
                f"表单「{form.name}」没有字段 {key_field!r}",
                field=key_field,
                system=SYSTEM,
                object=form.entry_id,
            )
        wanted = list(dict.fromkeys(v for v in values if v not in (None, "")))
        if widget is None or widget.type in _TEXT_TYPES:
            texts = [str(v) for v in wanted]
            filters = [
                {"rel": "and", "cond": [{"field": name, "method": "in", "value": list(chunk)}]}
                for chunk in _chunks(texts, _MAX_IN)
            ]
        elif widget.type in ("number", "datetime"):
            filters = [
                {"rel": "and", "cond": [{"field": name, "method": "eq", "value": [v]}]}
                for v in wanted
            ]
        else:
            raise ValidationError(
                f"字段 {name}（{widget.label}）是 {widget.type}，不能按值查找",
                field=name,
                system=SYSTEM,
                object=form.entry_id,
            )
        records: list[Record] = []
        for spec in filters:
            async for page in self._list(form.entry_id, spec):
                records += [to_record(form.entry_id, raw) for raw in page]
        return records

    # --- writing ------------------------------------------------------------------------

    async def write(self, object: str, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Write a batch; one result per op, same order.

        Raises:
            AuthError: the key was refused (nothing can succeed).
            NotFoundError: the form does not exist.
        """
        form = await self._form(object)
        results: list[WriteResult | None] = [None] * len(ops)
        creates: list[_Planned] = []
        updates: list[_Planned] = []
        deletes: list[_Planned] = []
        lookups: list[_Planned] = []
        for index, op in enumerate(ops):
            try:
                data = {} if op.mode is WriteMode.DELETE else to_write_data(form, op.fields)
            except ValidationError as exc:
                results[index] = _failed(op, exc)
                continue
            planned = _Planned(index, op, data, op.target_id)
            has_key = op.key_field is not None and op.key_value not in (None, "")
            if op.mode is WriteMode.CREATE:
                creates.append(planned)
            elif op.target_id:
                (deletes if op.mode is WriteMode.DELETE else updates).append(planned)
            elif has_key:
                lookups.append(planned)
            else:
                error = ValidationError(
                    f"{op.mode.value} needs target_id or key_field/key_value",
                    system=SYSTEM,
                    object=form.entry_id,
                )
                results[index] = _failed(op, error)
        await self._resolve_keys(form, lookups, creates, updates, deletes, results)
        await self._create(form, creates, results)
        await self._update(form, updates, results)
        await self._delete(form, deletes, results)
        return [r if r is not None else _failed(ops[i], _lost(form)) for i, r in enumerate(results)]

    async def _resolve_keys(
        self,
        form: FormSchema,
        lookups: list[_Planned],
        creates: list[_Planned],
        updates: list[_Planned],
        deletes: list[_Planned],
        results: list[WriteResult | None],
    ) -> None:
        by_field: dict[str, list[_Planned]] = {}
        for planned in lookups:
            by_field.setdefault(str(planned.op.key_field), []).append(planned)
        for key_field, group in by_field.items():
            try:
                found = await self.find(form.entry_id, key_field, [p.op.key_value for p in group])
            except AuthError:
                raise
            except ConnectorError as exc:
                for planned in group:
                    results[planned.index] = _failed(planned.op, exc)
                continue
            name = form.resolve(key_field) or key_field
            index: dict[str, list[str]] = {}
            for record in found:
                index.setdefault(str(record.fields.get(name)), []).append(record.id)
            for planned in group:
                ids = index.get(str(planned.op.key_value), [])
                op = planned.op
                if len(ids) > 1:
                    error = ValidationError(
                        f"{len(ids)} records have {name} = {op.key_value!r}; the key is not unique",
                        field=name,
                        system=SYSTEM,
                        object=form.entry_id,
                    )
                    results[planned.index] = _failed(op, error)
                elif ids:
                    planned.target_id = ids[0]
                    (deletes if op.mode is WriteMode.DELETE else updates).append(planned)
                elif op.mode is WriteMode.UPSERT:
                    creates.append(planned)
                elif op.mode is WriteMode.DELETE:
                    results[planned.index] = WriteResult(op.ref, WriteOutcome.DELETED)
                else:
                    missing = NotFoundError(
                        f"no record with {name} = {op.key_value!r}",
                        system=SYSTEM,
                        object=form.entry_id,
                    )
                    results[planned.index] = _failed(op, missing)

    def _body(self, form: FormSchema, **more: object) -> dict[str, object]:
        return {"app_id": self.settings.app_id, "entry_id": form.entry_id, **more}

    async def _create(
        self, form: FormSchema, planned: list[_Planned], results: list[WriteResult | None]
    ) -> None:
        size = min(self.limits.batch_size or MAX_BATCH, MAX_BATCH)
        for chunk in _chunks(planned, size):
            if len(chunk) == 1:
                await self._create_one(form, chunk[0], results)
                continue
            body = self._body(form, data_list=[p.data for p in chunk])
            tid = _transaction_id(form.entry_id, "batch_create", [p.op for p in chunk])
            if tid:
                body["transaction_id"] = tid
            try:
                answer = await self.client.call(
                    "app/entry/data/batch_create", body, object=form.entry_id
                )
            except ValidationError:
                # All or nothing: find the refused record(s) by creating one by one.
                await asyncio.gather(*(self._create_one(form, p, results) for p in chunk))
                continue
            except AuthError:
                raise
            except ConnectorError as exc:
                for p in chunk:
                    results[p.index] = _failed(p.op, exc)
                continue
            await self._created_ids(form, chunk, answer, results)

    async def _created_ids(
        self,
        form: FormSchema,
        chunk: Sequence[_Planned],
        answer: Mapping[str, object],
        results: list[WriteResult | None],
    ) -> None:
        ids = answer.get("success_ids")
        if isinstance(ids, list) and len(ids) == len(chunk):
            for p, data_id in zip(chunk, ids, strict=True):
                results[p.index] = WriteResult(
                    p.op.ref, WriteOutcome.CREATED, target_id=str(data_id)
                )
            return
        # ``success_ids`` is not in every copy of the docs: find the new records by key.
        for p in chunk:
            target_id = None
            if p.op.key_field and p.op.key_value not in (None, ""):
                found = await self.find(form.entry_id, p.op.key_field, [p.op.key_value])
                target_id = max((r.id for r in found), default=None)
            results[p.index] = WriteResult(p.op.ref, WriteOutcome.CREATED, target_id=target_id)

    async def _create_one(
        self, form: FormSchema, planned: _Planned, results: list[WriteResult | None]
    ) -> None:
        body = self._body(form, data=planned.data)
        tid = _transaction_id(form.entry_id, "create", [planned.op])
        if tid:
            body["transaction_id"] = tid
        try:
            answer = await self._gated(
                lambda: self.client.call("app/entry/data/create", body, object=form.entry_id)
            )
            record = to_record(form.entry_id, answer.get("data"))
        except AuthError:
            raise
        except ConnectorError as exc:
            results[planned.index] = _failed(planned.op, exc)
            return
        results[planned.index] = WriteResult(
            planned.op.ref, WriteOutcome.CREATED, target_id=record.id, version=record.version
        )

    async def _update(
        self, form: FormSchema, planned: list[_Planned], results: list[WriteResult | None]
    ) -> None:
        groups: dict[str, list[_Planned]] = {}
        singles: list[_Planned] = []
        for p in planned:
            has_subform = any(
                form.widgets[n].type == "subform" for n in p.data if n in form.widgets
            )
            if has_subform or not p.data:
                singles.append(p)
            else:
                groups.setdefault(
                    json.dumps(p.data, sort_keys=True, ensure_ascii=False), []
                ).append(p)
        for group in groups.values():
            if len(group) == 1:
                singles += group
                continue
            for chunk in _chunks(group, MAX_BATCH):
                if not await self._batch_update(form, chunk, results):
                    singles += chunk
        await asyncio.gather(*(self._update_one(form, p, results) for p in singles))

    async def _batch_update(
        self, form: FormSchema, chunk: Sequence[_Planned], results: list[WriteResult | None]
    ) -> bool:
        """One ``batch_update``; False when its count does not prove every record changed."""
        body = self._body(form, data_ids=[p.target_id for p in chunk], data=chunk[0].data)
        tid = _transaction_id(form.entry_id, "batch_update", [p.op for p in chunk])
        if tid:
            body["transaction_id"] = tid
        try:
            answer = await self.client.call(
                "app/entry/data/batch_update", body, object=form.entry_id
            )
        except AuthError:
            raise
        except ConnectorError:
            return False
        if answer.get("success_count") != len({p.target_id for p in chunk}):
            return False
        for p in chunk:
            results[p.index] = WriteResult(p.op.ref, WriteOutcome.UPDATED, target_id=p.target_id)
        return True

    async def _update_one(
        self, form: FormSchema, planned: _Planned, results: list[WriteResult | None]
    ) -> None:
        body = self._body(form, data_id=planned.target_id, data=planned.data)
        tid = _transaction_id(form.entry_id, "update", [planned.op])
        if tid:
            body["transaction_id"] = tid
        try:
            answer = await self._gated(
                lambda: self.client.call("app/entry/data/update", body, object=form.entry_id)
            )
            record = to_record(form.entry_id, answer.get("data"))
        except AuthError:
            raise
        except ConnectorError as exc:
            results[planned.index] = _failed(planned.op, exc)
            return
        results[planned.index] = WriteResult(
            planned.op.ref, WriteOutcome.UPDATED, target_id=record.id, version=record.version
        )

    async def _delete(
        self, form: FormSchema, planned: list[_Planned], results: list[WriteResult | None]
    ) -> None:
        # A record already gone counts as deleted: deletes are idempotent by id.
        for chunk in _chunks(planned, MAX_BATCH):
            body = self._body(form, data_ids=[p.target_id for p in chunk])
            try:
                await self.client.call("app/entry/data/batch_delete", body, object=form.entry_id)
            except AuthError:
                raise
            except ConnectorError as exc:
                for p in chunk:
                    results[p.index] = _failed(p.op, exc)
                continue
            for p in chunk:
                results[p.index] = WriteResult(
                    p.op.ref, WriteOutcome.DELETED, target_id=p.target_id
                )

    # --- push -----------------------------------------------------------------------------

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str] | None = None
    ) -> list[Change]:
        """Verify and parse one 数据推送 delivery.

        Args:
            headers: the request headers.
            body: the raw body, exactly as received.
            query: the request's query parameters (``nonce``, ``timestamp``); when None
                they are read from the ``x-erpbridge-query-string`` header.

        Raises:
            AuthError: no push secret configured, or a missing/wrong signature.
            ValidationError: a body that is not a push.
        """
        if self.settings.push_secret is None:
            raise AuthError("no push_secret configured; refusing unsigned data push", system=SYSTEM)
        verify_push(
            headers,
            body,
            self.settings.push_secret.reveal(),
            query=query,
            max_age_s=self.settings.push_max_age_s,
            clock=self._clock,
        )
        return parse_push(body)

    async def aclose(self) -> None:
        """Close the HTTP client if this connector made it."""
        if self._owns_http:
            await self.client.http.aclose()


def _lost(form: FormSchema) -> ConnectorError:
    return TransientError("no answer was recorded for this op", system=SYSTEM, object=form.entry_id)
