"""The DESIGN.md §7 example mapping compiles, filters, asks for its xrefs and applies."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from erpbridge.mapping import (
    FieldMappingError,
    MappingCompileError,
    MappingSpec,
    MissingReference,
    SourcePos,
    ValueTable,
    compile_mapping,
    preview,
)

# DESIGN.md §7 verbatim, except that the to_Item rule is quoted: as printed there it is
# not valid YAML (a plain scalar cannot hold ": "), so a project file must quote it or use
# the {each: ..., map: {...}} form (docs/mapping.md, "Nested lines").
DESIGN_YAML = """\
flows:
  orders-to-sap:
    source: {connection: salesforce, object: Order, trigger: {webhook: true, poll: 1m}}
    target: {connection: sap, object: A_SalesOrder, write: upsert, key: PurchaseOrderByCustomer}
    when: source.Status == "Activated"
    map:
      SalesOrderType: '"OR"'
      SoldToParty: xref.customer(source.AccountId)
      PurchaseOrderByCustomer: source.OrderNumber
      RequestedDeliveryDate: date(source.EffectiveDate, to="odata")
      TotalNetAmount: money(source.TotalAmount, from="CNY", scale=2)
      SalesOrganization: table("sales_org", source.Region__c, default="1010")
      to_Item: 'each(source.OrderItems, {Material: xref.product(.Product2Id), RequestedQuantity: .Quantity})'
"""

ORDER = {
    "Id": "801A000000001",
    "Status": "Activated",
    "AccountId": "001A000000001",
    "OrderNumber": "00000107",
    "EffectiveDate": "2024-03-05",
    "TotalAmount": 1234.5,
    "Region__c": "South",
    "OrderItems": [
        {"Product2Id": "01tA", "Quantity": 2},
        {"Product2Id": "01tB", "Quantity": 10},
    ],
}
XREFS = {
    ("customer", "001A000000001"): "17100001",
    ("product", "01tA"): "TG11",
    ("product", "01tB"): "TG12",
}
SALES_ORG = ValueTable("sales_org", {"East": "1010", "South": "1020"})


def _spec() -> MappingSpec:
    yaml = YAML()
    data = yaml.load(io.StringIO(DESIGN_YAML))
    flow = data["flows"]["orders-to-sap"]
    rules = flow["map"]
    positions = {}
    for key in rules:
        line, col = rules.lc.value(key)
        quoted = DESIGN_YAML.splitlines()[line][col] in "'\""
        positions[key] = SourcePos("project.yaml", line + 1, col + 1 + quoted)
    line, col = flow.lc.value("when")
    return MappingSpec(
        flow="orders-to-sap",
        rules=dict(rules),
        when=flow["when"],
        tables={"sales_org": SALES_ORG},
        positions=positions,
        when_pos=SourcePos("project.yaml", line + 1, col + 1),
    )


def test_design_yaml_is_the_one_in_design_md() -> None:
    design = Path(__file__).resolve().parents[3] / "shared" / "DESIGN.md"
    if not design.is_file():
        pytest.skip("shared/DESIGN.md is not beside the repository")
    text = design.read_text(encoding="utf-8")
    for line in DESIGN_YAML.splitlines():
        assert line.replace("to_Item: '", "to_Item: ").rstrip("'") in text


def test_design_example_maps_an_activated_order() -> None:
    mapping = compile_mapping(_spec())

    assert mapping.accepts(ORDER)
    assert mapping.xref_requests(ORDER) == set(XREFS)
    assert mapping.apply(ORDER, XREFS) == {
        "SalesOrderType": "OR",
        "SoldToParty": "17100001",
        "PurchaseOrderByCustomer": "00000107",
        "RequestedDeliveryDate": "/Date(1709596800000)/",
        "TotalNetAmount": Decimal("1234.50"),
        "SalesOrganization": "1020",
        "to_Item": [
            {"Material": "TG11", "RequestedQuantity": 2},
            {"Material": "TG12", "RequestedQuantity": 10},
        ],
    }


def test_design_example_skips_a_draft_order() -> None:
    mapping = compile_mapping(_spec())

    assert not mapping.accepts({**ORDER, "Status": "Draft"})


def test_design_example_defaults_an_unknown_region() -> None:
    mapping = compile_mapping(_spec())

    target = mapping.apply({**ORDER, "Region__c": "North"}, XREFS)

    assert target["SalesOrganization"] == "1010"


def test_bad_amount_error_names_flow_field_function_value_and_source() -> None:
    mapping = compile_mapping(_spec())

    with pytest.raises(FieldMappingError) as caught:
        mapping.apply({**ORDER, "TotalAmount": "12,3x"}, XREFS)

    assert str(caught.value) == (
        'orders-to-sap › TotalNetAmount: money(): "12,3x" is not a number (source.TotalAmount)'
    )
    assert caught.value.expression == 'money(source.TotalAmount, from="CNY", scale=2)'
    assert caught.value.value == "12,3x"


def test_missing_product_xref_is_a_missing_reference_naming_the_line() -> None:
    mapping = compile_mapping(_spec())
    partial = {k: v for k, v in XREFS.items() if k != ("product", "01tB")}

    with pytest.raises(MissingReference) as caught:
        mapping.apply(ORDER, partial)

    assert (caught.value.entity, caught.value.source_id) == ("product", "01tB")
    assert caught.value.target_field == "to_Item[1].Material"


def test_design_example_previews_like_it_applies() -> None:
    mapping = compile_mapping(_spec())

    [row] = preview(mapping, [ORDER], XREFS)

    assert row.ok and row.accepted
    assert row.target == mapping.apply(ORDER, XREFS)


def test_unknown_function_in_design_yaml_points_at_file_line_and_column() -> None:
    spec = _spec()
    broken = dict(spec.rules, TotalNetAmount='mony(source.TotalAmount, from="CNY", scale=2)')
    bad = MappingSpec(
        spec.flow, broken, when=spec.when, tables=spec.tables, positions=spec.positions
    )

    with pytest.raises(MappingCompileError) as caught:
        compile_mapping(bad)

    text = str(caught.value)
    assert "project.yaml:11:23: orders-to-sap › TotalNetAmount: unknown function 'mony'" in text
    assert "did you mean 'money'?" in text
