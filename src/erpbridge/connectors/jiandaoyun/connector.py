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
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
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
from erpbridge.connectors.jiandaoyun.values import parse_stamp, to_record
from erpbridge.connectors.jiandaoyun.webhook import parse_push, verify_push
from erpbridge.connectors.jiandaoyun.write import MAX_BATCH, FormWriter, chunks
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
    WriteOp,
    WriteResult,
)
from erpbridge.spi.schema import Catalog
from erpbridge.spi.settings import Limits

__all__ = ["MAX_BATCH", "JiandaoyunConnector"]

_log = structlog.get_logger(__name__)

#: values per ``in`` filter (documented maximum).
_MAX_IN = 200
#: requests per second when the connection does not say: below the documented 50/s
#: global limit, leaving room for other users of the same key.
_DEFAULT_RPS = 20.0
_TEXT_TYPES = frozenset({"text", "textarea", "combo", "radiogroup", "sn"})

T = TypeVar("T")


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

    async def resolve_object(self, object: str) -> str:
        """The entry id changes and records carry for ``object`` (a form name or entry id)."""
        return await self._entry_id(object)

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
        self,
        object: str,
        cursor: Cursor | None,
        page_size: int,
        fields: Collection[str] | None = None,
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

    async def get(
        self, object: str, ids: Sequence[str], fields: Collection[str] | None = None
    ) -> list[Record]:
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
                for chunk in chunks(texts, _MAX_IN)
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
        """Write a batch; one result per op, same order (see write.py).

        Raises:
            AuthError: the key was refused (nothing can succeed).
            NotFoundError: the form does not exist.
        """
        form = await self._form(object)
        writer = FormWriter(
            self.client,
            self.settings.app_id,
            form,
            batch_size=self.limits.batch_size or MAX_BATCH,
            gate=self._gate,
            find=self.find,
        )
        return await writer.write(ops)

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
