"""The objects this connector offers, with their fields (static: see below).

The YonBIP open API has no metadata call an app can use for these archives and
documents (none was found in the sources of the reference), so describe() reports the
fields of the API documents the connector is written against: 客户档案 (merchant),
销售订单 (voucherorder, lines in ``orderDetails``), 物料 (product) and 现存量
(currentstock); and the credit stand-in (``credit``, not a vendor API). Tenant custom
fields (``define1``…) are passed through on write and read but not listed.
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

_MERCHANT = ObjectSchema(
    name="merchant",
    label="客户档案",
    id_field="id",
    natural_keys=("code",),
    stamp_field="pubts",
    fields=(
        Field("id", INT, "客户ID", read_only=True),
        Field("code", S, "客户编码", max_length=50),
        Field("name", FieldType.OBJECT, "客户名称（多语：zh_CN）", required=True),
        Field("shortname", FieldType.OBJECT, "客户简称（多语）"),
        Field("createOrgCode", S, "管理组织编码", required=True),
        Field("customerClassCode", S, "客户分类编码", required=True),
        Field("creditCode", S, "统一社会信用代码"),
        Field("address", S, "地址"),
        Field("contactName", S, "联系人"),
        Field("contactTel", S, "联系电话"),
        Field("email", S, "邮箱"),
        Field("stopstatus", FieldType.BOOLEAN, "停用"),
        Field("createTime", DT, "创建时间", read_only=True),
        Field("pubts", DT, "时间戳", read_only=True),
    ),
)

_ORDER_LINE = ObjectSchema(
    name="orderDetails",
    label="销售订单子表",
    id_field="id",
    fields=(
        Field("id", INT, "行ID", read_only=True),
        Field("productId", R, "物料（ID或编码）", required=True, reference_to="product"),
        Field("productId_code", S, "物料编码", read_only=True),
        Field("qty", D, "数量", required=True),
        Field("oriTaxUnitPrice", D, "含税单价", required=True),
        Field("oriSum", D, "含税金额"),
        Field("taxId", S, "税目"),
        Field("stockOrgId", S, "库存组织"),
        Field("masterUnitId", S, "主计量单位"),
        Field("orderDetailPrices!oriMoney", D, "无税金额"),
        Field("orderDetailPrices!oriTax", D, "税额"),
        Field("orderProductType", S, "商品售卖类型（SALE 销售）"),
        Field("hopeReceiveDate", S, "期望收货日期（yyyy-MM-dd）"),
        Field("rowno", INT, "行号", read_only=True),
    ),
)

_ORDER = ObjectSchema(
    name="voucherorder",
    label="销售订单",
    id_field="id",
    natural_keys=("code",),
    stamp_field="pubts",
    fields=(
        Field("id", INT, "订单ID", read_only=True),
        Field("code", S, "订单编号"),
        Field("vouchdate", DT, "单据日期", required=True),
        Field("salesOrgId", S, "销售组织", required=True),
        Field("transactionTypeId", S, "交易类型", required=True),
        Field("agentId", R, "客户（ID或编码）", required=True, reference_to="merchant"),
        Field("agentId_code", S, "客户编码", read_only=True),
        Field("settlementOrgId", S, "开票组织"),
        Field("invoiceAgentId", S, "开票客户"),
        Field("payMoney", D, "含税金额合计", required=True),
        Field("orderPrices!currency", S, "币种"),
        Field("orderPrices!natCurrency", S, "本币"),
        Field("orderPrices!exchRate", D, "汇率"),
        Field("orderPrices!exchangeRateType", S, "汇率类型"),
        Field("orderPrices!taxInclusive", FieldType.BOOLEAN, "单价含税"),
        Field("status", INT, "单据状态（0 开立，1 已审核）", read_only=True),
        Field("nextStatusName", S, "后续状态（待审核/待发货/已发货）[U]", read_only=True),
        # An action, not a stored field: "Delete" removes the order (writer.py).
        Field("_status", S, "操作：Insert/Update，Delete 删除订单"),
        Field("memo", S, "备注"),
        Field("pubts", DT, "时间戳", read_only=True),
        Field("orderDetails", FieldType.LINES, "订单行", required=True, lines=_ORDER_LINE),
    ),
)

_PRODUCT = ObjectSchema(
    name="product",
    label="物料",
    id_field="id",
    natural_keys=("code",),
    stamp_field="pubts",
    fields=(
        Field("id", INT, "物料ID", read_only=True),
        Field("code", S, "物料编码", read_only=True),
        Field("name", FieldType.OBJECT, "物料名称（多语）", read_only=True),
        Field("modelDescription", S, "规格型号", read_only=True),
        Field("unitCode", S, "主计量单位", read_only=True),
        Field("manageClassCode", S, "物料分类", read_only=True),
        Field("pubts", DT, "时间戳", read_only=True),
    ),
)

_STOCK = ObjectSchema(
    name="currentstock",
    label="现存量",
    id_field="key",
    natural_keys=("productCode",),
    fields=(
        Field("key", S, "组织|仓库|物料|批次", read_only=True),
        Field("org", S, "库存组织", read_only=True),
        Field("warehouse", S, "仓库", read_only=True),
        Field("product", R, "物料ID", read_only=True, reference_to="product"),
        Field("productCode", S, "物料编码", read_only=True),
        Field("batchno", S, "批次号", read_only=True),
        Field("currentqty", D, "现存量", read_only=True),
        Field("availableqty", D, "可用量", read_only=True),
    ),
)

# STAND-IN, not a Yonyou API: YonBIP documents no credit API (reference §B3, B8 [U]); the
# fields are the projection the reference asks for, read from ``settings.credit_api``.
_CREDIT = ObjectSchema(
    name="credit",
    label="客户信用（替身接口，非用友官方 API）",
    id_field="id",
    natural_keys=("customerCode",),
    stamp_field="pubts",
    fields=(
        Field("id", INT, "信用记录ID", read_only=True),
        Field("customerId", R, "客户ID", read_only=True, reference_to="merchant"),
        Field("customerCode", S, "客户编码", read_only=True),
        Field("customerName", S, "客户名称", read_only=True),
        Field("creditLimit", D, "信用额度", read_only=True),
        Field("creditUsed", D, "已用额度（已审核订单）", read_only=True),
        Field("creditAvailable", D, "可用额度", read_only=True),
        Field("currency", S, "币种", read_only=True),
        Field("pubts", DT, "时间戳", read_only=True),
    ),
)

_APPLY_LINE = ObjectSchema(
    name="applyOrders",
    label="请购单子表",
    id_field="id",
    fields=(
        Field("id", INT, "行ID", read_only=True),
        Field("rowno", INT, "行号", read_only=True),
        Field("product_cCode", S, "物料编码", required=True),
        Field("product", R, "物料ID", read_only=True, reference_to="product"),
        Field("qty", D, "数量", required=True),
        Field("unit_code", S, "主计量单位编码"),
        Field("requirementDate", DT, "需求日期"),
        Field("adviseSupplier_code", S, "建议供应商编码"),
        Field("memo", S, "备注"),
    ),
)

# 请购单: save (singleSave_v1) and detail are documented; no list is (reference §B3 [U]),
# so it cannot be polled: changes come from the event subscription (webhook.py).
_APPLYORDER = ObjectSchema(
    name="applyorder",
    label="请购单",
    id_field="id",
    stamp_field="pubts",
    fields=(
        Field("id", INT, "请购单ID", read_only=True),
        Field("code", S, "单据编号"),
        Field("bustype", S, "交易类型编码", required=True),
        Field("org_code", S, "需求组织编码", required=True),
        Field("vouchdate", DT, "单据日期", required=True),
        Field("memo", S, "备注", max_length=255),
        Field("status", INT, "状态（0 开立，1 已审核，2 已关闭，3 审核中）", read_only=True),
        Field("totalQuantity", D, "整单数量", read_only=True),
        Field("pubts", DT, "时间戳", read_only=True),
        Field("applyOrders", FieldType.LINES, "请购单子表", required=True, lines=_APPLY_LINE),
    ),
)

SCHEMAS: dict[str, ObjectSchema] = {
    s.name: s for s in (_MERCHANT, _ORDER, _PRODUCT, _STOCK, _CREDIT, _APPLYORDER)
}


def catalog(objects: tuple[str, ...]) -> Catalog:
    """The schemas of ``objects``."""
    return Catalog({name: SCHEMAS[name] for name in objects})
