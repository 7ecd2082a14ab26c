"""Purchase requisitions (请购单, ``applyorder``) of the scm domain (reference §B3, §B8).

- ``POST /yonbip/scm/applyorder/singleSave_v1``: ``{"data": {…}}`` MDD idempotent by
  ``resubmitCheckKey`` (optional, ≤ 32); ``_status`` Insert/Update (Update needs ``id``);
  required ``bustype``, ``org_code``, ``vouchdate``, ``applyOrders`` (lines with
  ``product_cCode`` and ``qty`` > 0; ``unit_code``, ``requirementDate``,
  ``adviseSupplier_code`` optional). Codes ``QG<yyyyMMdd><5 digits>`` when not given. Only
  open requisitions (status 0) can be changed. Answers the saved requisition [C: API doc
  "请购单单个保存V2" mirrored in community docs].
- ``GET /yonbip/scm/applyorder/detail?id=``: header plus ``applyOrders``.
- ``POST /yonbip/scm/applyorder/batchaudit`` and ``/close``: ``{"data": [{"id"}]}``,
  per-record results like voucherorder's [P: batchaudit seen in YonBIP script samples;
  close in the reference's list].
- ``POST /yonbip/scm/applyorder/list`` (请购单列表查询): ``pageIndex``, ``pageSize``
  (≤ 500 [U]), ``isSum`` (true: one record per requisition, its header; false, the
  default: one record per line, the header repeated and the line's fields under
  ``applyorders_<name>``), ``bustype``, ``product`` (a line's material id), ``simpleVOs``,
  ``queryOrders``; answers ``data: {pageIndex, pageSize, recordCount, pageCount,
  beginPageIndex, endPageIndex, pubts, recordList}`` [P: the API doc "请购单列表查询"
  mirrored in community docs; it names ``status code vouchdate operator org …`` as
  condition fields, not ``pubts``, which the simulator accepts too [U]].
- Each save, audit and close is also published as an event (events.py) to a subscribed
  callback.

Status: 0 开立, 1 已审核, 2 已关闭, 3 审核中 (reference §B8).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation

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

__all__ = ["APPLY_API", "LIST_FIELDS", "ApplyOrderApi"]

APPLY_API = "/yonbip/scm/applyorder"
_OPEN, _AUDITED, _CLOSED = 0, 1, 2
_NAMES = {_OPEN: "开立", _AUDITED: "已审核", _CLOSED: "已关闭"}
#: transaction types (交易类型) of the sandbox tenant for requisitions.
BUSTYPES = {"A25001": "普通请购"}
_LINE_FIELDS = ("unit_code", "adviseSupplier_code", "memo", "receiveAddress")
#: fields the list accepts in simpleVOs and queryOrders (the doc's, plus ``pubts`` [U]).
LIST_FIELDS = ("id", "code", "vouchdate", "pubts", "status", "bustype", "org_code", "memo")
_Publish = Callable[[str, Row], None]


class ApplyOrderApi:
    """The applyorder handlers; ``publish(event_type, record)`` announces each change."""

    def __init__(self, state: BipState, publish: _Publish) -> None:
        self.state = state
        self.publish = publish

    def single_save(self, body: Mapping[str, object], api: str) -> tuple[str, str, object]:
        """Insert or update one requisition, idempotent by resubmitCheckKey."""
        data = body.get("data")
        if not isinstance(data, dict):
            raise ApiError(Code.BUSINESS, '请求体应为 {"data": {…}}')

        def save() -> tuple[int, object]:
            with self.state.batch():
                row = self._save(data)
            self.publish("pu_applyorder_save", row)
            return int(str(row["id"])), row

        return idempotent_save(self.state, api, data, save, required=False)

    def list_page(self, body: Mapping[str, object]) -> object:
        """One page of requisitions (headers with ``isSum``, else one record per line)."""
        index = positive_int(body, "pageIndex", 1, 1_000_000)
        size = positive_int(body, "pageSize", 10, 500)
        tests = parse_conditions(body.get("simpleVOs"), LIST_FIELDS)
        if body.get("bustype") not in (None, ""):
            tests.append(field_test("bustype", "eq", str(body["bustype"])))
        orders = parse_orders(body.get("queryOrders"), LIST_FIELDS)
        product = body.get("product")
        stored = [
            r
            for r in self.state.rows_from("applyorder", stamp_floor(tests))
            if product in (None, "") or any(_same(x.get("product"), product) for x in _lines(r))
        ]
        rows = voucher_rows(body, stored, "applyOrders", "applyorders")
        return page_of(rows, tests, orders, index, size).answer(pubts=self.state.now_text())

    def detail(self, params: Mapping[str, str]) -> object:
        """One requisition with its lines.

        Raises:
            ApiError: 999 for a missing or unknown id.
        """
        return voucher_detail(self.state, "applyorder", params)

    def change_status(self, body: Mapping[str, object], *, to: int) -> object:
        """Audit (open → audited) or close (audited → closed); each record on its own."""
        items = body.get("data")
        if not isinstance(items, list) or not items:
            raise ApiError(Code.BUSINESS, "data 应为非空数组")
        have = _OPEN if to == _AUDITED else _AUDITED
        messages: list[str] = []
        infos: list[Row] = []
        with self.state.batch():
            for item in items:
                ref = item.get("id") if isinstance(item, dict) else None
                row = self.state.resolve("applyorder", ref)
                if row is None:
                    messages.append(f"单据[{ref}]不存在")
                    continue
                if row.get("status") != have:
                    messages.append(
                        f"单据[{row['code']}]状态为{_NAMES[int(str(row['status']))]}，不能操作"
                    )
                    continue
                row = {**row, "status": to, "pubts": self.state.now_text()}
                infos.append(self.state.put("applyorder", row))
        for row in infos:
            self.publish("pu_applyorder_audit" if to == _AUDITED else "pu_applyorder_close", row)
        return {
            "count": len(items),
            "sucessCount": len(infos),
            "failCount": len(messages),
            "messages": messages,
            "infos": [{"id": r["id"], "code": r["code"]} for r in infos],
        }

    def _save(self, data: Mapping[str, object]) -> Row:
        status = str(data.get("_status") or "")
        if status not in ("Insert", "Update"):
            raise ApiError(Code.BUSINESS, f"_status[{status}]无效，应为 Insert 或 Update")
        old = None
        if status == "Update":
            old = self.state.resolve("applyorder", data.get("id"))
            if old is None:
                raise ApiError(Code.BUSINESS, f"要修改的单据[{data.get('id')}]不存在")
            if old.get("status") != _OPEN:
                raise ApiError(Code.BUSINESS, f"单据[{old['code']}]已审核，不能修改")
        row: Row = dict(old) if old else {}
        for name, label in (
            ("bustype", "交易类型"),
            ("org_code", "需求组织"),
            ("vouchdate", "单据日期"),
        ):
            if old is None or name in data:
                row[name] = require_text(data, name, label)
        if str(row["bustype"]) not in BUSTYPES:
            raise ApiError(Code.BUSINESS, f"交易类型[bustype]编码[{row['bustype']}]不存在")
        if str(row["org_code"]) not in ORGS:
            raise ApiError(Code.BUSINESS, f"需求组织[org_code]编码[{row['org_code']}]不存在")
        row["vouchdate"] = _datetime(row["vouchdate"], "vouchdate")
        if "memo" in data:
            row["memo"] = str(data["memo"] or "")[:255]
        if old is None or "applyOrders" in data:
            row["applyOrders"] = self._lines(data.get("applyOrders"))
        row["totalQuantity"] = float(sum(Decimal(str(x["qty"])) for x in _lines(row)))
        code = data.get("code")
        if code not in (None, ""):
            other = self.state.by_code("applyorder", str(code))
            if other is not None and (old is None or other["id"] != old["id"]):
                raise ApiError(Code.BUSINESS, f"单据编号[code]{code}已存在")
            row["code"] = str(code)
        elif old is None:
            row["code"] = self.state.next_number("QG", str(row["vouchdate"])[:10].replace("-", ""))
        now = self.state.now_text()
        if old is None:
            row["id"] = self.state.next_id()
            row["status"] = _OPEN
            row["createTime"] = now
        row["pubts"] = now
        for line in _lines(row):
            line["mainid"] = row["id"]
        return self.state.put("applyorder", row)

    def _lines(self, raw: object) -> list[Row]:
        if not isinstance(raw, list) or not raw:
            raise ApiError(Code.BUSINESS, "表体[applyOrders]不能为空")
        out: list[Row] = []
        for n, item in enumerate(raw):
            if not isinstance(item, dict):
                raise ApiError(Code.BUSINESS, f"applyOrders[{n}] 应为对象")
            product = self.state.resolve("product", item.get("product_cCode"))
            if product is None:
                raise ApiError(
                    Code.BUSINESS,
                    f"applyOrders[{n}]: 物料[product_cCode]编码[{item.get('product_cCode')}]不存在",
                )
            try:
                qty = Decimal(str(item.get("qty")))
            except InvalidOperation:
                qty = Decimal(0)
            if isinstance(item.get("qty"), bool) or not qty.is_finite() or not 0 < qty < 10**12:
                raise ApiError(Code.BUSINESS, f"applyOrders[{n}]: 数量[qty]应大于0")
            line: Row = {
                "id": self.state.next_id(),
                "rowno": (n + 1) * 10,
                "product": product["id"],
                "product_cCode": product["code"],
                "product_name": lang_text(product.get("name")),
                "qty": float(qty),
                "unit_code": product.get("unitCode"),
            }
            if item.get("requirementDate") not in (None, ""):
                line["requirementDate"] = _datetime(
                    item["requirementDate"], f"applyOrders[{n}].requirementDate"
                )
            for name in _LINE_FIELDS:
                if item.get(name) not in (None, ""):
                    line[name] = item[name]
            out.append(line)
        return out


def _same(a: object, b: object) -> bool:
    return a is not None and str(a) == str(b)


def _lines(row: Row) -> list[Row]:
    lines = row.get("applyOrders")
    return [x for x in lines if isinstance(x, dict)] if isinstance(lines, list) else []


def _datetime(value: object, name: str) -> str:
    text = str(value or "").strip()
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).strftime("%Y-%m-%d %H:%M:%S")
        except ValueError:
            continue
    raise ApiError(Code.BUSINESS, f"[{name}]格式应为 yyyy-MM-dd HH:mm:ss，收到[{text}]")
