"""The expression language: literals, paths, operators, conditionals, nested lines."""

from __future__ import annotations

import warnings
from decimal import Decimal

import pytest

from erpbridge.mapping import (
    Aliases,
    FieldMappingError,
    MappingCompileError,
    MappingError,
    SourcePos,
    ValueTable,
)
from tests.mapping.helpers import compile_rules, evaluate

RECORD = {
    "Name": "ACME",
    "客户名称": "上海示例贸易有限公司",
    "Qty": 3,
    "Price": Decimal("2.50"),
    "Rate": 0.1,
    "Note": None,
    "Account": {"Name": "Parent Co", "Owner": None},
    "Lines": [{"Sku": "A", "Qty": 2}, {"Sku": "B", "Qty": 0}],
    "_widget_1615": "jdy",
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('"OR"', "OR"),
        ("42", 42),
        ("1.13", Decimal("1.13")),
        ("true", True),
        ("null", None),
        ("source.Name", "ACME"),
        ('source["客户名称"]', "上海示例贸易有限公司"),
        ("source.客户名称", "上海示例贸易有限公司"),
        ("source._widget_1615", "jdy"),
        ("source.Account.Name", "Parent Co"),
        ("source.Lines[1].Sku", "B"),
        ("source.Qty * source.Price", Decimal("7.50")),
        ("source.Qty / 4", Decimal("0.75")),
        ("source.Rate + 0.2", Decimal("0.3")),
        ("source.Qty // 2 + source.Qty % 2", 2),
        ("-source.Qty", -3),
        ('source.Name + "-" + "X"', "ACME-X"),
        ('"big" if source.Qty > 2 else "small"', "big"),
        ("source.Qty >= 3 and not source.Note", True),
        ("source.Note is null", True),
        ('source.Name in ["ACME", "Other"]', True),
        ('source.Name not in ["ACME"]', False),
        ('"CM" in source.Name', True),
        ("1 < source.Qty < 5", True),
        ('source.Qty == "3"', False),
        ("source.Qty == 3.0", True),
        ("source.Note > 1", False),
        ("[source.Qty, 1]", [3, 1]),
        ('{Code: source.Name, "名称": source["客户名称"]}', {"Code": "ACME", "名称": "上海示例贸易有限公司"}),
        ("each(source.Lines, .Sku)", ["A", "B"]),
        ("each(source.Lines, {Sku: .Sku, Head: source.Name}, when=.Qty > 0)",
         [{"Sku": "A", "Head": "ACME"}]),
        ('each(source.Lines, .["Sku"])', ["A", "B"]),
        ("sum(each(source.Lines, .Qty))", Decimal(2)),
        ("each(source.Note, .X)", []),
    ],
)  # fmt: skip
def test_expression_gives_value(expression: str, expected: object) -> None:
    assert evaluate(expression, RECORD) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("source.Missing", "source.Missing is missing from the record"),
        ("source.Account.Missing.X", "source.Account.Missing is missing from the record"),
        ("source.Name.First", 'source.Name is "ACME", not a record'),
        ("source.Name + 1", 'cannot compute "ACME" + 1; use concat() for text'),
        ("source.Name * 3", 'cannot compute "ACME" * 3; convert text with number()'),
        ("source.Qty / 0", "division by zero"),
        ("source.Name > 1", 'cannot compare "ACME" > 1'),
        ("source.Note + 1", "cannot compute null + 1"),
        ("each(source.Name, .X)", 'each(): "ACME" is not a list of lines (source.Name)'),
        ("each(source.Lines, .Missing)", ".Missing is missing from the record"),
    ],
)
def test_runtime_error_is_a_mapping_error_with_a_clear_reason(
    expression: str, message: str
) -> None:
    with pytest.raises(FieldMappingError) as caught:
        evaluate(expression, RECORD)

    assert message in str(caught.value)
    assert str(caught.value).startswith("test-flow › out")


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("OR", "unknown name 'OR': write source.OR for a field"),
        ("sorce.Name", "did you mean 'source'?"),
        ("mony(1)", "unknown function 'mony'; did you mean 'money'?"),
        ('date("2024-01-01", too="iso")', "date() has no parameter 'too'"),
        ('date("2024-01-01", to="julian-ish")', "unknown letter"),
        ('money(1, from="XYZ")', "unknown currency or unit 'XYZ'"),
        ("money(1, scale=source.Qty)", "scale must be a literal"),
        ("__import__('os')", "unknown function '__import__'"),
        ("source.__class__", "missing"),  # a field name, never a Python attribute: compiles
        ("().__class__", "fields can be read only from source"),
        ('"x".upper()', "cannot be called"),
        ("lambda: 1", "not allowed in a mapping expression: lambda"),
        ("[x for x in source.Lines]", "comprehensions"),
        ("2 ** 100000", "** (power)"),
        ("source.Qty if", "syntax error"),
        (".Qty", "works only inside each()"),
        ("xref.customer", "call it"),
        ("xref.customer(xref.account(source.Name))", "cannot itself come from an xref"),
        ('table("nope", source.Name)', "unknown table 'nope'"),
        ('replace(source.Name, "(a+)+", "")', "nested repetition"),
        ("pad_left(source.Name, 10**9)", "**"),
        ("source[source.Name]", "must be a text or whole-number literal"),
        ("1 / 0", "always fails"),
        ("f'{source.Name}'", "f-strings"),
        ("source.Name # comment", "comments"),
        ("each(source.Lines, {S: each(source.Lines, .Sku)})", "walks a list of the current line"),
        ("each(source.Lines, each(.A, each(.B, each(.C, each(.D, .E)))))", "nested more than 4"),
        ("upper（source.Name）", "full-width punctuation; use '('"),
        ("(" * 40 + "1" + ")" * 40, "nested deeper"),
        ("1 + " * 100 + "1", "nested deeper"),
        ("[" + "1, " * 700 + "1]", "more than 600 parts"),
        ("x" * 5000, "characters long"),
    ],
)
def test_bad_expression_is_refused_at_load(expression: str, message: str) -> None:
    if message == "missing":  # source.__class__ is just an absent field of the record
        with pytest.raises(FieldMappingError, match=r"source\.__class__ is missing"):
            evaluate(expression, RECORD)
        return
    with pytest.raises(MappingCompileError) as caught:
        compile_rules({"out": expression})

    assert message in str(caught.value)


def test_compile_error_points_at_the_offending_column() -> None:
    with pytest.raises(MappingCompileError) as caught:
        compile_rules(
            {"Amount": 'money(source.Total, from="CNY", scal=2)'},
            positions={"Amount": SourcePos("flows/orders.yaml", 7, 15)},
        )

    problem = caught.value.problems[0]
    assert problem.pos == SourcePos("flows/orders.yaml", 7, 15 + 32)
    assert str(problem).startswith("flows/orders.yaml:7:47: test-flow › Amount: money() has no")


def test_every_bad_rule_is_reported_at_once() -> None:
    with pytest.raises(MappingCompileError) as caught:
        compile_rules({"A": "mony(1)", "B": "source.", "C": "source.Name", "D": "OR"})

    assert [p.target_field for p in caught.value.problems] == ["A", "B", "D"]


def test_absent_field_in_default_or_coalesce_reads_as_null() -> None:
    mapping = compile_rules({
        "Fax": 'default(source.Fax, "-")',
        "Phone": 'coalesce(source.Mobile, source.Tel, "n/a")',
        "HasFax": "exists(source.Fax)",
        "Blank": "is_blank(source.Note)",
    })  # fmt: skip

    assert mapping.apply(RECORD) == {"Fax": "-", "Phone": "n/a", "HasFax": False, "Blank": True}


def test_null_parent_in_a_path_reads_as_null() -> None:
    assert evaluate("source.Account.Owner.Name", RECORD) is None


def test_alias_reads_a_field_by_its_other_label() -> None:
    aliases = Aliases({"客户联系人": "ContactName"})
    mapping = compile_rules(
        {"A": 'source["客户联系人"]', "B": "source.ContactName"}, aliases=aliases
    )

    assert mapping.apply({"ContactName": "李雷"}) == {"A": "李雷", "B": "李雷"}
    assert mapping.apply({"客户联系人": "韩梅梅"}) == {"A": "韩梅梅", "B": "韩梅梅"}


def test_target_label_is_written_under_its_wire_name() -> None:
    mapping = compile_rules(
        {"客户联系人": "source.Name"}, target_aliases=Aliases({"客户联系人": "ContactName"})
    )

    assert mapping.apply(RECORD) == {"ContactName": "ACME"}


def test_yaml_constants_and_dict_form_rules() -> None:
    mapping = compile_rules({
        "Channel": 10,
        "Active": True,
        "Factor": 1.5,
        "Type": {"const": "OR"},
        "Fax": {"expr": "source.Fax", "default": "none"},
        "Name": {"expr": "upper(source.Name)", "required": True},
        "Vip": {"expr": '"Y"', "when": "source.Qty > 5"},
    })  # fmt: skip

    assert mapping.apply(RECORD) == {
        "Channel": 10,
        "Active": True,
        "Factor": Decimal("1.5"),
        "Type": "OR",
        "Fax": "none",
        "Name": "ACME",
    }


def test_required_rule_fails_on_blank_value() -> None:
    mapping = compile_rules({"Name": {"expr": "source.Note", "required": True}})

    with pytest.raises(FieldMappingError, match=r"required but source\.Note is empty"):
        mapping.apply(RECORD)


def test_nested_each_walks_the_lines_own_list() -> None:
    record = {"Lines": [{"Sku": "A", "Slots": [{"Day": "2024-03-05"}, {"Day": "2024-03-06"}]}]}

    value = evaluate(
        'each(source.Lines, {Sku: .Sku, Plan: each(.Slots, date(.Day, to="yyyyMMdd"))})', record
    )

    assert value == [{"Sku": "A", "Plan": ["20240305", "20240306"]}]


def test_nested_lines_form_refuses_a_source_list_inside_lines() -> None:
    with pytest.raises(MappingCompileError, match="walks a list of the current line"):
        compile_rules(
            {
                "E": {
                    "each": "source.Lines",
                    "map": {"X": {"each": "source.Lines", "map": {"Y": ".Sku"}}},
                }
            }
        )


def test_nested_lines_form_maps_lines_with_a_filter() -> None:
    mapping = compile_rules({
        "Entries": {
            "each": "source.Lines",
            "when": ".Qty > 0",
            "map": {"FMaterialId": ".Sku", "FQty": ".Qty", "FHead": "source.Name"},
        }
    })  # fmt: skip

    assert mapping.apply(RECORD) == {"Entries": [{"FMaterialId": "A", "FQty": 2, "FHead": "ACME"}]}


def test_error_inside_nested_form_names_the_line_and_field() -> None:
    mapping = compile_rules({"Entries": {"each": "source.Lines", "map": {"Q": "number(.Sku)"}}})

    with pytest.raises(FieldMappingError) as caught:
        mapping.apply(RECORD)

    assert str(caught.value) == 'test-flow › Entries[0].Q: number(): "A" is not a number (.Sku)'
    assert caught.value.expression == "number(.Sku)"


def test_unknown_key_in_dict_rule_is_refused_with_a_hint() -> None:
    with pytest.raises(MappingCompileError, match="did you mean 'default'"):
        compile_rules({"Fax": {"expr": "source.Fax", "defualt": "-"}})


def test_flow_when_filters_and_cannot_use_xref() -> None:
    mapping = compile_rules({"A": "source.Name"}, when='source.Name == "ACME"')
    assert mapping.accepts(RECORD) and not mapping.accepts({"Name": "X"})

    with pytest.raises(MappingCompileError, match="cannot use xref"):
        compile_rules({"A": "source.Name"}, when="xref.customer(source.Name) == 1")


def test_when_error_is_a_mapping_error_named_when() -> None:
    mapping = compile_rules({"A": "1"}, when="source.Missing > 1")

    with pytest.raises(FieldMappingError) as caught:
        mapping.accepts(RECORD)

    assert caught.value.target_field == "when"


def test_xref_requests_cover_lines_and_skip_nulls() -> None:
    mapping = compile_rules({
        "Customer": "xref.customer(source.Account.Name)",
        "Owner": "xref.user(source.Account.Owner)",
        "Items": "each(source.Lines, {M: xref.product(.Sku)})",
        "Alt": 'xref.product(source.Name) if source.Qty > 100 else "none"',
    })  # fmt: skip

    requests = mapping.xref_requests(RECORD)

    assert requests == {
        ("customer", "Parent Co"),
        ("product", "A"),
        ("product", "B"),
        ("product", "ACME"),
    }
    assert mapping.entities == {"customer", "user", "product"}


def test_optional_xref_gives_null_instead_of_parking() -> None:
    mapping = compile_rules({"Owner": "xref.user(source.Name, optional=true)"})

    assert mapping.apply(RECORD, {}) == {"Owner": None}


def test_xref_ids_are_text_and_numbers_become_digits() -> None:
    mapping = compile_rules({"C": "xref.customer(source.Qty)"})

    assert mapping.xref_requests(RECORD) == {("customer", "3")}
    assert mapping.apply(RECORD, {("customer", "3"): "C-3"}) == {"C": "C-3"}


def test_declared_entities_catch_a_typo() -> None:
    with pytest.raises(MappingCompileError, match="did you mean 'customer'"):
        compile_rules({"C": "xref.custmer(source.Name)"}, xref_entities={"customer", "product"})


def test_strict_table_refuses_unknown_key_and_defaults() -> None:
    tables = {"tax": ValueTable("tax", {"VAT13": "J1"}, strict=True)}
    mapping = compile_rules({"T": 'table("tax", source.Name)'}, tables=tables)

    with pytest.raises(FieldMappingError, match="\"ACME\" is not in table 'tax'"):
        mapping.apply(RECORD)
    with pytest.raises(MappingCompileError, match="strict: a default is not allowed"):
        compile_rules({"T": 'table("tax", source.Name, default="J0")'}, tables=tables)


def test_table_default_and_number_keys() -> None:
    tables = {"grade": ValueTable("grade", {1: "A", "2": "B"}, default="Z")}
    mapping = compile_rules(
        {"G1": 'table("grade", source.Qty)', "G2": 'table("grade", 1)'}, tables=tables
    )

    assert mapping.apply(RECORD) == {"G1": "Z", "G2": "A"}


def test_constant_lists_are_not_shared_between_records() -> None:
    mapping = compile_rules({"Tags": '["a", "b"]'})
    first = mapping.apply(RECORD)
    first["Tags"].append("c")  # type: ignore[attr-defined]

    assert mapping.apply(RECORD) == {"Tags": ["a", "b"]}


def test_now_reads_the_injected_clock() -> None:
    assert evaluate('now(to="yyyy-MM-dd HH:mm", tz="Asia/Shanghai")') == "2024-03-05 10:00"


def test_version_is_stable_and_tracks_meaning_only() -> None:
    a = compile_rules({"A": "source.Name"})
    b = compile_rules({"A": "source.Name"}, positions={"A": SourcePos("x.yaml", 1, 1)})
    c = compile_rules({"A": "source.Note"})

    assert a.version() == b.version() != c.version()
    assert len(a.version()) == 16


def test_mapping_errors_share_the_spi_base_class() -> None:
    assert issubclass(MappingCompileError, MappingError)
    assert issubclass(FieldMappingError, MappingError)


def test_huge_decimal_in_a_record_gives_a_quick_clear_error() -> None:
    record = {"X": Decimal("1E+999999999"), "Y": 10**4000}

    for expression in ("text(source.X)", "xref.customer(source.X)", "money(source.X)",
                       "integer(source.X)", "source.Y * source.Y", "money(source.Y)"):  # fmt: skip
        with pytest.raises(FieldMappingError):
            evaluate(expression, record)


def test_regex_escapes_in_plain_text_literals_work_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = evaluate(r'replace(source.P, "\D", "")', {"P": "138-1234-5678"})

    assert value == "13812345678"
