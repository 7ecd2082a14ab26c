"""Preview: per-field values, rules and problems, never raising; JSON and terminal forms."""

from __future__ import annotations

import json
from decimal import Decimal

from rich.console import Console

from erpbridge.mapping import preview, preview_table
from erpbridge.spi.schema import Field, FieldType, ObjectSchema
from tests.mapping.helpers import compile_rules

TARGET = ObjectSchema(
    "Customer",
    [
        Field("Code", FieldType.STRING, required=True, max_length=4),
        Field("Grade", FieldType.PICKLIST, picklist=("A", "B")),
        Field("Limit", FieldType.DECIMAL),
        Field("Owner", FieldType.STRING),
        Field("Region", FieldType.STRING, required=True),
    ],
)


def _mapping():  # type: ignore[no-untyped-def]
    return compile_rules(
        {
            "Code": "source.Number",
            "Grade": "source.Rating",
            "Limit": "money(source.Limit)",
            "Owner": "xref.user(source.OwnerId)",
            "Vip": {"expr": "true", "when": "source.Rating == 'A'"},
        },
        when='source.Active == "Y"',
    )


def test_each_field_shows_value_rule_and_its_own_problem() -> None:
    source = {"Active": "Y", "Number": "C0001", "Rating": "Z", "Limit": "12,3x", "OwnerId": "u1"}

    [row] = preview(_mapping(), [source], {}, target_schema=TARGET)

    fields = {f.name: f for f in row.fields}
    assert fields["Code"].value == "C0001"
    assert fields["Code"].problems == ("Code: 5 characters; the target allows 4",)
    assert fields["Grade"].problems == ("Grade: 'Z' is not one of A, B",)
    assert fields["Limit"].error == 'Limit: money(): "12,3x" is not a number (source.Limit)'
    assert fields["Limit"].rule == "money(source.Limit)"
    assert fields["Owner"].error is not None and row.missing_references == (("user", "u1"),)
    assert fields["Vip"].omitted
    assert "Region: required by the target but not mapped" in row.problems
    assert not row.ok and row.accepted


def test_record_failing_the_filter_is_marked_not_accepted() -> None:
    [row] = preview(_mapping(), [{"Active": "N", "Number": "C1", "Rating": "A", "Limit": 1,
                                  "OwnerId": None}])  # fmt: skip

    assert not row.accepted and row.ok
    assert row.target == {"Code": "C1", "Grade": "A", "Limit": Decimal("1.00"), "Owner": None,
                          "Vip": True}  # fmt: skip


def test_filter_error_is_a_problem_not_an_exception() -> None:
    [row] = preview(_mapping(), [{"Number": "C1"}])

    assert not row.accepted
    assert (
        row.problems[0] == "when: source.Active is missing from the record "
        "(wrap it in default(...) if it may be absent)"
    )


def test_json_form_is_json_safe() -> None:
    [row] = preview(_mapping(), [{"Active": "Y", "Number": "C1", "Rating": "A",
                                  "Limit": "1,000", "OwnerId": "u1"}], {("user", "u1"): "E7"})  # fmt: skip

    data = json.loads(json.dumps(row.to_json(), ensure_ascii=False))

    assert data["ok"] is True
    assert data["target"]["Limit"] == "1000.00"
    assert data["fields"][3] == {"name": "Owner", "rule": "xref.user(source.OwnerId)",
                                 "value": "E7", "omitted": False, "error": None, "problems": [],
                                 "skipped": None}  # fmt: skip
    assert data["skipped"] is None


def test_terminal_table_shows_source_and_target_side_by_side() -> None:
    [row] = preview(_mapping(), [{"Active": "Y", "Number": "C0001", "Rating": "A",
                                  "Limit": "oops", "OwnerId": "u1"}], {})  # fmt: skip
    console = Console(record=True, width=200)

    console.print(preview_table(row))

    text = console.export_text()
    assert "source field" in text and "target field" in text
    assert "C0001" in text and "money(source.Limit)" in text
    assert '"oops" is not a number' in text
