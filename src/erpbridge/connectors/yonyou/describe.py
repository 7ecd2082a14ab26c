"""The objects this connector offers (static: the U8 OpenAPI has no metadata call).

Field names are the OpenAPI's (lower-case, as in the public clients' models); the U8
table columns behind them are in the label (``cCusCode`` …) for people who know U8.
"""

from __future__ import annotations

from erpbridge.spi.schema import Catalog, Field, FieldType, ObjectSchema

__all__ = ["SCHEMAS", "catalog"]

S, D, DT, INT, R = (
    FieldType.STRING,
    FieldType.DECIMAL,
    FieldType.DATETIME,
    FieldType.INTEGER,
    FieldType.REFERENCE,
)

_CUSTOMER = ObjectSchema(
    name="customer",
    label="客户档案 (Customer)",
    id_field="code",
    natural_keys=("code",),
    stamp_field="ts",
    fields=(
        Field("code", S, "客户编码 cCusCode", required=True, max_length=20),
        Field("name", S, "客户名称 cCusName", required=True, max_length=98),
        Field("abbrname", S, "客户简称 cCusAbbName", required=True, max_length=60),
        Field("sort_code", S, "客户分类 cCCCode", required=True),
        Field("domain_code", S, "地区 cDCCode"),
        Field("address", S, "地址 cCusAddress"),
        Field("phone", S, "电话 cCusPhone"),
        Field("contact", S, "联系人 cCusPerson"),
        Field("email", S, "邮箱"),
        Field("taxno", S, "税号"),
        Field("creditline", D, "信用额度 iCusCreLine"),
        Field("creditdays", INT, "信用期限 iCusCreDate"),
        Field("ts", DT, "时间戳", read_only=True),
    ),
)

_INVENTORY = ObjectSchema(
    name="inventory",
    label="存货档案 (Inventory)",
    id_field="code",
    natural_keys=("code",),
    stamp_field="ts",
    fields=(
        Field("code", S, "存货编码 cInvCode", read_only=True),
        Field("name", S, "存货名称 cInvName", read_only=True),
        Field("specs", S, "规格型号 cInvStd", read_only=True),
        Field("sort_code", S, "存货分类 cInvCCode", read_only=True),
        Field("unitname", S, "主计量单位", read_only=True),
        Field("taxrate", D, "税率", read_only=True),
        Field("ts", DT, "时间戳", read_only=True),
    ),
)

_STOCK = ObjectSchema(
    name="currentstock",
    label="现存量 (CurrentStock)",
    id_field="key",
    natural_keys=("invcode",),
    fields=(
        Field("key", S, "仓库|存货|批号", read_only=True),
        Field("whcode", S, "仓库 cWhCode", read_only=True),
        Field("invcode", R, "存货 cInvCode", read_only=True, reference_to="inventory"),
        Field("batch", S, "批号 cBatch", read_only=True),
        Field("quantity", D, "现存数量 iQuantity", read_only=True),
        Field("availablequantity", D, "可用数量 fAvaQuantity", read_only=True),
    ),
)

_ENTRY = ObjectSchema(
    name="entry",
    label="销售订单表体 (SO_SODetails)",
    id_field="rowno",
    fields=(
        Field("rowno", INT, "行号 iRowNo", required=True),
        Field("inventorycode", R, "存货编码 cInvCode", required=True, reference_to="inventory"),
        Field("quantity", D, "数量 iQuantity", required=True),
        Field("taxunitprice", D, "含税单价 iTaxUnitPrice"),
        Field("unitprice", D, "无税单价 iUnitPrice"),
        Field("taxrate", D, "税率 iTaxRate"),
        Field("money", D, "无税金额 iMoney", read_only=True),
        Field("tax", D, "税额 iTax", read_only=True),
        Field("sum", D, "价税合计 iSum", read_only=True),
        Field("bgift", INT, "赠品 bgift", required=True),
    ),
)

_ORDER = ObjectSchema(
    name="saleorder",
    label="销售订单 (SO_SOMain)",
    id_field="code",
    natural_keys=("code",),
    stamp_field="ts",
    fields=(
        Field("code", S, "订单号 cSOCode"),
        Field("date", FieldType.DATE, "单据日期 dDate", required=True),
        Field("businesstype", S, "业务类型 cBusType", required=True),
        Field("typecode", S, "销售类型 cSTCode", required=True),
        Field("custcode", R, "客户编码 cCusCode", required=True, reference_to="customer"),
        Field("deptcode", S, "部门 cDepCode", required=True),
        Field("personcode", S, "业务员 cPersonCode"),
        Field("taxrate", D, "税率 iTaxRate"),
        Field("memo", S, "备注 cMemo"),
        Field("state", S, "状态（开立/审核）", read_only=True),
        Field("sum", D, "价税合计", read_only=True),
        Field("ts", DT, "时间戳", read_only=True),
        Field("entry", FieldType.LINES, "表体", required=True, lines=_ENTRY),
    ),
)

SCHEMAS: dict[str, ObjectSchema] = {s.name: s for s in (_CUSTOMER, _INVENTORY, _STOCK, _ORDER)}


def catalog(objects: tuple[str, ...]) -> Catalog:
    """The schemas of ``objects``."""
    return Catalog({name: SCHEMAS[name] for name in objects})
