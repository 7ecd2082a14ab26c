"""``xref.<entity>(id, missing="wait"|"null"|"skip")``: what a lookup without a pair does."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from erpbridge.mapping import (
    MappingCompileError,
    MappingSpec,
    SourcePos,
    check_mapping,
    compile_mapping,
    preview,
    preview_table,
)
from erpbridge.mapping.errors import FieldMappingError, MissingReference, SkippedReference
from tests.mapping.helpers import FIXED_NOW, compile_rules

STOCK = {"Material": "MAT-9", "Plant": "1710", "Qty": 5}
KNOWN = {("product", "MAT-1"): "01tA1"}
RULES = {
    "Key": 'concat(source.Material, source.Plant, sep="/")',
    "Product__c": 'xref.product(source.Material, missing="skip")',
    "Qty": "number(source.Qty, scale=3)",
}


def _both(rules: dict[str, object], **kw: object):  # type: ignore[no-untyped-def]
    """The same mapping with the generated fast path and with the closures only."""
    spec = MappingSpec("stock", rules, **kw)  # type: ignore[arg-type]
    fast = compile_mapping(spec, clock=lambda: FIXED_NOW)
    closures = compile_mapping(spec, clock=lambda: FIXED_NOW, fast=False)
    assert fast.is_fast and not closures.is_fast
    return fast, closures


def _outcome(mapping, record, xrefs):  # type: ignore[no-untyped-def]
    try:
        return "ok", mapping.apply(record, xrefs)
    except FieldMappingError as exc:
        return type(exc).__name__, str(exc)


# --- load -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "message", "at"),
    [
        (
            'xref.product(source.M, missing="skp")',
            'xref.product(): missing must be "wait", "null" or "skip", not "skp"; '
            "did you mean 'skip'?",
            '"skp"',
        ),
        (
            "xref.product(source.M, missing=true)",
            'xref.product(): missing must be "wait", "null" or "skip", not true',
            "true",
        ),
        (
            'xref.product(source.M, missing="skip", optional=true)',
            "xref.product(): give missing= or optional=, not both "
            '(optional=true is missing="null")',
            "optional",
        ),
        (
            'xref.product(source.M, optional=true, missing="null")',
            "give missing= or optional=, not both",
            "missing",
        ),
        (
            "xref.product(source.M, missing=source.Mode)",
            "xref.product(): missing must be a literal",
            "source.Mode",
        ),
        (
            'xref.product(source.M, when="skip")',
            'has only missing="wait"|"null"|"skip", optional=true|false',
            "when",
        ),
    ],
)
def test_bad_missing_is_refused_at_load_with_file_line_and_column(
    rule: str, message: str, at: str
) -> None:
    spec = MappingSpec("stock", {"P": rule}, positions={"P": SourcePos("erpbridge.yaml", 12, 20)})

    [problem] = [p for p in check_mapping(spec) if p.severity == "error"]
    with pytest.raises(MappingCompileError):
        compile_mapping(spec)

    assert message in problem.message
    assert problem.pos == SourcePos("erpbridge.yaml", 12, 20 + rule.rindex(at))
    assert str(problem).startswith(f"erpbridge.yaml:12:{20 + rule.rindex(at)}: stock › P: ")


def test_optional_true_is_missing_null_and_false_is_wait() -> None:
    mapping = compile_rules(
        {
            "A": "xref.user(source.Id, optional=true)",
            "B": 'xref.user(source.Id, missing="null")',
            "C": "xref.user(source.Id, optional=false)",
        }
    )

    with pytest.raises(MissingReference) as caught:
        mapping.apply({"Id": "u1"}, {})
    assert caught.value.target_field == "C"
    assert compile_rules({"A": "xref.user(source.Id, optional=true)"}).apply({"Id": "u1"}) == {
        "A": None
    }
    assert mapping.skip_lookups == frozenset()


def test_skip_lookups_are_the_names_used_only_with_skip() -> None:
    mapping = compile_rules(
        {
            "P": 'xref.product(source.M, missing="skip")',
            "C": 'xref.customer(source.C, by="Code", missing="skip")',
            "U": 'xref.user(source.U, missing="skip")',
            "U2": "xref.user(source.U2)",
        },
        xref_key_entities={"customer"},
    )

    assert mapping.skip_lookups == {"product", "customer@Code"}


# --- apply ----------------------------------------------------------------------------


def test_a_pair_maps_as_usual_and_a_miss_raises_the_skip_naming_field_and_lookup() -> None:
    for mapping in _both(RULES):
        mapped = mapping.apply({**STOCK, "Material": "MAT-1"}, KNOWN)
        assert mapped == {"Key": "MAT-1/1710", "Product__c": "01tA1", "Qty": 5}
        with pytest.raises(SkippedReference) as caught:
            mapping.apply(STOCK, KNOWN)
        skipped = caught.value
        assert (skipped.entity, skipped.source_id, skipped.key_field) == ("product", "MAT-9", None)
        assert (skipped.flow, skipped.target_field) == ("stock", "Product__c")
        assert str(skipped) == (
            "stock › Product__c: xref.product('MAT-9') has no target: skipped (missing=\"skip\")"
        )


def test_a_null_id_is_not_a_miss() -> None:
    for mapping in _both(RULES):
        assert mapping.apply({**STOCK, "Material": None}, {})["Product__c"] is None


def test_skip_works_with_by_and_returns_key() -> None:
    rules = {
        "Cust": 'xref.customer(source.Code, by="CustomerCode", missing="skip")',
        "CustNo": 'xref.customer(source.Code, by="CustomerCode", returns="key", missing="skip")',
    }
    for mapping in _both({**rules, "N": "source.N"}):
        pair = {("customer@CustomerCode", "C-1"): "900"}
        assert mapping.apply({"Code": "C-1", "N": 1}, pair) == {
            "Cust": "900",
            "CustNo": "C-1",
            "N": 1,
        }
        with pytest.raises(SkippedReference) as caught:
            mapping.apply({"Code": "C-2", "N": 1}, pair)
        assert "xref.customer('C-2', by='CustomerCode') has no target" in str(caught.value)
        assert caught.value.key_field == "CustomerCode"


def test_inside_each_only_the_line_is_left_out() -> None:
    lines = 'each(source.Lines, {Material: xref.product(.Sku, missing="skip"), Qty: .Qty})'
    record = {"Lines": [{"Sku": "MAT-1", "Qty": 2}, {"Sku": "MAT-9", "Qty": 1}], "No": "SO-1"}
    for mapping in _both({"No": "source.No", "Items": lines}):
        assert mapping.apply(record, KNOWN) == {
            "No": "SO-1",
            "Items": [{"Material": "01tA1", "Qty": 2}],
        }
        # every line skipped: the record is written with no lines
        assert mapping.apply(record, {}) == {"No": "SO-1", "Items": []}


def test_the_lines_form_and_the_lines_filter_skip_lines_too() -> None:
    record = {"Lines": [{"Sku": "MAT-1", "Qty": 2}, {"Sku": "MAT-9", "Qty": 1}], "N": 1}
    form = {
        "each": "source.Lines",
        "when": '.Qty > 0 and xref.product(.Sku, missing="skip") != "x"',
        "map": {"Q": ".Qty"},
    }
    for mapping in _both({"N": "source.N", "Items": form}):
        assert mapping.apply(record, KNOWN) == {"N": 1, "Items": [{"Q": 2}]}
    required = {"each": "source.Lines", "map": {"M": 'xref.product(.Sku, missing="skip")'}}
    mapping = compile_rules({"Items": {**required, "required": True}})
    with pytest.raises(FieldMappingError, match="a value is required"):
        mapping.apply(record, {})


def test_a_nested_each_skips_lines_of_its_own_list_only() -> None:
    rule = 'each(source.Lines, {Sku: .Sku, Cuts: each(.Cuts, xref.product(.Id, missing="skip"))})'
    record = {"Lines": [{"Sku": "A", "Cuts": [{"Id": "MAT-1"}, {"Id": "MAT-9"}]}]}
    for mapping in _both({"L": rule, "N": "1"}):
        assert mapping.apply(record, KNOWN) == {"L": [{"Sku": "A", "Cuts": ["01tA1"]}], "N": 1}


def test_a_record_that_also_waits_for_another_lookup_is_skipped_not_parked() -> None:
    rules = {
        "Customer": "xref.customer(source.C)",  # waits, and comes first
        "Product": 'xref.product(source.Material, missing="skip")',
    }
    for mapping in _both(rules):
        with pytest.raises(SkippedReference) as caught:
            mapping.apply({"C": "c1", "Material": "MAT-9"}, {})
        assert caught.value.target_field == "Product"
        with pytest.raises(MissingReference):  # the product is there: it waits as before
            mapping.apply({"C": "c1", "Material": "MAT-1"}, KNOWN)


def test_a_line_that_also_waits_is_left_out_and_the_others_still_wait() -> None:
    rule = 'each(source.Lines, {C: xref.customer(.C), P: xref.product(.Sku, missing="skip")})'
    record = {"Lines": [{"C": "c1", "Sku": "MAT-9"}, {"C": "c2", "Sku": "MAT-1"}]}
    for mapping in _both({"L": rule, "N": "1"}):
        with pytest.raises(MissingReference) as caught:
            mapping.apply(record, KNOWN)
        assert caught.value.source_id == "c2"  # line 0 is skipped, line 1 waits
        assert caught.value.target_field == "L[1].C"
        assert mapping.apply(record, {**KNOWN, ("customer", "c2"): "9"}) == {
            "L": [{"C": "9", "P": "01tA1"}],
            "N": 1,
        }


def test_a_mapping_error_before_the_skip_is_still_an_error() -> None:
    before = {"Qty": "number(source.Qty)", **RULES}
    for mapping in _both(before):
        outcome = _outcome(mapping, {**STOCK, "Qty": "12,3x"}, {})
        assert outcome[0] == "FieldMappingError" and "Qty: number()" in outcome[1]
    after = {**RULES, "Bad": "number(source.Qty)"}
    for mapping in _both(after):
        assert _outcome(mapping, {**STOCK, "Qty": "12,3x"}, {})[0] == "SkippedReference"


def test_fast_path_and_closures_agree_on_skips() -> None:
    rules = {
        **RULES,
        "C": "xref.customer(source.C)",
        "Lines": 'each(source.Lines, {P: xref.product(.Sku, missing="skip"), Q: .Qty})',
    }
    fast, closures = _both(rules)
    records = [
        {**STOCK, "Material": "MAT-1", "C": "c1", "Lines": []},
        {**STOCK, "C": "c1", "Lines": []},
        {**STOCK, "Material": "MAT-1", "C": "c9", "Lines": [{"Sku": "MAT-9", "Qty": 1}]},
        {**STOCK, "Material": "MAT-1", "C": "c1", "Lines": [{"Sku": "MAT-1", "Qty": 1}]},
        {**STOCK, "Material": "MAT-1", "C": "c1", "Lines": [{"Sku": "MAT-9", "Qty": 1}]},
        {**STOCK, "C": None, "Lines": None},
    ]
    xrefs = {**KNOWN, ("customer", "c1"): "1"}
    outcomes = [_outcome(fast, r, xrefs) for r in records]

    assert outcomes == [_outcome(closures, r, xrefs) for r in records]
    assert [o[0] for o in outcomes] == [
        "ok", "SkippedReference", "MissingReference", "ok", "ok", "SkippedReference",
    ]  # fmt: skip


def test_requests_include_skip_lookups() -> None:
    mapping = compile_rules(RULES)

    assert mapping.xref_requests(STOCK) == {("product", "MAT-9")}


DOC_RECORD = {
    "OrderItems": [{"Product2Id": "01tA1", "Quantity": 2}, {"Product2Id": "01tB2", "Quantity": 1.5}]
}
DOC_XREFS = {("product", "01tA1"): "MAT-1"}


@pytest.mark.parametrize(
    ("expression", "result"),
    [
        ('xref.product("01tA1")', "MAT-1"),
        ('xref.product("01tB2")', MissingReference),
        ('xref.product("01tB2", missing="null")', None),
        ('xref.product("01tB2", missing="skip")', SkippedReference),
        ('each(source.OrderItems, xref.product(.Product2Id, missing="skip"))', ["MAT-1"]),
    ],
)
def test_the_examples_of_the_function_reference(expression: str, result: object) -> None:
    mapping = compile_rules({"out": expression})
    if isinstance(result, type):
        with pytest.raises(result):
            mapping.apply(DOC_RECORD, DOC_XREFS)
    else:
        assert mapping.apply(DOC_RECORD, DOC_XREFS) == {"out": result}


# --- preview --------------------------------------------------------------------------


def test_preview_shows_a_skipped_record_with_its_reason() -> None:
    mapping = compile_rules(RULES)

    skipped, written = preview(mapping, [STOCK, {**STOCK, "Material": "MAT-1"}], KNOWN)

    reason = "Product__c: xref.product('MAT-9') has no target: skipped (missing=\"skip\")"
    assert skipped.skipped == reason and not skipped.ok and skipped.accepted
    fields = {f.name: f for f in skipped.fields}
    assert fields["Product__c"].skipped == reason and fields["Product__c"].error is None
    assert skipped.target == {"Key": "MAT-9/1710", "Qty": 5}
    assert skipped.missing_references == ()
    assert json.loads(json.dumps(skipped.to_json()))["skipped"] == reason
    assert written.skipped is None and written.ok
    console = Console(file=io.StringIO(), width=200)
    console.print(preview_table(skipped))
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert 'skipped: a lookup with missing="skip" has no target' in shown
    assert "(skipped)" in shown


def test_preview_says_what_apply_does_when_an_error_comes_first() -> None:
    mapping = compile_rules({"Qty": "number(source.Qty)", **RULES})

    [row] = preview(mapping, [{**STOCK, "Qty": "12,3x"}], {})

    assert row.skipped is None and not row.ok
    with pytest.raises(FieldMappingError) as caught:
        mapping.apply({**STOCK, "Qty": "12,3x"}, {})
    assert not isinstance(caught.value, SkippedReference)
