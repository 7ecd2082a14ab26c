"""The spi operations for Yonyou U8 / U8+ over the U8 OpenAPI (see README.md)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone

import httpx

from erpbridge.connectors._keyset import read_by_stamp_keyset
from erpbridge.connectors.yonyou.client import U8Client
from erpbridge.connectors.yonyou.describe import SCHEMAS, catalog
from erpbridge.connectors.yonyou.errors import SYSTEM
from erpbridge.connectors.yonyou.settings import U8Settings
from erpbridge.spi.errors import ConflictError, ConnectorError, NotFoundError, ValidationError
from erpbridge.spi.records import (
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

__all__ = ["U8Connector", "tradeid_of"]

#: list endpoint and the key of its records, per object.
_LISTS = {
    "customer": ("/api/customer/batch_get", "customer"),
    "inventory": ("/api/inventory/batch_get", "inventory"),
    "saleorder": ("/api/saleorderlist/batch_get", "saleorderlist"),
    "currentstock": ("/api/currentstock/batch_get", "currentstock"),
}
_GETS = {
    "customer": ("/api/customer/get", "customer"),
    "inventory": ("/api/inventory/get", "inventory"),
    "saleorder": ("/api/saleorder/get", "saleorder"),
}
_MAX_ROWS = 500
_TRADEID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_Row = dict[str, object]


def tradeid_of(key: str) -> str:
    """The job's idempotency key as a tradeid: as is when it fits, else a stable hash."""
    if _TRADEID.match(key):
        return key
    return "eb" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:30]


class U8Connector:
    """One connection to a U8 account set through the OpenAPI.

    Args:
        settings: the connection.
        http: the HTTP client (the caller closes it).
        client: a ready wire client (tests); default: made from ``settings`` and ``http``.
    """

    system = SYSTEM

    def __init__(
        self, settings: U8Settings, http: httpx.AsyncClient, client: U8Client | None = None
    ) -> None:
        self.settings = settings
        self.limits = settings.limits
        self.client = client or U8Client(settings, http)

    async def check(self) -> CheckResult:
        """Fetch a token and read one customer. Never raises."""
        try:
            await self.client.read(
                "/api/customer/batch_get", {"page_index": 1, "rows_per_page": 1}, object="customer"
            )
        except ConnectorError as exc:
            return CheckResult(False, str(exc), {"error": type(exc).__name__})
        return CheckResult(True, "", {"to_account": self.settings.to_account})

    async def describe(self) -> Catalog:
        """The configured objects' fields (static; the OpenAPI has no metadata call)."""
        return catalog(self.settings.objects)

    def _object(self, object: str) -> str:
        if object not in SCHEMAS or object not in self.settings.objects:
            raise ValidationError(
                f"对象 {object!r} 不在此连接中（可用：{', '.join(self.settings.objects)}）",
                field="object",
                system=SYSTEM,
                object=object,
            )
        return object

    # --- reading ----------------------------------------------------------------------------

    async def read_changes(
        self,
        object: str,
        cursor: Cursor | None,
        page_size: int,
        fields: Collection[str] | None = None,
    ) -> AsyncIterator[ChangePage]:
        """Pages in (ts, code) order from ``cursor.read_from`` (keyset on ``ts``, as the
        YonBIP connector: restart at the last page's stamp, ``page_index`` only within one
        stamp). ``currentstock`` is a snapshot without a cursor."""
        name = self._object(object)
        if name == "currentstock":
            records = await self._stock({})
            yield ChangePage(records, None, False)
            return
        path, key = _LISTS[name]
        size = max(1, min(page_size, _MAX_ROWS))
        zone = timezone(timedelta(minutes=self.settings.server_utc_offset_min))
        start = cursor.read_from.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if cursor else None
        # Without a cursor, read from the beginning of time so the list is in ts order.
        start = start or "1900-01-01 00:00:00"

        async def fetch(since: str | None, index: int, rows: int) -> list[_Row]:
            params = {"page_index": index, "rows_per_page": rows, "timestamp_begin": since}
            return _rows(await self.client.read(path, params, object=name), key, name)

        pages = read_by_stamp_keyset(
            fetch=fetch,
            start=start,
            size=size,
            order_key=_order_key,
            stamp_of=lambda row: str(row.get("ts") or ""),
            to_record=lambda row: self._record(name, row),
            cursor=cursor,
            overlap=self._overlap(),
            system=SYSTEM,
            object=name,
            enrich=self._with_entries if name == "saleorder" else None,
        )
        async for page in pages:
            yield page

    def _overlap(self) -> timedelta:
        return timedelta(seconds=self.settings.overlap_s)

    def _record(self, object: str, row: _Row) -> Record:
        stamp_text = row.get("ts")
        stamp = _stamp(stamp_text, self.settings.server_utc_offset_min)
        version = str(stamp_text) if stamp_text else _digest(row)
        ident = row.get("key") if object == "currentstock" else row.get("code")
        return Record(object, str(ident), row, version, stamp)

    async def _with_entries(self, heads: list[_Row]) -> list[_Row]:
        gate = asyncio.Semaphore(self.limits.concurrency)

        async def one(head: _Row) -> _Row | None:
            async with gate:
                return await self._get_one("saleorder", str(head.get("code")))

        found = await asyncio.gather(*(one(h) for h in heads))
        return [r for r in found if r is not None]

    async def _get_one(self, object: str, code: str) -> _Row | None:
        path, key = _GETS[object]
        try:
            answer = await self.client.read(path, {"id": code}, object=object)
        except NotFoundError:
            return None
        row = answer.get(key)
        if not isinstance(row, dict) or "code" not in row:
            raise ConnectorError(
                f"{path} 的回答缺少 {key}.code", system=SYSTEM, object=object, raw=str(answer)[:500]
            )
        return row

    async def _stock(self, params: Mapping[str, object]) -> list[Record]:
        path, key = _LISTS["currentstock"]
        out: list[Record] = []
        index = 1
        while True:
            answer = await self.client.read(
                path,
                {**params, "page_index": index, "rows_per_page": _MAX_ROWS},
                object="currentstock",
            )
            rows = _rows(answer, key, "currentstock")
            for row in rows:
                ident = "|".join(str(row.get(k) or "") for k in ("whcode", "invcode", "batch"))
                out.append(self._record("currentstock", {"key": ident, **row}))
            if len(rows) < _MAX_ROWS:
                return out
            index += 1

    async def get(
        self, object: str, ids: Sequence[str], fields: Collection[str] | None = None
    ) -> list[Record]:
        """The records with these codes (U8 keys records by code); unknown ones are absent."""
        name = self._object(object)
        if name == "currentstock":
            raise ValidationError(
                "现存量没有单独的 id，请用 find(invcode)", field="id", system=SYSTEM, object=name
            )
        wanted = [str(i) for i in dict.fromkeys(ids) if str(i)]
        gate = asyncio.Semaphore(self.limits.concurrency)

        async def one(code: str) -> _Row | None:
            async with gate:
                return await self._get_one(name, code)

        rows = await asyncio.gather(*(one(c) for c in wanted))
        return [self._record(name, r) for r in rows if r is not None]

    async def find(self, object: str, key_field: str, values: Sequence[object]) -> list[Record]:
        """By ``code`` (every object), ``custcode`` (sale orders), ``invcode`` (stock)."""
        name = self._object(object)
        wanted = [str(v) for v in dict.fromkeys(values) if v not in (None, "")]
        if key_field == "code" and name != "currentstock":
            return await self.get(name, wanted)
        if name == "currentstock" and key_field == "invcode":
            out: list[Record] = []
            for code in wanted:
                out += await self._stock({"invcode_begin": code, "invcode_end": code})
            return out
        if name == "saleorder" and key_field == "custcode":
            heads: list[_Row] = []
            for code in wanted:
                index = 1
                while True:
                    params = {"custcode": code, "page_index": index, "rows_per_page": _MAX_ROWS}
                    answer = await self.client.read(_LISTS[name][0], params, object=name)
                    rows = _rows(answer, _LISTS[name][1], name)
                    heads += rows
                    if len(rows) < _MAX_ROWS:
                        break
                    index += 1
            return [self._record(name, r) for r in await self._with_entries(heads)]
        raise ValidationError(
            f"{key_field!r} 不能用于查找 {name}", field=key_field, system=SYSTEM, object=name
        )

    # --- writing ------------------------------------------------------------------------------

    async def write(self, object: str, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """One call per op (the OpenAPI has no batch writes), results in order.

        customer: add (create), edit (update), upsert by ``code`` (looked up first);
        saleorder: add, and upsert by ``code`` that leaves an existing order unchanged (the
        OpenAPI offers no edit of a sale order); every write
        carries a tradeid derived from the job (or a fresh one from ``/system/tradeid``).
        When a call fails as a whole, the ops not yet done fail with that error.
        """
        name = self._object(object)
        results: list[WriteResult] = []
        stop: ConnectorError | None = None
        for op in ops:
            if stop is not None:
                results.append(_failed(op, stop))
                continue
            try:
                results.append(await self._write_one(name, op))
            except (ValidationError, NotFoundError, ConflictError) as exc:
                results.append(_failed(op, exc))
            except ConnectorError as exc:
                stop = exc
                results.append(_failed(op, exc))
        return results

    async def _write_one(self, name: str, op: WriteOp) -> WriteResult:
        fields = {k: v for k, v in op.fields.items() if k not in ("ts", "state")}
        supported = (name == "customer" and op.mode is not WriteMode.DELETE) or (
            name == "saleorder" and op.mode in (WriteMode.CREATE, WriteMode.UPSERT)
        )
        if not supported:
            raise ValidationError(
                f"{op.mode.value} 不受支持：U8 OpenAPI 没有 {name} 的此操作",
                system=SYSTEM,
                object=name,
            )
        exists = op.target_id is not None or op.mode is WriteMode.UPDATE
        if op.mode is WriteMode.UPSERT and op.target_id is None:
            code = op.key_value if op.key_value is not None else fields.get("code")
            exists = code is not None and await self._get_one(name, str(code)) is not None
            if exists and name == "saleorder":
                # The OpenAPI cannot edit a sale order: an existing one (e.g. created before
                # a crash, before our xref commit) is left as it is and reported unchanged.
                return WriteResult(op.ref, WriteOutcome.UNCHANGED, str(code), None)
            if exists:
                fields.setdefault("code", code)
        if op.target_id is not None:
            fields.setdefault("code", op.target_id)
        tradeid = (
            tradeid_of(op.idempotency_key)
            if op.idempotency_key
            else await self.client.tradeid(object=name)
        )
        path = f"/api/{name}/edit" if exists else f"/api/{name}/add"
        answer = await self.client.write(path, {name: fields}, tradeid, object=name)
        code = answer.get("id")
        if not isinstance(code, str) or not code:
            raise ConnectorError("写入成功的回答缺少 id", system=SYSTEM, object=name)
        outcome = WriteOutcome.UPDATED if exists else WriteOutcome.CREATED
        return WriteResult(op.ref, outcome, code, None)

    async def aclose(self) -> None:
        """Nothing to release: tokens expire on the server; the caller closes ``http``."""


def _failed(op: WriteOp, error: ConnectorError) -> WriteResult:
    return WriteResult(op.ref, WriteOutcome.FAILED, op.target_id, None, error)


def _order_key(row: Mapping[str, object]) -> tuple[str, str]:
    return (str(row.get("ts") or ""), str(row.get("code") or ""))


def _rows(answer: Mapping[str, object], key: str, object: str) -> list[_Row]:
    rows = answer.get(key)
    if isinstance(rows, list) and all(isinstance(r, dict) for r in rows):
        return rows
    raise ConnectorError(
        f"列表回答缺少 {key} 数组",
        system=SYSTEM,
        object=object,
        raw=json.dumps(answer, ensure_ascii=False)[:500],
    )


def _stamp(text: object, offset_min: int) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        local = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return local.replace(tzinfo=timezone(timedelta(minutes=offset_min))).astimezone(UTC)


def _digest(fields: Mapping[str, object]) -> str:
    text = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
