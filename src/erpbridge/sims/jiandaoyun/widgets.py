"""The apps, forms (entries) and widgets the simulator serves, plus its member directory.

Jiandaoyun calls a form an *entry* and a field a *widget*. A widget's ``name`` is its id
(``_widget_1615777777001``) or, when a form designer set one, its alias (``mat_code``);
reads and writes use that same name (reference §2.1). Ids and aliases are fixed here so the
seed, the tests and a ports-file user all see the same forms on every run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "APP",
    "MEMBERS",
    "READ_ONLY_TYPES",
    "SYSTEM_FIELDS",
    "App",
    "Entry",
    "Widget",
    "find_entry",
]

#: widget types the open API cannot write (reference §2, create/update notes).
READ_ONLY_TYPES = frozenset({"sn", "signature", "separator", "lookup", "linkdata"})

#: system fields every record carries; filterable, never writable.
SYSTEM_FIELDS = (
    "_id",
    "appId",
    "entryId",
    "creator",
    "updater",
    "deleter",
    "createTime",
    "updateTime",
    "flowState",
)


@dataclass(frozen=True, slots=True)
class Widget:
    """One widget of a form (or of a subform, in ``items``)."""

    name: str
    label: str
    type: str
    items: tuple[Widget, ...] = ()

    def to_wire(self) -> dict[str, object]:
        """The widget as ``widget/list`` shows it (subforms list their ``items``)."""
        wire: dict[str, object] = {"name": self.name, "label": self.label, "type": self.type}
        if self.type == "subform":
            wire["items"] = [item.to_wire() for item in self.items]
        return wire


@dataclass(frozen=True, slots=True)
class Entry:
    """One form of an app."""

    entry_id: str
    name: str
    widgets: tuple[Widget, ...]
    is_workflow: bool = False
    _by_name: Mapping[str, Widget] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {w.name: w for w in self.widgets})

    def widget(self, name: str) -> Widget | None:
        """The top-level widget called ``name``, or None."""
        return self._by_name.get(name)


@dataclass(frozen=True, slots=True)
class App:
    """One Jiandaoyun app (应用) with its forms."""

    app_id: str
    name: str
    entries: tuple[Entry, ...]


def _w(n: int, label: str, type_: str, *items: Widget) -> Widget:
    return Widget(f"_widget_16157770{n:05d}", label, type_, tuple(items))


CUSTOMER = Entry(
    "6405f3a1c2b4d50007a10001",
    "客户",
    (
        _w(101, "客户编号", "text"),
        _w(102, "客户名称", "text"),
        _w(103, "统一社会信用代码", "text"),
        _w(104, "联系电话", "phone"),
        _w(105, "地址", "address"),
        _w(106, "客户经理", "user"),
        _w(107, "币种", "combo"),
        _w(108, "客户状态", "combo"),
        _w(109, "信用额度", "number"),
        _w(110, "ERP编号", "text"),
        _w(111, "建档日期", "datetime"),
        _w(112, "行业标签", "checkboxgroup"),
        _w(113, "可用额度", "number"),
        _w(114, "已用额度", "number"),  # credit used (jdy-yonbip template)
    ),
)

CONTACT = Entry(
    "6405f3a1c2b4d50007a10002",
    "联系人",
    (
        _w(201, "姓名", "text"),
        _w(202, "客户编号", "text"),
        _w(203, "职务", "text"),
        _w(204, "手机", "phone"),
        _w(205, "邮箱", "text"),
        _w(206, "备注", "textarea"),
    ),
)

SALES_ORDER = Entry(
    "6405f3a1c2b4d50007a10003",
    "销售订单",
    (
        _w(301, "订单编号", "text"),
        _w(302, "下单日期", "datetime"),
        _w(303, "客户编号", "text"),
        _w(304, "币种", "combo"),
        _w(
            305,
            "订单明细",
            "subform",
            _w(351, "物料编码", "text"),
            _w(352, "物料名称", "text"),
            _w(353, "数量", "number"),
            _w(354, "含税单价", "number"),
            _w(355, "税率", "number"),
            _w(356, "金额", "number"),
            _w(357, "交货日期", "datetime"),
        ),
        _w(306, "订单总额", "number"),
        _w(307, "销售员", "user"),
        _w(308, "ERP单号", "text"),
        _w(309, "ERP状态", "combo"),
        _w(310, "流水号", "sn"),
        _w(314, "订单状态", "combo"),  # 正常 / 已取消, set by sales after approval
        # credit hold (jdy-kingdee template): set by erpbridge, 信用审批 by credit control
        _w(311, "信用冻结", "radiogroup"),
        _w(312, "冻结原因", "text"),
        _w(313, "信用审批", "radiogroup"),
    ),
    is_workflow=True,
)

SERVICE_TICKET = Entry(
    "6405f3a1c2b4d50007a10004",
    "售后工单",
    (
        _w(401, "工单编号", "text"),
        _w(402, "客户编号", "text"),
        _w(403, "问题描述", "textarea"),
        _w(404, "优先级", "radiogroup"),
        _w(405, "处理人", "user"),
        _w(406, "报修时间", "datetime"),
        _w(
            407,
            "所需备件",
            "subform",
            _w(451, "物料编码", "text"),
            _w(452, "数量", "number"),
        ),
        _w(408, "工单状态", "combo"),
        _w(409, "ERP采购申请号", "text"),
    ),
    is_workflow=True,
)

# A form whose designer set aliases (reference §9): names are readable, not _widget_ ids.
INVENTORY = Entry(
    "6405f3a1c2b4d50007a10005",
    "库存",
    (
        Widget("mat_code", "物料编码", "text"),
        Widget("warehouse", "仓库", "text"),
        Widget("on_hand", "现存量", "number"),
        Widget("available", "可用量", "number"),
        Widget("as_of", "更新时间", "datetime"),
    ),
)

APP = App(
    "6405f3a1c2b4d50007a10000",
    "销售管理",
    (CUSTOMER, CONTACT, SALES_ORDER, SERVICE_TICKET, INVENTORY),
)

#: the member directory: username -> (name, status, type). A ``user`` widget is written with
#: a username and read back as the member object (reference §2.2).
MEMBERS: Mapping[str, str] = {
    "zhangwei": "张伟",
    "lina": "李娜",
    "wangfang": "王芳",
    "liuyang": "刘洋",
    "chenjing": "陈静",
    "integration": "集成账号",
}


def find_entry(app: App, entry_id: str) -> Entry | None:
    """The entry ``entry_id`` of ``app``, or None."""
    for entry in app.entries:
        if entry.entry_id == entry_id:
            return entry
    return None
