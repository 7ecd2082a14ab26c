"""Customer archive (客户档案, ``merchant``) APIs of the digitalModel domain (reference §B3).

- ``POST /yonbip/digitalModel/merchant/newlist``: ``pageIndex``, ``pageSize`` (≤ 5000),
  ``code``, ``name`` (contains), ``pubts`` (modified at or after); ``data`` is a plain
  array. Its order is [U]: the simulator answers (pubts, id) ascending.
- ``POST /yonbip/digitalModel/merchant/newBatchDetail``: ``id`` or ``code`` (one or a list).
- ``POST /yonbip/digitalModel/merchant/idempotent/newinsert``: MDD save with
  ``resubmitCheckKey``; ``data`` answers ``[{"id", "code", …}]``. ``_status: "Update"``
  with ``id`` or ``code`` updates [U: the real update path may differ].
- ``POST /yonbip/digitalModel/batch/merchant/save``: ``{"data": [records]}``, not
  idempotent, partial success: ``count``, ``sucessCount`` (sic), ``failCount``,
  ``messages`` (``客户[code]: why``), ``infos`` (the saved records).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from erpbridge.sims.yonbip.query import field_test, page_of, positive_int, stamp_floor
from erpbridge.sims.yonbip.rules import ORGS, idempotent_save, lang_text, require_text
from erpbridge.sims.yonbip.state import BipState, Row
from erpbridge.sims.yonbip.wire import ApiError, Code

__all__ = ["CLASSES", "MerchantApi"]

#: customer classes (客户分类): code -> name.
CLASSES = {"01": "重点客户", "02": "普通客户", "03": "经销商"}
_TEXT_FIELDS = ("creditCode", "address", "contactName", "contactTel", "email", "memo")


class MerchantApi:
    """The merchant handlers over one state."""

    def __init__(self, state: BipState) -> None:
        self.state = state

    def newlist(self, body: Mapping[str, object]) -> object:
        """One page of customers."""
        index = positive_int(body, "pageIndex", 1, 1_000_000)
        size = positive_int(body, "pageSize", 10, 5000)
        tests: list[Callable[[Row], bool]] = []
        if body.get("code") not in (None, ""):
            tests.append(field_test("code", "eq", str(body["code"])))
        if body.get("name") not in (None, ""):
            wanted = str(body["name"])
            tests.append(lambda r: wanted in str(lang_text(r.get("name")) or ""))
        if body.get("pubts") not in (None, ""):
            tests.append(field_test("pubts", "egt", str(body["pubts"])))
        rows = self.state.rows_from("merchant", stamp_floor(tests))
        page = page_of(rows, tests, [("pubts", False)], index, size)
        return page.rows

    def batch_detail(self, body: Mapping[str, object]) -> object:
        """Customers by id or code; unknown ones are left out."""
        ids, codes = _listed(body.get("id")), _listed(body.get("code"))
        if not ids and not codes:
            raise ApiError(Code.BUSINESS, "请传入客户 id 或 code")
        out: list[Row] = []
        for value in ids:
            row = self.state.resolve("merchant", value)
            if row is not None and str(value).isdigit():
                out.append(row)
        for value in codes:
            row = self.state.by_code("merchant", str(value))
            if row is not None:
                out.append(row)
        return out

    def newinsert(self, body: Mapping[str, object], api: str) -> tuple[str, str, object]:
        """One customer, idempotent by resubmitCheckKey."""
        data = _data_object(body)

        def save() -> tuple[int, object]:
            with self.state.batch():
                row = self.save_one(data)
            return int(str(row["id"])), [row]

        return idempotent_save(self.state, api, data, save, required=True)

    def batch_save(self, body: Mapping[str, object]) -> object:
        """Many customers; each saved or refused on its own."""
        records = body.get("data")
        if not isinstance(records, list) or not records:
            raise ApiError(Code.BUSINESS, "data 应为非空数组")
        messages: list[str] = []
        infos: list[Row] = []
        with self.state.batch():
            for n, record in enumerate(records):
                label = record.get("code") if isinstance(record, dict) else None
                try:
                    if not isinstance(record, dict):
                        raise ApiError(Code.BUSINESS, f"data[{n}] 应为对象")
                    infos.append(self.save_one(record))
                except ApiError as exc:
                    messages.append(f"客户[{label or n}]: {exc.message}")
        return {
            "count": len(records),
            "sucessCount": len(infos),
            "failCount": len(messages),
            "messages": messages,
            "infos": infos,
        }

    def save_one(self, data: Mapping[str, object]) -> Row:
        """Insert or update one customer after checking it.

        Raises:
            ApiError: 999 with the field and the reason.
        """
        status = str(data.get("_status") or "Insert")
        if status not in ("Insert", "Update"):
            raise ApiError(Code.BUSINESS, f"_status[{status}]无效，应为 Insert 或 Update")
        old = None
        if status == "Update":
            ref = data.get("id") or data.get("code")
            old = self.state.resolve("merchant", ref)
            if old is None:
                raise ApiError(Code.BUSINESS, f"要修改的客户[{ref}]不存在")
        row: Row = dict(old) if old else {}
        code = data.get("code")
        if code not in (None, ""):
            code = str(code).strip()
            other = self.state.by_code("merchant", code)
            if other is not None and (old is None or other["id"] != old["id"]):
                raise ApiError(Code.BUSINESS, f"客户编码[{code}]已存在")
            row["code"] = code
        elif old is None:
            row["code"] = self.state.next_number("KH", "")
        if "name" in data or old is None:
            name = lang_text(data.get("name"))
            if name is None:
                raise ApiError(Code.BUSINESS, "客户名称[name]不能为空")
            row["name"] = {"zh_CN": name}
        if "shortname" in data:
            row["shortname"] = {"zh_CN": lang_text(data.get("shortname")) or ""}
        org = data.get("createOrgCode") or data.get("org_code") or data.get("createOrg")
        if org is not None or old is None:
            org_code = require_text({"createOrgCode": org}, "createOrgCode", "管理组织")
            if org_code not in ORGS:
                raise ApiError(Code.BUSINESS, f"管理组织[createOrgCode]编码[{org_code}]不存在")
            row["createOrgCode"], row["createOrg_name"] = org_code, ORGS[org_code]
        if "customerClassCode" in data or old is None:
            cls = require_text(data, "customerClassCode", "客户分类")
            if cls not in CLASSES:
                raise ApiError(Code.BUSINESS, f"客户分类[customerClassCode]编码[{cls}]不存在")
            row["customerClassCode"], row["customerClass_name"] = cls, CLASSES[cls]
        for name in _TEXT_FIELDS:
            if name in data:
                value = data[name]
                if value is not None and not isinstance(value, str | int):
                    raise ApiError(Code.BUSINESS, f"字段[{name}]应为文本")
                row[name] = None if value is None else str(value)
        if "stopstatus" in data:
            row["stopstatus"] = bool(data["stopstatus"])
        now = self.state.now_text()
        if old is None:
            row["id"] = self.state.next_id()
            row["createTime"] = now
            row.setdefault("stopstatus", False)
        row["pubts"] = now
        return self.state.put("merchant", row)


def _listed(value: object) -> list[object]:
    if value in (None, ""):
        return []
    return list(value) if isinstance(value, list) else [value]


def _data_object(body: Mapping[str, object]) -> Mapping[str, object]:
    data = body.get("data")
    if not isinstance(data, dict):
        raise ApiError(Code.BUSINESS, '请求体应为 {"data": {…}}')
    return data
