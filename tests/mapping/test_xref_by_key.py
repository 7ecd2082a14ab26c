"""``xref.<entity>(key, by="Field")``: lookups by natural key in the mapping language."""

from __future__ import annotations

import pytest

from erpbridge.mapping import MappingSpec, SourcePos, check_mapping, compile_mapping
from erpbridge.mapping.errors import MissingReference
from erpbridge.mapping.types import keyed_entity, split_keyed_entity

ORDER = {"Code": "C-001", "Lines": [{"Sku": 1001}, {"Sku": None}]}


def _mapping(rules: dict[str, object], **kw: object) -> MappingSpec:
    return MappingSpec("orders", rules, **kw)  # type: ignore[arg-type]


def test_keyed_names_round_trip_and_ids_stay_plain() -> None:
    assert keyed_entity("customer", "客户编号") == "customer@客户编号"
    assert split_keyed_entity("customer@客户编号") == ("customer", "客户编号")
    assert (keyed_entity("customer", None), split_keyed_entity("customer")) == (
        "customer",
        ("customer", None),
    )


def test_lookups_by_key_are_requested_with_their_field_and_resolved_like_ids() -> None:
    mapping = compile_mapping(
        _mapping(
            {
                "Agent": 'xref.customer(source.Code, by="CustomerCode")',
                "Lines": 'each(source.Lines, {P: xref.product(.Sku, by="Sku", optional=true)})',
            }
        )
    )
    assert mapping.xref_requests(ORDER) == {
        ("customer@CustomerCode", "C-001"),
        ("product@Sku", "1001"),  # whole numbers as their digits, nulls left out
    }
    assert mapping.key_lookups == {("customer", "CustomerCode"), ("product", "Sku")}
    xrefs = {("customer@CustomerCode", "C-001"): "900", ("product@Sku", "1001"): "77"}
    assert mapping.apply(ORDER, xrefs) == {"Agent": "900", "Lines": [{"P": "77"}, {"P": None}]}


def test_a_missing_key_names_the_entity_field_and_value() -> None:
    mapping = compile_mapping(_mapping({"Agent": 'xref.customer(source.Code, by="CustomerCode")'}))
    with pytest.raises(MissingReference) as caught:
        mapping.apply(ORDER, {})
    error = caught.value
    assert (error.entity, error.key_field, error.source_id) == ("customer", "CustomerCode", "C-001")
    assert "xref.customer('C-001', by='CustomerCode')" in str(error)


def test_returns_key_gives_the_code_once_the_record_is_synced() -> None:
    mapping = compile_mapping(
        _mapping({"Cust": 'xref.customer(source.Code, by="CustomerCode", returns="key")'})
    )
    assert mapping.apply(ORDER, {("customer@CustomerCode", "C-001"): "900"}) == {"Cust": "C-001"}
    with pytest.raises(MissingReference):
        mapping.apply(ORDER, {})


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ('xref.customer(source.Code, by="")', "by must name the key field"),
        ("xref.customer(source.Code, by=source.Field)", "must be a literal"),
        ('xref.customer(source.Code, returns="key")', 'returns="key" needs by='),
        ('xref.customer(source.Code, by="CustomerCode", returns="x")', 'returns must be "id"'),
        ('xref.customer(source.Code, by="CustomerCde")', "did you mean 'CustomerCode'"),
        ('xref.order(source.Code, by="No")', "no flow keeps order from that connection"),
        ('xref.customer(source.Code, via="x")', 'by="<key field>"'),
    ],
)
def test_bad_lookups_by_key_are_refused_with_where_and_why(rule: str, message: str) -> None:
    spec = _mapping(
        {"Agent": rule},
        xref_key_entities={"customer"},
        xref_key_fields={"customer": ["CustomerCode", "Name"]},
        positions={"Agent": SourcePos("erpbridge.yaml", 7, 14)},
    )
    [problem] = [p for p in check_mapping(spec) if p.severity == "error"]
    assert message in problem.message
    assert problem.pos is not None and problem.pos.line == 7 and problem.pos.column >= 14
