"""U8 OpenAPI business endpoints: customer, inventory, current stock, sale order (§A2).

Lists page with ``page_index`` / ``rows_per_page`` (≤ 500 [U]) and answer ``page_index,
rows_per_page, row_count, page_count`` next to the records. They are in code order; with
``timestamp_begin``/``timestamp_end`` in (ts, code) order [U]. Business refusals are
``errcode 30001`` with U8's wording, a missing record ``30002``, a duplicate code
``30003`` ([U] codes, see wire.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation

from erpbridge.sims.yonyou.state import Row, U8State
from erpbridge.sims.yonyou.wire import Err, U8Error, ok

__all__ = ["DEPARTMENTS", "PERSONS", "SORTS", "Records"]

SORTS = {"01": "华东客户", "02": "华南客户", "03": "华北客户", "04": "西部客户"}
DEPARTMENTS = {"01": "销售一部", "02": "销售二部"}
PERSONS = {"0101": "张伟", "0102": "李娜", "0201": "王芳"}
SALE_TYPES = {"1": "普通销售", "2": "直运销售"}
#: sale order actions: (state before, state after, verb for the refusal).
_TRANSITIONS = {
    "verify": ("开立", "审核", "审核"),
    "unverify": ("审核", "开立", "弃审"),
    "close": ("审核", "关闭", "关闭"),
    "open": ("关闭", "审核", "打开"),
}
_CUSTOMER_TEXT = ("address", "phone", "contact", "email", "taxno", "domain_code", "memo")
_MAX_ROWS = 500
#: U8 money and quantity columns are decimal(28, 6) / (38, 8); larger values are refused.
_MAX_NUMBER = Decimal(10) ** 15


def _page(params: Mapping[str, str], rows: list[Row], key: str) -> dict[str, object]:
    index = _int(params, "page_index", 1)
    size = _int(params, "rows_per_page", 20)
    if size > _MAX_ROWS:
        raise U8Error(Err.PARAM, f"rows_per_page 不能大于 {_MAX_ROWS}")
    begin, end = params.get("timestamp_begin"), params.get("timestamp_end")
    if begin:
        rows = [r for r in rows if str(r.get("ts", "")) >= begin]
    if end:
        rows = [r for r in rows if str(r.get("ts", "")) <= end]
    if begin or end:
        rows = sorted(rows, key=lambda r: (str(r.get("ts", "")), str(r.get("code", ""))))
    total = len(rows)
    start = (index - 1) * size
    return ok(
        page_index=index,
        rows_per_page=size,
        row_count=total,
        page_count=(total + size - 1) // size,
        **{key: rows[start : start + size]},
    )


def _int(params: Mapping[str, str], name: str, default: int) -> int:
    text = params.get(name)
    if text is None or text == "":
        return default
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise U8Error(Err.PARAM, f"参数 {name} 应为正整数，收到 {text!r}")
    return int(text)


def _code_range(params: Mapping[str, str], prefix: str = "code") -> Callable[[Row], bool]:
    begin, end = params.get(f"{prefix}_begin"), params.get(f"{prefix}_end")

    def test(row: Row) -> bool:
        code = str(row.get("code", ""))
        return (not begin or code >= begin) and (not end or code <= end)

    return test


def _number(value: object, name: str) -> Decimal:
    if isinstance(value, bool) or value in (None, ""):
        raise U8Error(Err.BUSINESS, f"{name} 不能为空")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise U8Error(Err.BUSINESS, f"{name} 应为数字，收到 {value!r}") from None
    if not number.is_finite() or abs(number) >= _MAX_NUMBER:
        raise U8Error(Err.BUSINESS, f"{name} 超出范围（应小于 10^15 的有限数字）")
    return number


def _text(data: Mapping[str, object], name: str, label: str) -> str:
    value = data.get(name)
    if value is None or isinstance(value, dict | list | bool) or not str(value).strip():
        raise U8Error(Err.BUSINESS, f"{label}({name}) 不能为空")
    return str(value).strip()


def _object(body: Mapping[str, object], key: str) -> Mapping[str, object]:
    data = body.get(key)
    if not isinstance(data, dict):
        raise U8Error(Err.PARAM, f'请求体应为 {{"{key}": {{…}}}}')
    return data


class Records:
    """Handlers over one state."""

    def __init__(self, state: U8State) -> None:
        self.state = state

    # --- customer -------------------------------------------------------------------

    def customer_get(self, params: Mapping[str, str]) -> object:
        """One customer by code (``id``)."""
        return ok(customer=self._must("customer", params.get("id", ""), "客户"))

    def customer_list(self, params: Mapping[str, str]) -> object:
        """A page of customers."""
        in_range, name = _code_range(params), params.get("name")
        rows = [
            r
            for r in self.state.rows("customer")
            if in_range(r) and (not name or name in str(r.get("name", "")))
        ]
        return _page(params, rows, "customer")

    def customer_save(self, body: Mapping[str, object], *, is_new: bool) -> object:
        """Add (``is_new``) or edit one customer; answers ``id`` = the code."""
        data = _object(body, "customer")
        code = _text(data, "code", "客户编码")
        old = self.state.get("customer", code)
        if is_new and old is not None:
            raise U8Error(Err.DUPLICATE, f"客户编码 {code} 已存在")
        if not is_new and old is None:
            raise U8Error(Err.NOT_FOUND, f"客户 {code} 不存在")
        row: Row = dict(old) if old else {"code": code, "createdate": self.state.now_text()}
        for name, label in (
            ("name", "客户名称"),
            ("abbrname", "客户简称"),
            ("sort_code", "客户分类"),
        ):
            if is_new or name in data:
                row[name] = _text(data, name, label)
        if row["sort_code"] not in SORTS:
            raise U8Error(Err.BUSINESS, f"客户分类(sort_code) {row['sort_code']} 不存在")
        row["sort_name"] = SORTS[str(row["sort_code"])]
        for name in _CUSTOMER_TEXT:
            if name in data:
                row[name] = None if data[name] is None else str(data[name])
        for name in ("creditline", "creditdays"):
            if name in data and data[name] is not None:
                row[name] = float(_number(data[name], name))
        row["ts"] = self.state.now_text()
        self.state.put("customer", code, row)
        return ok(id=code)

    # --- inventory and stock ----------------------------------------------------------

    def inventory_get(self, params: Mapping[str, str]) -> object:
        """One inventory item by code."""
        return ok(inventory=self._must("inventory", params.get("id", ""), "存货"))

    def inventory_list(self, params: Mapping[str, str]) -> object:
        """A page of inventory items."""
        in_range, name = _code_range(params), params.get("name")
        rows = [
            r
            for r in self.state.rows("inventory")
            if in_range(r) and (not name or name in str(r.get("name", "")))
        ]
        return _page(params, rows, "inventory")

    def stock_list(self, params: Mapping[str, str]) -> object:
        """Current stock rows by inventory code range and warehouse."""
        begin, end = params.get("invcode_begin"), params.get("invcode_end")
        warehouse = params.get("whcode")
        rows = [
            r
            for r in self.state.rows("currentstock")
            if (not begin or str(r["invcode"]) >= begin)
            and (not end or str(r["invcode"]) <= end)
            and (not warehouse or r["whcode"] == warehouse)
        ]
        return _page(params, rows, "currentstock")

    # --- sale order ---------------------------------------------------------------------

    def order_get(self, params: Mapping[str, str]) -> object:
        """One sale order with its ``entry`` lines."""
        return ok(saleorder=self._must("saleorder", params.get("id", ""), "销售订单"))

    def order_list(self, params: Mapping[str, str]) -> object:
        """A page of sale order headers."""
        in_range = _code_range(params)
        cust = params.get("custcode")
        begin, end = params.get("date_begin"), params.get("date_end")
        rows = [
            {k: v for k, v in r.items() if k != "entry"}
            for r in self.state.rows("saleorder")
            if in_range(r)
            and (not cust or r.get("custcode") == cust)
            and (not begin or str(r.get("date")) >= begin)
            and (not end or str(r.get("date")) <= end)
        ]
        return _page(params, rows, "saleorderlist")

    def order_add(self, body: Mapping[str, object]) -> object:
        """Add one sale order (state 开立); answers ``id`` = its code."""
        data = _object(body, "saleorder")
        code = str(data.get("code") or "").strip() or self.state.next_code("saleorder")
        if self.state.get("saleorder", code) is not None:
            raise U8Error(Err.DUPLICATE, f"销售订单号 {code} 已存在")
        row: Row = {"code": code}
        row["businesstype"] = _text(data, "businesstype", "业务类型")
        row["typecode"] = _text(data, "typecode", "销售类型")
        if row["typecode"] not in SALE_TYPES:
            raise U8Error(Err.BUSINESS, f"销售类型(typecode) {row['typecode']} 不存在")
        customer = self.state.get("customer", _text(data, "custcode", "客户编码"))
        if customer is None:
            raise U8Error(Err.BUSINESS, f"客户(custcode) {data['custcode']} 不存在")
        row["custcode"], row["cusname"] = customer["code"], customer["name"]
        row["deptcode"] = _text(data, "deptcode", "部门编码")
        if row["deptcode"] not in DEPARTMENTS:
            raise U8Error(Err.BUSINESS, f"部门(deptcode) {row['deptcode']} 不存在")
        person = data.get("personcode")
        if person not in (None, "") and person not in PERSONS:
            raise U8Error(Err.BUSINESS, f"业务员(personcode) {person} 不存在")
        row["personcode"] = person
        row["date"] = _date(data.get("date"))
        for name in ("memo", "sendaddress", "ccusperson", "dpredatebt"):
            if name in data:
                row[name] = data[name]
        header_rate = _number(data.get("taxrate", 13), "taxrate")
        if not 0 <= header_rate <= 100:
            raise U8Error(Err.BUSINESS, "税率(taxrate) 应在 0 到 100 之间")
        row["taxrate"] = float(header_rate)
        entries = self._entries(data.get("entry"), Decimal(str(row["taxrate"])))
        row["entry"] = entries
        row["sum"] = float(sum((Decimal(str(e["sum"])) for e in entries), Decimal(0)))
        row["state"], row["verifier"] = "开立", None
        row["maker"] = "OpenAPI"
        row["ts"] = self.state.now_text()
        self.state.put("saleorder", code, row)
        return ok(id=code)

    def order_state(self, body: Mapping[str, object], action: str) -> object:
        """Move a sale order given by ``voucher_code`` through 开立 → 审核 → 关闭 and back.

        ``verify`` 开立→审核, ``unverify`` 审核→开立, ``close`` 审核→关闭, ``open`` 关闭→审核.
        """
        data = _object(body, "saleorder")
        code = _text(data, "voucher_code", "单据号")
        row = self._must("saleorder", code, "销售订单")
        start, end, verb = _TRANSITIONS[action]
        if row.get("state") != start:
            raise U8Error(Err.BUSINESS, f"销售订单 {code} 当前状态为{row.get('state')}，不能{verb}")
        verifier = None if end == "开立" else (row.get("verifier") or "OpenAPI")
        row = {**row, "state": end, "verifier": verifier, "ts": self.state.now_text()}
        self.state.put("saleorder", code, row)
        return ok(id=code)

    def order_verify(self, body: Mapping[str, object]) -> object:
        """Audit (审核) an open sale order (the seed uses it)."""
        return self.order_state(body, "verify")

    def _entries(self, raw: object, header_rate: Decimal) -> list[Row]:
        if not isinstance(raw, list) or not raw:
            raise U8Error(Err.BUSINESS, "表体(entry) 不能为空")
        out: list[Row] = []
        for n, item in enumerate(raw, start=1):
            if not isinstance(item, dict):
                raise U8Error(Err.BUSINESS, f"第{n}行 表体应为对象")
            inv = self.state.get("inventory", _text(item, "inventorycode", f"第{n}行 存货编码"))
            if inv is None:
                raise U8Error(
                    Err.BUSINESS, f"第{n}行 存货(inventorycode) {item['inventorycode']} 不存在"
                )
            qty = _number(item.get("quantity"), f"第{n}行 quantity")
            if qty <= 0:
                raise U8Error(Err.BUSINESS, f"第{n}行 数量(quantity) 应大于0")
            rate = _number(item.get("taxrate", header_rate), f"第{n}行 taxrate")
            if not 0 <= rate <= 100:
                raise U8Error(Err.BUSINESS, f"第{n}行 税率(taxrate) 应在 0 到 100 之间")
            if "taxunitprice" in item:
                taxprice = _number(item["taxunitprice"], f"第{n}行 taxunitprice")
                price = (taxprice / (1 + rate / 100)).quantize(Decimal("0.000001"))
            else:
                price = _number(item.get("unitprice"), f"第{n}行 unitprice")
                taxprice = (price * (1 + rate / 100)).quantize(Decimal("0.000001"))
            total = _number(qty * taxprice, f"第{n}行 价税合计(sum)").quantize(Decimal("0.01"))
            money = (total / (1 + rate / 100)).quantize(Decimal("0.01"))
            out.append(
                {
                    "rowno": int(str(item.get("rowno") or n)),
                    "inventorycode": inv["code"],
                    "inventoryname": inv["name"],
                    "quantity": float(qty),
                    "unitprice": float(price),
                    "taxunitprice": float(taxprice),
                    "money": float(money),
                    "tax": float(total - money),
                    "sum": float(total),
                    "taxrate": float(rate),
                    "bgift": 1 if str(item.get("bgift", 0)) in ("1", "true", "True") else 0,
                }
            )
        return out

    def _must(self, table: str, code: str, label: str) -> Row:
        if not code:
            raise U8Error(Err.PARAM, "缺少参数 id")
        row = self.state.get(table, code)
        if row is None:
            raise U8Error(Err.NOT_FOUND, f"{label} {code} 不存在")
        return row


def _date(value: object) -> str:
    text = str(value or "").strip()
    try:
        return datetime.strptime(text, "%Y-%m-%d").strftime("%Y-%m-%d")
    except ValueError:
        raise U8Error(Err.BUSINESS, f"单据日期(date) 应为 yyyy-MM-dd，收到 {text!r}") from None
