"""``check_mapping``: all problems at once, against source and target schemas."""

from __future__ import annotations

from erpbridge.mapping import MappingSpec, Problem, SourcePos, check_mapping
from erpbridge.spi.schema import Field, FieldType, ObjectSchema

ORDER = ObjectSchema(
    "Order",
    [
        Field("Id", FieldType.STRING),
        Field("AccountId", FieldType.REFERENCE, reference_to="Account"),
        Field("EffectiveDate", FieldType.DATE),
        Field("TotalAmount", FieldType.DECIMAL),
        Field("Status", FieldType.PICKLIST, picklist=("Draft", "Activated")),
        Field("Description", FieldType.TEXT, label="描述"),
        Field(
            "OrderItems",
            FieldType.LINES,
            lines=ObjectSchema(
                "OrderItem", [Field("Product2Id"), Field("Quantity", FieldType.DECIMAL)]
            ),
        ),
    ],
)
SALES_ORDER = ObjectSchema(
    "A_SalesOrder",
    [
        Field("SalesOrder", FieldType.STRING, read_only=True),
        Field("SalesOrderType", FieldType.STRING, required=True),
        Field("SoldToParty", FieldType.STRING, required=True),
        Field("RequestedDeliveryDate", FieldType.DATE),
        Field("TotalNetAmount", FieldType.DECIMAL, read_only=True),
        Field(
            "to_Item",
            FieldType.LINES,
            lines=ObjectSchema("A_SalesOrderItem", [Field("Material"), Field("RequestedQuantity", FieldType.DECIMAL)]),
        ),
    ],
    id_field="SalesOrder",
)  # fmt: skip


def _check(rules: dict[str, object], when: str | None = None) -> list[Problem]:
    positions = {k: SourcePos("p.yaml", i + 10, 7) for i, k in enumerate(rules)}
    spec = MappingSpec("orders-to-sap", rules, when=when, positions=positions)
    return check_mapping(spec, ORDER, SALES_ORDER)


def test_clean_mapping_has_no_problems() -> None:
    problems = _check(
        {
            "SalesOrderType": '"OR"',
            "SoldToParty": "xref.customer(source.AccountId)",
            "RequestedDeliveryDate": 'date(source.EffectiveDate, to="odata")',
            "to_Item": "each(source.OrderItems, {Material: .Product2Id, RequestedQuantity: .Quantity})",
        },
        when='source.Status == "Activated"',
    )

    assert problems == []


def test_unknown_source_field_has_did_you_mean_and_position() -> None:
    [problem] = _check({"SalesOrderType": '"OR"', "SoldToParty": "source.AcountId"})

    assert problem.severity == "error"
    assert (
        "Order has no field 'AcountId' (source.AcountId); did you mean 'AccountId'?"
        in problem.message
    )
    assert problem.pos == SourcePos("p.yaml", 11, 7)


def test_unknown_line_field_is_checked_against_the_lines_schema() -> None:
    problems = _check({
        "SalesOrderType": '"OR"', "SoldToParty": '"1"',
        "to_Item": "each(source.OrderItems, {Material: .Product2, RequestedQuantity: .Quantity})",
    })  # fmt: skip

    assert [p.message for p in problems] == [
        "OrderItem has no field 'Product2' (.Product2); did you mean 'Product2Id'?"
    ]
    assert problems[0].pos == SourcePos("p.yaml", 12, 7 + 35)


def test_unknown_target_field_and_nested_target_field() -> None:
    problems = _check({
        "SalesOrderType": '"OR"', "SoldToParty": '"1"', "SoldToPary": '"1"',
        "to_Item": {"each": "source.OrderItems", "map": {"Materail": ".Product2Id"}},
    })  # fmt: skip

    messages = [p.message for p in problems]
    assert "target A_SalesOrder has no field 'SoldToPary'; did you mean 'SoldToParty'?" in messages
    assert "target A_SalesOrderItem has no field 'Materail'; did you mean 'Material'?" in messages


def test_type_mismatches_it_can_see() -> None:
    problems = _check({
        "SalesOrderType": '"OR"',
        "SoldToParty": '"1"',
        "RequestedDeliveryDate": "money(source.TotalAmount)",
        "to_Item": "date(source.EffectiveDate)",
        "X": "date(source.OrderItems)",
    })  # fmt: skip

    messages = [p.message for p in problems if p.severity == "error"]
    assert "a decimal value cannot go into RequestedDeliveryDate (date)" in messages
    assert "a string value cannot go into to_Item (lines)" in messages
    assert "date(): source.OrderItems is a lines field" in messages


def test_label_of_a_source_field_is_accepted() -> None:
    problems = _check({"SalesOrderType": 'source["描述"]', "SoldToParty": '"1"'})

    assert problems == []


def test_picklist_typo_in_filter_is_a_warning() -> None:
    [problem] = _check(
        {"SalesOrderType": '"OR"', "SoldToParty": '"1"'}, when='source.Status == "Actived"'
    )

    assert problem.severity == "warning"
    assert "did you mean 'Activated'?" in problem.message


def test_read_only_and_unmapped_required_targets_are_warnings() -> None:
    problems = _check({"TotalNetAmount": "source.TotalAmount"})

    assert {(p.severity, p.message) for p in problems} == {
        ("warning", "TotalNetAmount is read-only in the target"),
        ("warning", "required target field SalesOrderType is not mapped"),
        ("warning", "required target field SoldToParty is not mapped"),
    }


def test_compile_errors_come_with_schema_problems() -> None:
    problems = _check({"SalesOrderType": "mony(1)", "SoldToParty": "source.Nope"})

    assert [p.target_field for p in problems] == ["SalesOrderType", "SoldToParty"]
    assert all(p.severity == "error" for p in problems)


def test_without_schemas_only_the_language_is_checked() -> None:
    spec = MappingSpec("f", {"A": "source.Anything"})

    assert check_mapping(spec) == []


def test_comparing_a_text_field_with_a_number_is_a_warning() -> None:
    [problem] = _check({"SalesOrderType": '"OR"', "SoldToParty": '"1"'}, when="source.Id == 42")

    assert problem.severity == "warning"
    assert "comparing it with the number 42 is never true" in problem.message
