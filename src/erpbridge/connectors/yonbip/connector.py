"""The spi operations for YonBIP / YonSuite over its open API (see README.md)."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from datetime import timedelta

import httpx

from erpbridge.connectors._keyset import read_by_stamp_keyset
from erpbridge.connectors.yonbip.applyorder import (
    DETAIL_API,
    LIST_API,
    applyorder_details,
    applyorder_page,
)
from erpbridge.connectors.yonbip.client import YonBipClient
from erpbridge.connectors.yonbip.credit import credit_page, credit_where
from erpbridge.connectors.yonbip.cursor import from_server_text, to_server_text
from erpbridge.connectors.yonbip.describe import SCHEMAS, catalog
from erpbridge.connectors.yonbip.errors import SYSTEM
from erpbridge.connectors.yonbip.settings import YonBipSettings
from erpbridge.connectors.yonbip.webhook import encrypt, parse_event
from erpbridge.connectors.yonbip.writer import Writer
from erpbridge.spi.errors import ConnectorError, NotFoundError, ValidationError
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

__all__ = ["API", "YonBipConnector"]

#: the APIs used, by role (reference §B3).
API = {
    "merchant_list": "/yonbip/digitalModel/merchant/newlist",
    "merchant_detail": "/yonbip/digitalModel/merchant/newBatchDetail",
    "order_list": "/yonbip/sd/voucherorder/list",
    "order_detail": "/yonbip/sd/voucherorder/detail",
    "product_list": "/yonbip/digitalModel/product/listproductbycondition",
    "stock": "/yonbip/scm/stock/QueryCurrentStocksByCondition",
    "applyorder_detail": DETAIL_API,
    "applyorder_list": LIST_API,  # [U]: applyorder.py
}
_DETAIL_CHUNK = 100
#: applyorder: the doc gives no maximum, the voucherorder list's is used [U].
_MAX_PAGE = {
    "merchant": 5000,
    "voucherorder": 500,
    "product": 500,
    "credit": 500,
    "applyorder": 500,
}
_Row = dict[str, object]
_Fetch = Callable[[str | None, int, int], Awaitable[list[_Row]]]


class YonBipConnector:
    """One connection to a YonBIP tenant.

    Args:
        settings: the connection.
        http: the HTTP client (the caller closes it).
        client: a ready wire client (tests); default: made from ``settings`` and ``http``.
    """

    system = SYSTEM

    def __init__(
        self, settings: YonBipSettings, http: httpx.AsyncClient, client: YonBipClient | None = None
    ) -> None:
        self.settings = settings
        self.limits = settings.limits
        self.client = client or YonBipClient(settings, http)
        self._writer = Writer(self.client, settings, self.find)

    # --- check / describe -------------------------------------------------------------

    async def check(self) -> CheckResult:
        """Fetch a token and read one customer. Never raises."""
        try:
            await self.client.call(
                "POST",
                API["merchant_list"],
                body={"pageIndex": 1, "pageSize": 1},
                object="merchant",
            )
        except ConnectorError as exc:
            return CheckResult(False, str(exc), {"error": type(exc).__name__})
        return CheckResult(True, "", {"app_key": self.settings.app_key})

    async def describe(self) -> Catalog:
        """The configured objects' fields (static; the open API has no metadata call)."""
        return catalog(self.settings.objects)

    def _schema_name(self, object: str) -> str:
        if object not in SCHEMAS or object not in self.settings.objects:
            raise ValidationError(
                f"对象 {object!r} 不在此连接中（可用：{', '.join(self.settings.objects)}）",
                field="object",
                system=SYSTEM,
                object=object,
            )
        return object

    # --- reading ----------------------------------------------------------------------

    async def read_changes(
        self,
        object: str,
        cursor: Cursor | None,
        page_size: int,
        fields: Collection[str] | None = None,
    ) -> AsyncIterator[ChangePage]:
        """Pages in (pubts, id) order from ``cursor.read_from``.

        Pages are read by keyset on the stamp: after a full page the next query starts
        at that page's last ``pubts`` (records already passed are skipped by (pubts, id)),
        so an edit during the read cannot shift offsets and hide a record. Only when a
        whole page shares one stamp does ``pageIndex`` move on within that stamp.
        ``currentstock`` has no stamp: it is read whole each time, without a cursor.
        ``applyorder`` records are the list's headers: number, status and the other header
        fields, without ``applyOrders`` lines (``get()`` has them; applyorder.py).
        """
        name = self._schema_name(object)
        if name == "currentstock":
            records = await self._stock({})
            yield ChangePage(records, None, False)
            return
        size = max(1, min(page_size, _MAX_PAGE[name]))
        fetch = {
            "merchant": self._merchants_since,
            "voucherorder": self._orders_since,
            "credit": self._credit_since,
            "applyorder": self._applyorders_since,
        }.get(name, self._products_since)
        offset = self.settings.server_utc_offset_min
        start = to_server_text(cursor.read_from, offset) if cursor is not None else None
        pages = read_by_stamp_keyset(
            fetch=fetch,
            start=start,
            size=size,
            order_key=_order_key,
            stamp_of=lambda row: str(row.get("pubts") or ""),
            to_record=lambda row: self._record(name, row),
            cursor=cursor,
            overlap=self._overlap(),
            system=SYSTEM,
            object=name,
            enrich=functools.partial(self._with_lines, wanted=fields)
            if name == "voucherorder"
            else None,
        )
        async for page in pages:
            yield page

    def _overlap(self) -> timedelta:
        return timedelta(seconds=self.settings.overlap_s)

    async def _merchants_since(self, start: str | None, index: int, size: int) -> list[_Row]:
        body: dict[str, object] = {"pageIndex": index, "pageSize": size}
        if start:
            body["pubts"] = start
        answer = await self.client.call("POST", API["merchant_list"], body=body, object="merchant")
        return _rows(answer.data, "merchant")

    async def _orders_since(self, start: str | None, index: int, size: int) -> list[_Row]:
        body: dict[str, object] = {
            "pageIndex": index,
            "pageSize": size,
            "isSum": True,
            "queryOrders": [{"field": "pubts", "order": "asc"}, {"field": "id", "order": "asc"}],
        }
        if start:
            body["simpleVOs"] = [{"field": "pubts", "op": "egt", "value1": start}]
        answer = await self.client.call("POST", API["order_list"], body=body, object="voucherorder")
        return _record_list(answer.data)

    async def _applyorders_since(self, start: str | None, index: int, size: int) -> list[_Row]:
        offset = self.settings.server_utc_offset_min
        return await applyorder_page(self.client, start, index, size, offset)

    async def _credit_since(self, start: str | None, index: int, size: int) -> list[_Row]:
        conditions: list[dict[str, object]] = (
            [{"field": "pubts", "op": "egt", "value1": start}] if start else []
        )
        return await credit_page(self.client, self.settings.credit_api, conditions, index, size)

    async def _credit_where(self, field: str, values: list[object]) -> list[Record]:
        rows = await credit_where(self.client, self.settings.credit_api, field, values)
        return [self._record("credit", r) for r in rows]

    async def _products_since(self, start: str | None, index: int, size: int) -> list[_Row]:
        body: dict[str, object] = {"pageIndex": index, "pageSize": size}
        if start:
            body["beganTime"] = start
        answer = await self.client.call("POST", API["product_list"], body=body, object="product")
        return _record_list(answer.data)

    async def _with_lines(
        self, heads: list[_Row], wanted: Collection[str] | None = None
    ) -> list[_Row]:
        """Each order's detail (with ``orderDetails``); the list gives headers only.

        With a field list (the spi's hint) that does not ask for ``orderDetails``, a
        header that already carries every asked field is kept as the list gave it: no
        detail call (one per order, under a quota of 60 calls a minute). A header that
        lacks an asked field is read in detail, so the record never has fewer of them.
        """
        gate = asyncio.Semaphore(self.limits.concurrency)

        def enough(head: _Row) -> bool:
            return (
                wanted is not None
                and "orderDetails" not in wanted
                and all(name in head for name in wanted)
            )

        async def one(head: _Row) -> _Row | None:
            if enough(head):
                return head
            async with gate:
                return await self._order_detail(str(head.get("id")))

        details = await asyncio.gather(*(one(h) for h in heads))
        return [d for d in details if d is not None]

    async def _order_detail(self, order_id: str) -> _Row | None:
        try:
            answer = await self.client.call(
                "GET", API["order_detail"], params={"id": order_id}, object="voucherorder"
            )
        except NotFoundError:
            return None  # deleted between the list and the detail
        if not isinstance(answer.data, dict) or "id" not in answer.data:
            raise ConnectorError(
                "销售订单详情的回答缺少 data.id", system=SYSTEM, object="voucherorder"
            )
        return answer.data

    async def _stock(self, body: Mapping[str, object]) -> list[Record]:
        answer = await self.client.call(
            "POST", API["stock"], body=dict(body), object="currentstock"
        )
        out = []
        for row in _rows(answer.data, "currentstock"):
            key = "|".join(
                str(row.get(k) or "") for k in ("org", "warehouse", "productCode", "batchno")
            )
            fields = {"key": key, **row}
            out.append(Record("currentstock", key, fields, _digest(fields), None))
        return out

    def _record(self, object: str, row: _Row) -> Record:
        stamp_text = row.get("pubts")
        stamp = from_server_text(stamp_text, self.settings.server_utc_offset_min)
        # pubts has one-second resolution: two edits within a second share it, and the
        # engine dedups changes on (record, version). The content digest tells them apart.
        version = f"{stamp_text}#{_digest(row)[:8]}" if stamp_text else _digest(row)
        return Record(object, str(row["id"]), row, version, stamp)

    async def get(
        self, object: str, ids: Sequence[str], fields: Collection[str] | None = None
    ) -> list[Record]:
        """The records with these ids; unknown ids are absent."""
        name = self._schema_name(object)
        wanted = [str(i) for i in dict.fromkeys(ids) if str(i).isdigit()]
        if not wanted:
            return []
        if name == "merchant":
            return await self._merchant_detail("id", [int(i) for i in wanted])
        if name == "voucherorder":
            rows = await self._with_lines([{"id": i} for i in wanted])
            return [self._record(name, r) for r in rows]
        if name == "currentstock":
            raise ValidationError(
                "现存量没有 id，请用 find(productCode)", field="id", system=SYSTEM, object=name
            )
        if name == "credit":
            return await self._credit_where("id", [int(i) for i in wanted])
        if name == "applyorder":
            return await self._applyorder_details(wanted)
        # product: the list API has no id filter; materials are few, so scan (documented).
        found = [r for r in await self._all_products() if str(r.id) in set(wanted)]
        return found

    async def _applyorder_details(self, ids: list[str]) -> list[Record]:
        """``applyorder/detail`` per id (no batch detail is documented); gone ones are absent."""
        rows = await applyorder_details(self.client, ids)
        return [self._record("applyorder", r) for r in rows]

    async def _merchant_detail(self, key: str, values: Sequence[object]) -> list[Record]:
        """``newBatchDetail`` by ``id`` or ``code``, at most 100 per call [U: the API's cap]."""
        out: list[Record] = []
        for start in range(0, len(values), _DETAIL_CHUNK):
            answer = await self.client.call(
                "POST",
                API["merchant_detail"],
                body={key: list(values[start : start + _DETAIL_CHUNK])},
                object="merchant",
            )
            out += [self._record("merchant", r) for r in _rows(answer.data, "merchant")]
        return out

    async def _all_products(self) -> list[Record]:
        out: list[Record] = []
        index = 1
        while True:
            rows = await self._products_since(None, index, 500)
            out += [self._record("product", r) for r in rows]
            if len(rows) < 500:
                return out
            index += 1

    async def find(self, object: str, key_field: str, values: Sequence[object]) -> list[Record]:
        """Records whose ``key_field`` is one of ``values`` (``code`` for every object;
        the order list's filter fields for ``voucherorder``; ``productCode`` for stock;
        ``customerCode`` or ``customerId`` for credit)."""
        name = self._schema_name(object)
        wanted = [str(v) for v in dict.fromkeys(values) if v not in (None, "")]
        if not wanted:
            return []
        if name == "merchant" and key_field == "code":
            return await self._merchant_detail("code", wanted)
        if name == "voucherorder" and key_field in _ORDER_FILTERS:
            return await self._find_orders(key_field, wanted)
        if name == "product" and key_field == "code":
            out: list[Record] = []
            for code in wanted:
                answer = await self.client.call(
                    "POST",
                    API["product_list"],
                    body={"pageIndex": 1, "pageSize": 10, "code": code},
                    object=name,
                )
                out += [self._record(name, r) for r in _record_list(answer.data)]
            return out
        if name == "applyorder" and key_field == "code":
            # No 请购单 list or query API is documented (reference §B3 [U]): a code cannot
            # be looked up, so none is found. Creates stay single by their resubmitCheckKey
            # and by YonBIP's refusal of a second 请购单 with the same code (docs).
            return []
        if name == "credit" and key_field in ("customerCode", "customerId"):
            return await self._credit_where(key_field, list(wanted))
        if name == "currentstock" and key_field == "productCode":
            stock: list[Record] = []
            for code in wanted:
                stock += await self._stock({"product": code})
            return stock
        raise ValidationError(
            f"{key_field!r} 不能用于查找 {name}", field=key_field, system=SYSTEM, object=name
        )

    async def _find_orders(self, key_field: str, wanted: list[str]) -> list[Record]:
        heads: list[_Row] = []
        for chunk in (wanted[i : i + 100] for i in range(0, len(wanted), 100)):
            index = 1
            while True:
                body = {
                    "pageIndex": index,
                    "pageSize": 500,
                    "isSum": True,
                    "simpleVOs": [{"field": key_field, "op": "in", "value1": chunk}],
                    "queryOrders": [{"field": "id", "order": "asc"}],
                }
                answer = await self.client.call(
                    "POST", API["order_list"], body=body, object="voucherorder"
                )
                rows = _record_list(answer.data)
                heads += rows
                if len(rows) < 500:
                    break
                index += 1
        return [self._record("voucherorder", r) for r in await self._with_lines(heads)]

    # --- events (事件订阅) ----------------------------------------------------------------

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[Change]:
        """An event delivery as "this id changed" (webhook.py); the detail is read later."""
        secret = self.settings.app_secret.reveal()
        offset = self.settings.server_utc_offset_min
        return parse_event(self.settings.app_key, secret, self.settings.objects, body, offset)

    def webhook_ack(self) -> tuple[int, str, bytes]:
        """The encrypted, signed ``success`` the platform expects [P]."""
        reply = encrypt(self.settings.app_key, self.settings.app_secret.reveal(), "success")
        return 200, "application/json", json.dumps(reply).encode()

    # --- writing ----------------------------------------------------------------------

    async def write(self, object: str, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """One result per op, in order (see writer.py for the APIs used)."""
        name = self._schema_name(object)
        return await self._writer.write(name, ops)

    async def aclose(self) -> None:
        """Nothing to release: tokens expire on the server; the caller closes ``http``."""


_ORDER_FILTERS = ("code", "agentId_code", "id")


def _order_key(row: Mapping[str, object]) -> tuple[str, int]:
    ident = row.get("id")
    return (str(row.get("pubts") or ""), int(ident) if isinstance(ident, int) else _as_int(ident))


def _as_int(value: object) -> int:
    text = str(value)
    return int(text) if text.isdigit() else 0


def _rows(data: object, object: str) -> list[_Row]:
    needs_id = object != "currentstock"
    if isinstance(data, list) and all(
        isinstance(r, dict) and (not needs_id or "id" in r) for r in data
    ):
        return data
    raise ConnectorError(
        f"{object} 的回答 data 不是记录数组",
        system=SYSTEM,
        object=object,
        raw=json.dumps(data, ensure_ascii=False)[:500],
    )


def _record_list(data: object) -> list[_Row]:
    rows = data.get("recordList") if isinstance(data, dict) else None
    if isinstance(rows, list) and all(isinstance(r, dict) and "id" in r for r in rows):
        return rows
    raise ConnectorError(
        "列表回答缺少 data.recordList（每条记录应有 id）",
        system=SYSTEM,
        raw=json.dumps(data, ensure_ascii=False)[:500],
    )


def _digest(fields: Mapping[str, object]) -> str:
    text = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
