"""The business objects (forms) the simulator serves, as metadata: fields, entries, keys.

K/3 Cloud is metadata-driven (BOS): each form has a header (单据头), optional sub-heads
(``FSaleOrderFinance``, ``SubHeadEntity``) whose fields are queried by bare key, and entries
(单据体, ``FSaleOrderEntry``) whose row id is queried as ``<EntryKey>_FEntryID``. Field keys
are matched case-insensitively, as the real server does (``FNUMBER`` = ``FNumber``).

Field spellings follow Kingdee's documentation where the reference marks them sure; the
others are marked [UNSURE] in the reference (docs/connectors/kingdee.md lists them).
The credit form ``CRE_CustCreditProfile`` is a stand-in, not a canonical Kingdee form id.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = [
    "FORMS",
    "LINE_REFERENCE",
    "EntryDef",
    "FieldDef",
    "FieldKind",
    "FieldLoc",
    "FormDef",
    "find_form",
]

#: the 二开 entry field of SAL_SaleOrder that carries the CRM line id (a stand-in name).
LINE_REFERENCE = "F_EB_CrmEntryId"


class FieldKind(enum.StrEnum):
    """How a field's value is stored, parsed and rendered."""

    TEXT = "text"
    INT = "int"
    DECIMAL = "decimal"
    DATE = "date"
    DATETIME = "datetime"
    BOOL = "bool"
    REF = "ref"  # base-data reference: stored as the target's id, written as {"FNumber": ..}
    STATUS = "status"  # a one-letter code (FDocumentStatus, FForbidStatus, FCloseStatus)


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One field of a form."""

    key: str
    kind: FieldKind
    label: str
    ref: str | None = None  # target form id for REF
    required: bool = False
    read_only: bool = False  # computed or system-maintained; Save ignores it
    subhead: str | None = None  # the sub-head key this field belongs to in a Save model


@dataclass(frozen=True, slots=True)
class EntryDef:
    """An entry (单据体): a list of rows inside a bill."""

    key: str  # FSaleOrderEntry
    label: str
    fields: tuple[FieldDef, ...]
    id_key: str = "FEntryID"


@dataclass(frozen=True, slots=True)
class FieldLoc:
    """Where a field key lives: in the header (entry None) or in an entry."""

    field: FieldDef
    entry: EntryDef | None = None


@dataclass(frozen=True, slots=True)
class FormDef:
    """A business object (表单) and everything the simulator needs to know about it."""

    form_id: str
    label: str
    pk: str  # FID, FCUSTID, FMATERIALID ...
    number_key: str  # FNumber (base data) or FBillNo (bills)
    fields: tuple[FieldDef, ...]
    entries: tuple[EntryDef, ...] = ()
    number_prefix: str = ""
    is_bill: bool = False
    writable: bool = True
    has_workflow: bool = True  # FDocumentStatus A → B → C
    stamp_key: str | None = "FModifyDate"
    _index: dict[str, FieldLoc] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for f in self.fields:
            self._index[f.key.lower()] = FieldLoc(f)
        for entry in self.entries:
            for f in entry.fields:
                self._index.setdefault(f.key.lower(), FieldLoc(f, entry))

    def locate(self, key: str) -> FieldLoc | None:
        """The field called ``key`` (any case), in the header or an entry."""
        return self._index.get(key.lower())

    def entry(self, key: str) -> EntryDef | None:
        """The entry called ``key`` (any case)."""
        for entry in self.entries:
            if entry.key.lower() == key.lower():
                return entry
        return None

    @property
    def subheads(self) -> tuple[str, ...]:
        """The sub-head keys, in field order."""
        return tuple(dict.fromkeys(f.subhead for f in self.fields if f.subhead))


def _f(key: str, kind: FieldKind, label: str, **kw: object) -> FieldDef:
    return FieldDef(key, kind, label, **kw)  # type: ignore[arg-type]  # keywords of FieldDef


T, N, D, DT, B, R, S, INT = (
    FieldKind.TEXT,
    FieldKind.DECIMAL,
    FieldKind.DATE,
    FieldKind.DATETIME,
    FieldKind.BOOL,
    FieldKind.REF,
    FieldKind.STATUS,
    FieldKind.INT,
)


def _system_fields(*, bill: bool, workflow: bool = True) -> tuple[FieldDef, ...]:
    out = [
        _f("FCreateDate", DT, "创建日期", read_only=True),
        _f("FModifyDate", DT, "修改日期", read_only=True),
    ]
    if workflow:
        out.append(_f("FDocumentStatus", S, "数据状态", read_only=True))
        out.append(_f("FApproveDate" if bill else "FAuditDate", DT, "审核日期", read_only=True))
    if not bill:
        out.append(_f("FForbidStatus", S, "禁用状态", read_only=True))
    return tuple(out)


def _basic(form_id: str, label: str, pk: str, **extra: object) -> FormDef:
    """A small base-data form the big forms refer to (org, currency, unit ...)."""
    return FormDef(
        form_id,
        label,
        pk,
        "FNumber",
        (
            _f(pk, INT, "内码", read_only=True),
            _f("FNumber", T, "编码", required=True),
            _f("FName", T, "名称", required=True),
            *_system_fields(bill=False),
        ),
        writable=False,
        **extra,  # type: ignore[arg-type]  # keywords of FormDef
    )


_CUSTOMER = FormDef(
    "BD_Customer",
    "客户",
    "FCUSTID",
    "FNumber",
    (
        _f("FCUSTID", INT, "实体主键", read_only=True),
        _f("FNumber", T, "客户编码"),
        _f("FName", T, "客户名称", required=True),
        _f("FShortName", T, "简称"),
        _f("FCreateOrgId", R, "创建组织", ref="ORG_Organizations", required=True),
        _f("FUseOrgId", R, "使用组织", ref="ORG_Organizations"),
        _f("FTEL", T, "联系电话"),
        _f("FADDRESS", T, "通讯地址"),
        _f("FCOUNTRY", T, "国家"),
        _f("FPROVINCIAL", T, "省份"),
        _f("FTRADINGCURRID", R, "结算币别", ref="BD_Currency"),
        _f("FSELLER", R, "销售员", ref="V_BD_SALESMAN"),
        _f("FTaxRegisterCode", T, "纳税登记号"),
        _f("FDescription", T, "描述"),
        *_system_fields(bill=False),
    ),
    number_prefix="CUST",
)

_MATERIAL = FormDef(
    "BD_MATERIAL",
    "物料",
    "FMATERIALID",
    "FNumber",
    (
        _f("FMATERIALID", INT, "实体主键", read_only=True),
        _f("FNumber", T, "编码"),
        _f("FName", T, "名称", required=True),
        _f("FSpecification", T, "规格型号"),
        _f("FDescription", T, "描述"),
        _f("FCreateOrgId", R, "创建组织", ref="ORG_Organizations", required=True),
        _f("FUseOrgId", R, "使用组织", ref="ORG_Organizations"),
        _f("FBaseUnitId", R, "基本单位", ref="BD_UNIT", required=True, subhead="SubHeadEntity"),
        _f("FErpClsID", T, "物料属性", subhead="SubHeadEntity"),
        _f("FTaxRateId", N, "默认税率%", subhead="SubHeadEntity"),
        *_system_fields(bill=False),
    ),
    number_prefix="WL",
)

_SO_ENTRY = EntryDef(
    "FSaleOrderEntry",
    "订单明细",
    (
        _f("FMaterialId", R, "物料编码", ref="BD_MATERIAL", required=True),
        _f("FUnitID", R, "销售单位", ref="BD_UNIT", required=True),
        _f("FQty", N, "销售数量", required=True),
        _f("FPrice", N, "单价"),
        _f("FTaxPrice", N, "含税单价"),
        _f("FEntryTaxRate", N, "税率%"),
        _f("FAmount", N, "金额", read_only=True),
        _f("FEntryTaxAmount", N, "税额", read_only=True),
        _f("FAllAmount", N, "价税合计", read_only=True),
        _f("FDeliveryDate", D, "要货日期"),
        _f("FEntryNote", T, "备注"),
        # 累计出库数量 and 业务关闭 (A 正常, B 业务关闭) are K/3 Cloud's own entry fields,
        # maintained by 销售出库单 and the row close operation (YLMRPClose).
        _f("FStockOutQty", N, "累计出库数量", read_only=True),
        _f("FMrpCloseStatus", S, "业务关闭", read_only=True),
        # A customer (二开) field as a tenant adds it in BOS to carry the CRM line id
        # (reference §6 suggests F_XXX_ExtId): a stand-in, not a standard Kingdee field.
        _f(LINE_REFERENCE, T, "CRM行标识"),
    ),
)

_SALE_ORDER = FormDef(
    "SAL_SaleOrder",
    "销售订单",
    "FID",
    "FBillNo",
    (
        _f("FID", INT, "实体主键", read_only=True),
        _f("FBillNo", T, "单据编号"),
        _f("FBillTypeID", R, "单据类型", ref="BOS_BillType"),
        _f("FDate", D, "日期", required=True),
        _f("FSaleOrgId", R, "销售组织", ref="ORG_Organizations", required=True),
        _f("FCustId", R, "客户", ref="BD_Customer", required=True),
        _f("FSalerId", R, "销售员", ref="V_BD_SALESMAN", required=True),
        _f("FSaleDeptId", R, "销售部门", ref="BD_Department"),
        _f("FNote", T, "备注"),
        _f("FCloseStatus", S, "关闭状态", read_only=True),
        _f("FCancelStatus", S, "作废状态", read_only=True),
        _f("FSettleCurrId", R, "结算币别", ref="BD_Currency", subhead="FSaleOrderFinance"),
        _f("FExchangeRate", N, "汇率", subhead="FSaleOrderFinance"),
        _f("FIsIncludedTax", B, "是否含税", subhead="FSaleOrderFinance"),
        _f("FBillAmount", N, "税额前金额", read_only=True, subhead="FSaleOrderFinance"),
        _f("FBillTaxAmount", N, "税额", read_only=True, subhead="FSaleOrderFinance"),
        _f("FBillAllAmount", N, "价税合计", read_only=True, subhead="FSaleOrderFinance"),
        *_system_fields(bill=True),
    ),
    entries=(_SO_ENTRY,),
    number_prefix="XSDD",
    is_bill=True,
)

_REQ_ENTRY = EntryDef(
    "FEntity",
    "明细",
    (
        _f("FMaterialId", R, "物料编码", ref="BD_MATERIAL", required=True),
        _f("FUnitId", R, "申请单位", ref="BD_UNIT", required=True),
        _f("FReqQty", N, "申请数量", required=True),
        _f("FApproveQty", N, "批准数量"),
        _f("FArrivalDate", D, "到货日期"),
        _f("FPurchaseOrgId", R, "采购组织", ref="ORG_Organizations"),
        _f("FSuggestSupplierId", R, "建议供应商", ref="BD_Supplier"),
        _f("FEntryNote", T, "备注"),
    ),
)

_REQUISITION = FormDef(
    "PUR_Requisition",
    "采购申请单",
    "FID",
    "FBillNo",
    (
        _f("FID", INT, "实体主键", read_only=True),
        _f("FBillNo", T, "单据编号"),
        _f("FBillTypeID", R, "单据类型", ref="BOS_BillType"),
        _f("FApplicationDate", D, "申请日期", required=True),
        _f("FApplicationOrgId", R, "申请组织", ref="ORG_Organizations", required=True),
        _f("FApplicantId", R, "申请人", ref="BD_Empinfo"),
        _f("FApplicationDeptId", R, "申请部门", ref="BD_Department"),
        _f("FCurrencyId", R, "币别", ref="BD_Currency"),
        _f("FNote", T, "备注"),
        _f("FCloseStatus", S, "关闭状态", read_only=True),
        *_system_fields(bill=True),
    ),
    entries=(_REQ_ENTRY,),
    number_prefix="CGSQ",
    is_bill=True,
)

_INVENTORY = FormDef(
    "STK_Inventory",
    "即时库存",
    "FID",
    "FID",
    (
        _f("FID", T, "实体主键", read_only=True),
        _f("FStockOrgId", R, "库存组织", ref="ORG_Organizations"),
        _f("FStockId", R, "仓库", ref="BD_STOCK"),
        _f("FMaterialId", R, "物料编码", ref="BD_MATERIAL"),
        _f("FLot", T, "批号"),
        _f("FStockUnitId", R, "库存单位", ref="BD_UNIT"),
        _f("FBaseUnitId", R, "基本单位", ref="BD_UNIT"),
        _f("FQty", N, "库存量(库存单位)"),
        _f("FBaseQty", N, "库存量(基本单位)"),
        _f("FBaseAvbQty", N, "可用量(基本单位)"),
        _f("FBaseLockQty", N, "预留量(基本单位)"),
    ),
    writable=False,
    has_workflow=False,
    stamp_key=None,  # a balance table without a modify stamp (reference §3)
)

# Stand-in, not a canonical Kingdee form id (reference §8): one credit archive per customer.
_CREDIT = FormDef(
    "CRE_CustCreditProfile",
    "客户信用档案",
    "FID",
    "FNumber",
    (
        _f("FID", INT, "实体主键", read_only=True),
        _f("FNumber", T, "档案编号"),
        _f("FCustomerId", R, "客户", ref="BD_Customer"),
        _f("FCreditOrgId", R, "信用管理组织", ref="ORG_Organizations"),
        _f("FCurrencyId", R, "币别", ref="BD_Currency"),
        _f("FCreditAmount", N, "信用额度"),
        _f("FUsedAmount", N, "已用额度"),
        _f("FAvailableAmount", N, "可用额度", read_only=True),
        _f("FCreditDays", INT, "信用天数"),
        *_system_fields(bill=False),
    ),
    writable=False,
)

FORMS: dict[str, FormDef] = {
    f.form_id.lower(): f
    for f in (
        _CUSTOMER,
        _MATERIAL,
        _SALE_ORDER,
        _REQUISITION,
        _INVENTORY,
        _CREDIT,
        _basic("ORG_Organizations", "组织机构", "FOrgID"),
        _basic("BD_Currency", "币别", "FCURRENCYID"),
        _basic("BD_UNIT", "计量单位", "FUNITID"),
        _basic("BD_STOCK", "仓库", "FSTOCKID"),
        _basic("BD_Department", "部门", "FDEPTID"),
        _basic("V_BD_SALESMAN", "销售员", "FID"),
        _basic("BD_Empinfo", "员工", "FID"),
        _basic("BD_Supplier", "供应商", "FSupplierId"),
        _basic("BOS_BillType", "单据类型", "FBILLTYPEID"),
    )
}


def find_form(form_id: object) -> FormDef | None:
    """The form called ``form_id`` (case-insensitive, as the real server treats it)."""
    if not isinstance(form_id, str):
        return None
    return FORMS.get(form_id.strip().lower())
