"""Sales order (销售订单, ``voucherorder``) APIs of the sd domain (reference §B3).

- ``POST /yonbip/sd/voucherorder/list``: ``pageIndex``, ``pageSize`` (≤ 500 [U]),
  ``code``, ``isSum``, ``simpleVOs``, ``queryOrders``, ``open_vouchdate_begin/end``;
  answers ``data: {pageIndex, pageSize, recordCount, pageCount, recordList}``. With
  ``isSum: true`` a record is an order header; otherwise one record per order line with
  the header fields repeated and the line's under ``orderDetails_<name>`` [U: the real
  list's line field names differ by tenant version].
- ``GET /yonbip/sd/voucherorder/detail?id=``: header plus ``orderDetails``.
- ``POST /yonbip/sd/voucherorder/singleSave``: ``{"data": {…}}`` flat keys (``!`` is part
  of a key), ``_status`` Insert/Update, MDD idempotent by ``resubmitCheckKey``.
- ``POST /yonbip/sd/voucherorder/batchaudit`` / ``batchunaudit``: ``{"data": [{"id"}]}``.
  An order delivered in YonBIP (``nextStatusName`` 已发货, set by the simulator control
  ``POST /sim/deliver``) cannot be un-audited [U: wording of the refusal].
- ``POST /yonbip/sd/voucherorder/delete``: ``{"data": {"id": [...], "code": [...]}}``;
  open orders only, per-record results (messages name the order).

Checks (answered as code 999 with the field): required header and line fields, the
customer (``agentId``) and products (``productId``) by id or code, positive quantities,
``vouchdate`` as ``yyyy-MM-dd[ HH:mm:ss]``, ``payMoney`` equal to the sum of line
``oriSum`` (to the cent), an audited order cannot be changed, codes are unique.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation

from erpbridge.sims.yonbip.credit import refresh_credit
from erpbridge.sims.yonbip.query import (
    field_test,
    page_of,
    parse_conditions,
    parse_orders,
    positive_int,
    stamp_floor,
    voucher_rows,
)
from erpbridge.sims.yonbip.rules import (
    ORGS,
    idempotent_save,
    lang_text,
    require_text,
    voucher_detail,
)
from erpbridge.sims.yonbip.state import BipState, Row
from erpbridge.sims.yonbip.wire import ApiError, Code

__all__ = ["DELIVERED", "HEADER_FIELDS", "LIST_FIELDS", "OrderApi"]

#: header fields kept from a save (besides the computed ones).
HEADER_FIELDS = (
    "salesOrgId",
    "transactionTypeId",
    "vouchdate",
    "settlementOrgId",
    "invoiceAgentId",
    "payMoney",
    "orderPrices!currency",
    "orderPrices!natCurrency",
    "orderPrices!exchRate",
    "orderPrices!exchangeRateType",
    "orderPrices!taxInclusive",
    "memo",
    "receiveContacter",
    "receiveContacterPhone",
    "receiveAddress",
)
_LINE_FIELDS = (
    "stockOrgId",
    "masterUnitId",
    "iProductAuxUnitId",
    "iProductUnitId",
    "subQty",
    "priceQty",
    "invExchRate",
    "taxId",
    "orderProductType",
    "orderDetailPrices!oriMoney",
    "orderDetailPrices!oriTax",
    "hopeReceiveDate",
)
#: fields the list accepts in simpleVOs and queryOrders.
LIST_FIELDS = (
    "id",
    "code",
    "vouchdate",
    "pubts",
    "agentId",
    "agentId_code",
    "salesOrgId",
    "status",
    "payMoney",
    "transactionTypeId",
)
_STATUS_OPEN, _STATUS_AUDITED = 0, 1
#: amounts and quantities are decimal(28, 8) columns [U]; larger values are refused.
_MAX_AMOUNT = Decimal(10) ** 15
_STATUS_NAMES = {_STATUS_OPEN: "开立", _STATUS_AUDITED: "已审核"}
#: ``nextStatusName`` of a delivered order [U: the field's values are not documented].
DELIVERED = "已发货"


class OrderApi:
    """The voucherorder handlers over one state."""

    def __init__(self, state: BipState) -> None:
        self.state = state

    def list_page(self, body: Mapping[str, object]) -> object:
        """One page of orders (headers with ``isSum``, else one record per line)."""
        index = positive_int(body, "pageIndex", 1, 1_000_000)
        size = positive_int(body, "pageSize", 10, 500)
        tests = parse_conditions(body.get("simpleVOs"), LIST_FIELDS)
        if body.get("code") not in (None, ""):
            tests.append(field_test("code", "eq", str(body["code"])))
        begin, end = body.get("open_vouchdate_begin"), body.get("open_vouchdate_end")
        if begin not in (None, ""):
            tests.append(field_test("vouchdate", "egt", str(begin)[:10]))
        if end not in (None, ""):
            tests.append(field_test("vouchdate", "elt", str(end)[:10] + " 23:59:59"))
        orders = parse_orders(body.get("queryOrders"), LIST_FIELDS)
        stored = self.state.rows_from("voucherorder", stamp_floor(tests))
        rows = voucher_rows(body, stored, "orderDetails", "orderDetails")
        return page_of(rows, tests, orders, index, size).answer()

    def detail(self, params: Mapping[str, str]) -> object:
        """One order with its lines.

        Raises:
            ApiError: 999 for a missing or unknown id.
        """
        return voucher_detail(self.state, "voucherorder", params)

    def single_save(self, body: Mapping[str, object], api: str) -> tuple[str, str, object]:
        """Insert or update one order, idempotent by resubmitCheckKey."""
        data = body.get("data")
        if not isinstance(data, dict):
            raise ApiError(Code.BUSINESS, '请求体应为 {"data": {…}}')

        def save() -> tuple[int, object]:
            with self.state.batch():
                row = self._save(data)
            return int(str(row["id"])), row

        return idempotent_save(self.state, api, data, save, required=False)

    def audit(self, body: Mapping[str, object], *, audit: bool) -> object:
        """Audit (or un-audit) orders; each succeeds or fails on its own."""
        items = body.get("data")
        if not isinstance(items, list) or not items:
            raise ApiError(Code.BUSINESS, "data 应为非空数组")
        messages: list[str] = []
        infos: list[Row] = []
        want, have = (_STATUS_AUDITED, _STATUS_OPEN) if audit else (_STATUS_OPEN, _STATUS_AUDITED)
        with self.state.batch():
            for item in items:
                ref = item.get("id") if isinstance(item, dict) else None
                row = self.state.resolve("voucherorder", ref)
                if row is None:
                    messages.append(f"单据[{ref}]不存在")
                    continue
                if row.get("status") != have:
                    messages.append(f"单据[{row['code']}]状态为{row.get('statusName')}，不能操作")
                    continue
                if not audit and row.get("nextStatusName") == DELIVERED:
                    # [U] wording: YonBIP refuses to un-audit an order with downstream
                    # documents (发货单); the message names the order and why.
                    messages.append(f"单据[{row['code']}]已生成下游发货单（已发货），不能弃审")
                    continue
                row = {**row, "status": want, "statusName": _STATUS_NAMES[want]}
                row["nextStatusName"] = "待发货" if audit else "待审核"
                row["pubts"] = self.state.now_text()
                infos.append(self.state.put("voucherorder", row))
                refresh_credit(self.state, row.get("agentId"))
        return {
            "count": len(items),
            "sucessCount": len(infos),
            "failCount": len(messages),
            "messages": messages,
            "infos": [{"id": r["id"], "code": r["code"]} for r in infos],
        }

    def delete(self, body: Mapping[str, object]) -> object:
        """Delete open orders given by ``data.id`` and/or ``data.code`` (lists).

        An audited order cannot be deleted; each order succeeds or fails on its own.
        """
        data = body.get("data")
        if not isinstance(data, dict):
            raise ApiError(Code.BUSINESS, '请求体应为 {"data": {"id": [...], "code": [...]}}')
        refs = [*_as_list(data.get("id")), *_as_list(data.get("code"))]
        if not refs:
            raise ApiError(Code.BUSINESS, "请传入要删除的单据 id 或 code")
        messages: list[str] = []
        infos: list[Row] = []
        with self.state.batch():
            for ref in refs:
                row = self.state.resolve("voucherorder", ref)
                if row is None:
                    messages.append(f"单据[{ref}]不存在或已被删除")
                elif row.get("status") == _STATUS_AUDITED:
                    messages.append(f"单据[{ref}]（{row['code']}）已审核，不能删除")
                else:
                    self.state.remove("voucherorder", int(str(row["id"])))
                    infos.append({"id": row["id"], "code": row["code"]})
                    refresh_credit(self.state, row.get("agentId"))
        return {
            "count": len(refs),
            "sucessCount": len(infos),
            "failCount": len(messages),
            "messages": messages,
            "infos": infos,
        }

    def deliver(self, body: Mapping[str, object]) -> object:
        """Mark an audited order delivered (发货), as a 发货单 made in YonBIP does.

        Simulator control (``POST /sim/deliver``), not an open API: afterwards the
        order cannot be un-audited, so neither changed nor deleted through the API.

        Raises:
            ApiError: 999 for an unknown order or one that is not audited.
        """
        ref = body.get("id", body.get("code"))
        row = self.state.resolve("voucherorder", ref)
        if row is None:
            raise ApiError(Code.BUSINESS, f"单据[{ref}]不存在或已被删除")
        if row.get("status") != _STATUS_AUDITED:
            raise ApiError(Code.BUSINESS, f"单据[{row['code']}]未审核，不能发货")
        row = {**row, "nextStatusName": DELIVERED, "pubts": self.state.now_text()}
        return self.state.put("voucherorder", row)

    # --- saving -----------------------------------------------------------------------

    def _save(self, data: Mapping[str, object]) -> Row:
        status = str(data.get("_status") or "Insert")
        if status not in ("Insert", "Update"):
            raise ApiError(Code.BUSINESS, f"_status[{status}]无效，应为 Insert 或 Update")
        old = None
        if status == "Update":
            old = self.state.resolve("voucherorder", data.get("id") or data.get("code"))
            if old is None:
                raise ApiError(Code.BUSINESS, f"要修改的单据[{data.get('id')}]不存在")
            if old.get("status") == _STATUS_AUDITED:
                raise ApiError(Code.BUSINESS, f"单据[{old['code']}]已审核，不能修改")
        row: Row = dict(old) if old else {}
        for name in ("salesOrgId", "transactionTypeId", "vouchdate", "agentId"):
            if old is None or name in data:
                require_text(data, name, "表头字段")
        for name in HEADER_FIELDS:
            if name in data:
                row[name] = data[name]
        row["vouchdate"] = _vouchdate(row.get("vouchdate"))
        if str(row["salesOrgId"]) not in ORGS:
            raise ApiError(Code.BUSINESS, f"销售组织[salesOrgId]编码[{row['salesOrgId']}]不存在")
        if "agentId" in data:
            agent = self.state.resolve("merchant", data["agentId"])
            if agent is None:
                raise ApiError(Code.BUSINESS, f"客户[agentId]编码或ID[{data['agentId']}]不存在")
            row["agentId"], row["agentId_code"] = agent["id"], agent["code"]
            row["agentId_name"] = lang_text(agent.get("name"))
        lines = self._lines(data, old)
        row["orderDetails"] = lines
        total = sum((_money(line.get("oriSum"), "oriSum") for line in lines), Decimal(0))
        if "payMoney" in data or old is None:
            pay = _money(data.get("payMoney"), "payMoney")
            if pay != total:
                raise ApiError(
                    Code.BUSINESS, f"表头金额[payMoney]{pay}与表体价税合计之和{total}不一致"
                )
        row["payMoney"] = float(total)
        code = data.get("code")
        if code not in (None, ""):
            other = self.state.by_code("voucherorder", str(code))
            if other is not None and (old is None or other["id"] != old["id"]):
                raise ApiError(Code.BUSINESS, f"单据编号[code]{code}已存在")
            row["code"] = str(code)
        elif old is None:
            row["code"] = self.state.next_number("UO-", str(row["vouchdate"])[:10].replace("-", ""))
        now = self.state.now_text()
        if old is None:
            row["id"] = self.state.next_id()
            row["status"], row["statusName"] = _STATUS_OPEN, _STATUS_NAMES[_STATUS_OPEN]
            row["nextStatusName"] = "待审核"
            row["createTime"] = now
        row["pubts"] = now
        for line in lines:
            line["orderId"] = row["id"]
        return self.state.put("voucherorder", row)

    def _lines(self, data: Mapping[str, object], old: Row | None) -> list[Row]:
        raw = data.get("orderDetails")
        if raw is None and old is not None:
            return [dict(x) for x in _lines(old)]
        if not isinstance(raw, list) or not raw:
            raise ApiError(Code.BUSINESS, "表体[orderDetails]不能为空")
        kept = {int(str(x["id"])): dict(x) for x in _lines(old)} if old else {}
        out: list[Row] = []
        for n, item in enumerate(raw):
            if not isinstance(item, dict):
                raise ApiError(Code.BUSINESS, f"orderDetails[{n}] 应为对象")
            status = str(item.get("_status") or "Insert")
            if status == "Delete":
                continue
            line = kept.get(int(str(item["id"]))) if str(item.get("id", "")).isdigit() else None
            line = dict(line) if line else {"id": self.state.next_id()}
            product = self.state.resolve("product", item.get("productId", line.get("productId")))
            if product is None:
                raise ApiError(
                    Code.BUSINESS,
                    f"orderDetails[{n}]: 物料[productId]编码或ID[{item.get('productId')}]不存在",
                )
            line["productId"], line["productId_code"] = product["id"], product["code"]
            line["productId_name"] = lang_text(product.get("name"))
            qty = _money(item.get("qty", line.get("qty")), f"orderDetails[{n}].qty")
            if qty <= 0:
                raise ApiError(Code.BUSINESS, f"orderDetails[{n}]: 数量[qty]应大于0")
            price = _money(
                item.get("oriTaxUnitPrice", line.get("oriTaxUnitPrice")),
                f"orderDetails[{n}].oriTaxUnitPrice",
            )
            line["qty"], line["oriTaxUnitPrice"] = float(qty), float(price)
            given = item.get("oriSum")
            line_sum = _money(
                given if given is not None else qty * price, f"orderDetails[{n}].oriSum"
            ).quantize(Decimal("0.01"))
            line["oriSum"] = float(line_sum)
            for name in _LINE_FIELDS:
                if name in item:
                    line[name] = item[name]
            line.setdefault("orderProductType", "SALE")
            line["rowno"] = n + 1
            out.append(line)
        if not out:
            raise ApiError(Code.BUSINESS, "表体[orderDetails]不能为空")
        return out


def _as_list(value: object) -> list[object]:
    if value in (None, ""):
        return []
    return list(value) if isinstance(value, list) else [value]


def _lines(row: Row | None) -> list[Row]:
    lines = row.get("orderDetails") if row else None
    return [x for x in lines if isinstance(x, dict)] if isinstance(lines, list) else []


def _money(value: object, name: str) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ApiError(Code.BUSINESS, f"字段[{name}]不能为空且应为数字")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ApiError(Code.BUSINESS, f"字段[{name}]应为数字，收到[{value}]") from None
    if not number.is_finite() or abs(number) >= _MAX_AMOUNT:
        raise ApiError(Code.BUSINESS, f"字段[{name}]超出范围（应小于 10^15 的有限数字）")
    return number.quantize(Decimal("0.000001"))


def _vouchdate(value: object) -> str:
    text = str(value or "").strip()
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).strftime("%Y-%m-%d %H:%M:%S")
        except ValueError:
            continue
    raise ApiError(Code.BUSINESS, f"单据日期[vouchdate]格式应为 yyyy-MM-dd HH:mm:ss，收到[{text}]")
