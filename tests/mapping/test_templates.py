"""The five business templates' mappings (DESIGN.md §9) compile, apply and preview.

Written as a person would in a project file (YAML, loaded with ruamel), against the
field names of docs/reference: Salesforce, SAP A_SalesOrder, Kingdee BD_Customer /
STK_Inventory / PUR_Requisition. The shipped templates under flows/templates are
compiled too, whatever they hold.
"""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from erpbridge.mapping import (
    MappingSpec,
    SourcePos,
    compile_mapping,
    load_tables,
    preview,
)
from erpbridge.mapping.types import Record, XrefMap

PROJECT = """\
tables:
  customer_grade: {values: {Hot: A, Warm: B, Cold: C}, default: C}
  uom: {values: {个: Pcs, 箱: Box, 千克: kg}, strict: true}
  case_priority: {High: "1", Medium: "2", Low: "3"}

flows:
  customers-to-kingdee:
    map:
      FNumber: source.AccountNumber
      FName: trim(source.Name)
      FShortName: 'truncate(default(source.ShortName__c, source.Name), 20)'
      FTEL: 'phone(source.Phone) if is_phone(source.Phone) else null'
      FSOCIALCRECODE: {expr: uscc(source.TaxId__c), default: null}
      FCustTypeId: '{FNumber: table("customer_grade", source.Rating)}'
      FTRADINGCURRID: '{FNumber: currency(default(source.CurrencyIsoCode, "CNY"))}'
      FADDRESS: 'concat(source.BillingState, source.BillingCity, source.BillingStreet)'
      FCreateOrgId: '{FNumber: "100"}'

  orders-to-sap:
    when: source.Status == "Activated"
    map:
      SalesOrderType: '"OR"'
      SoldToParty: xref.customer(source.AccountId)
      PurchaseOrderByCustomer: source.OrderNumber
      SalesOrderDate: date(source.EffectiveDate, to="odata")
      RequestedDeliveryDate: 'date(add_days(source.EffectiveDate, 7), to="odata")'
      TotalNetAmount: money(source.TotalAmount, from="CNY", scale=2)
      TransactionCurrency: currency(source.CurrencyIsoCode)
      to_Item:
        each: source.OrderItems
        when: .Quantity > 0
        map:
          Material: xref.product(.Product2Id)
          RequestedQuantity: text(number(.Quantity, scale=3))
          RequestedQuantityUnit: table("uom", .Unit__c)
          NetAmount: text(money(.TotalPrice))

  credit-to-crm:
    map:
      Credit_Limit__c: money(source.CreditLimitAmount, from="万元", to="元")
      Credit_Exposure__c: money(source.CreditExposureAmount)
      Credit_Available__c: 'money(number(source.CreditLimitAmount) * 10000 - number(source.CreditExposureAmount))'
      Credit_Blocked__c: bool(source.CreditBlocked)
      Credit_Checked_At__c: datetime(source.LastChangeDateTime, to="iso", to_tz="Asia/Shanghai")

  inventory-to-crm:
    map:
      Product__c: xref.product(source["FMaterialId.FNumber"])
      Warehouse__c: source["FStockId.FNumber"]
      On_Hand__c: number(source.FBaseQty, scale=2)
      Available__c: 'max(number(source.FBaseAvbQty, scale=2), 0)'
      External_Key__c: 'concat(source["FMaterialId.FNumber"], source["FStockId.FNumber"], sep="@")'

  cases-to-requisition:
    when: 'source.Needs_Parts__c and source.Status != "Closed"'
    map:
      FBillNo: 'concat("PR-", source.CaseNumber)'
      FApplicationDate: date(source.CreatedDate, tz="Asia/Shanghai")
      FRequireOrgId: '{FNumber: "100"}'
      FNote: 'truncate(normalize_space(concat(source.Subject, " / 优先级 ", table("case_priority", source.Priority))), 255)'
      FEntity:
        each: source.Parts__r
        map:
          FMaterialId: '{FNumber: xref.product(.Product__c)}'
          FUnitId: '{FNumber: table("uom", .Unit__c)}'
          FReqQty: number(.Quantity__c)
          FArrivalDate: 'date(add_days(source.CreatedDate, 3), tz="Asia/Shanghai")'
"""

SAMPLES: dict[str, Record] = {
    "customers-to-kingdee": {
        "AccountNumber": "CUST0001", "Name": " 上海示例贸易有限公司 ", "ShortName__c": None,
        "Phone": "+86 138-1234-5678", "TaxId__c": "91350100M000100Y43", "Rating": "Hot",
        "CurrencyIsoCode": "CNY", "BillingState": "上海市", "BillingCity": "浦东新区",
        "BillingStreet": "张江路 88 号",
    },
    "orders-to-sap": {
        "Status": "Activated", "AccountId": "001A", "OrderNumber": "00000107",
        "EffectiveDate": "2024-03-05", "TotalAmount": 226.0, "CurrencyIsoCode": "CNY",
        "OrderItems": [
            {"Product2Id": "01tA", "Quantity": 2, "Unit__c": "个", "TotalPrice": 200.0},
            {"Product2Id": "01tB", "Quantity": 0, "Unit__c": "箱", "TotalPrice": 0},
            {"Product2Id": "01tB", "Quantity": 1.5, "Unit__c": "千克", "TotalPrice": 26},
        ],
    },
    "credit-to-crm": {
        "CreditLimitAmount": "35", "CreditExposureAmount": "120,000.50", "CreditBlocked": "否",
        "LastChangeDateTime": "/Date(1709604000000+0000)/",
    },
    "inventory-to-crm": {
        "FMaterialId.FNumber": "M001", "FStockId.FNumber": "CK01", "FBaseQty": 12.5,
        "FBaseAvbQty": -2,
    },
    "cases-to-requisition": {
        "CaseNumber": "00001026", "Status": "New", "Needs_Parts__c": True,
        "CreatedDate": "2024-03-04T18:30:00.000+0000", "Subject": "压缩机  异响",
        "Priority": "High",
        "Parts__r": [{"Product__c": "01tA", "Unit__c": "个", "Quantity__c": 2}],
    },
}  # fmt: skip

XREFS: XrefMap = {
    ("customer", "001A"): "17100001",
    ("product", "01tA"): "TG11",
    ("product", "01tB"): "TG12",
    ("product", "M001"): "01tM001",
}

EXPECTED: dict[str, dict[str, object]] = {
    "customers-to-kingdee": {
        "FNumber": "CUST0001", "FName": "上海示例贸易有限公司", "FShortName": " 上海示例贸易有限公司 ",
        "FTEL": "13812345678", "FSOCIALCRECODE": "91350100M000100Y43",
        "FCustTypeId": {"FNumber": "A"}, "FTRADINGCURRID": {"FNumber": "CNY"},
        "FADDRESS": "上海市浦东新区张江路 88 号", "FCreateOrgId": {"FNumber": "100"},
    },
    "orders-to-sap": {
        "SalesOrderType": "OR", "SoldToParty": "17100001", "PurchaseOrderByCustomer": "00000107",
        "SalesOrderDate": "/Date(1709596800000)/", "RequestedDeliveryDate": "/Date(1710201600000)/",
        "TotalNetAmount": Decimal("226.00"), "TransactionCurrency": "CNY",
        "to_Item": [
            {"Material": "TG11", "RequestedQuantity": "2.000", "RequestedQuantityUnit": "Pcs",
             "NetAmount": "200.00"},
            {"Material": "TG12", "RequestedQuantity": "1.500", "RequestedQuantityUnit": "kg",
             "NetAmount": "26.00"},
        ],
    },
    "credit-to-crm": {
        "Credit_Limit__c": Decimal("350000.00"), "Credit_Exposure__c": Decimal("120000.50"),
        "Credit_Available__c": Decimal("229999.50"), "Credit_Blocked__c": False,
        "Credit_Checked_At__c": "2024-03-05T10:00:00+08:00",
    },
    "inventory-to-crm": {
        "Product__c": "01tM001", "Warehouse__c": "CK01", "On_Hand__c": Decimal("12.50"),
        "Available__c": Decimal("0"), "External_Key__c": "M001@CK01",
    },
    "cases-to-requisition": {
        "FBillNo": "PR-00001026", "FApplicationDate": "2024-03-05",
        "FRequireOrgId": {"FNumber": "100"}, "FNote": "压缩机 异响 / 优先级 1",
        "FEntity": [{"FMaterialId": {"FNumber": "TG11"}, "FUnitId": {"FNumber": "Pcs"},
                     "FReqQty": 2, "FArrivalDate": "2024-03-08"}],
    },
}  # fmt: skip


def _specs(text: str, base_dir: Path, path: str) -> dict[str, MappingSpec]:
    data = YAML().load(io.StringIO(text))
    tables = load_tables(data.get("tables") or {}, base_dir, where=path)
    specs = {}
    for name, flow in (data.get("flows") or {}).items():
        rules = flow.get("map")
        if not rules:
            continue
        positions = {}
        for key in rules:
            line, col = rules.lc.value(key)
            positions[str(key)] = SourcePos(path, line + 1, col + 1)
        specs[name] = MappingSpec(
            str(name), dict(rules), when=flow.get("when"), tables=tables, positions=positions
        )
    return specs


SPECS = _specs(PROJECT, Path(), "erpbridge.yaml")


@pytest.mark.parametrize("flow", sorted(EXPECTED))
def test_template_mapping_applies_to_its_sample(flow: str) -> None:
    mapping = compile_mapping(SPECS[flow])
    source = SAMPLES[flow]

    assert mapping.accepts(source)
    assert mapping.is_fast
    assert mapping.xref_requests(source) <= set(XREFS)
    assert mapping.apply(source, XREFS) == EXPECTED[flow]


@pytest.mark.parametrize("flow", sorted(EXPECTED))
def test_template_mapping_previews_like_it_applies(flow: str) -> None:
    mapping = compile_mapping(SPECS[flow])

    [row] = preview(mapping, [SAMPLES[flow]], XREFS)

    assert row.ok
    assert row.target == EXPECTED[flow]


def test_strict_unit_table_dead_letters_an_unknown_unit() -> None:
    mapping = compile_mapping(SPECS["orders-to-sap"])
    order = dict(SAMPLES["orders-to-sap"])
    order["OrderItems"] = [{"Product2Id": "01tA", "Quantity": 1, "Unit__c": "桶", "TotalPrice": 1}]

    [row] = preview(mapping, [order], XREFS)

    assert not row.ok
    assert row.problems == ("to_Item[0].RequestedQuantityUnit: table(): \"桶\" is not in table "
                            "'uom' (.Unit__c)",)  # fmt: skip


SHIPPED = Path(__file__).resolve().parents[2] / "src" / "erpbridge" / "flows" / "templates"
SHIPPED_PROJECTS = sorted(SHIPPED.glob("*/erpbridge.yaml")) if SHIPPED.is_dir() else []


@pytest.mark.parametrize("project", SHIPPED_PROJECTS, ids=lambda p: p.parent.name)
def test_shipped_template_mappings_compile(project: Path) -> None:
    text = project.read_text(encoding="utf-8")

    for spec in _specs(text, project.parent, str(project)).values():
        compile_mapping(spec)
