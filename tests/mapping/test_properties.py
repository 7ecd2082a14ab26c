"""Hypothesis properties: conversions round-trip, nothing but MappingError escapes,
and preview gives exactly what apply gives."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from erpbridge.mapping import (
    MappingError,
    MappingSpec,
    ValueTable,
    compile_mapping,
    preview,
)
from erpbridge.mapping.functions.strings import fullwidth
from tests.mapping.helpers import FIXED_NOW, evaluate

DATES = st.dates(min_value=date(1900, 3, 1), max_value=date(9999, 12, 31))
MOMENTS = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))
AMOUNTS = st.decimals(
    min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=2, allow_nan=False
)
FORMATS = [
    ("iso", None),
    ("odata", None),
    ("yyyyMMdd", None),
    ("cn", None),
    ("excel", "excel"),
    ("unix_ms", "unix_ms"),
    ("dd/MM/yyyy", "dd/MM/yyyy"),
    ("yyyy年M月d日", None),
]


@given(DATES, st.sampled_from(FORMATS))
def test_date_conversion_round_trips(day: date, fmt: tuple[str, str | None]) -> None:
    to, back = fmt
    source = {"d": day.isoformat()}
    converted = evaluate(f'date(source.d, to="{to}")', source)
    from_ = f', from="{back}"' if back else ""

    assert evaluate(f"date(source.c{from_})", {"c": converted}) == day.isoformat()


@given(MOMENTS, st.sampled_from(["odata", "odata_offset", "unix_ms", "iso"]),
       st.sampled_from(["UTC", "Asia/Shanghai", "America/New_York", "+05:30"]))  # fmt: skip
def test_datetime_conversion_round_trips(moment: datetime, to: str, zone: str) -> None:
    iso = moment.isoformat()
    converted = evaluate(f'datetime(source.t, to="{to}", to_tz="{zone}")', {"t": iso})
    from_ = ', from="unix_ms"' if to == "unix_ms" else ""

    back = evaluate(f'datetime(source.c{from_}, to="iso", to_tz="UTC")', {"c": converted})

    assert datetime.fromisoformat(str(back)) == moment


@given(AMOUNTS)
def test_yuan_to_fen_and_back_is_identity(amount: Decimal) -> None:
    fen = evaluate('money(source.a, from="元", to="分")', {"a": amount})

    assert isinstance(fen, int)
    assert evaluate('money(source.f, from="分", to="元")', {"f": fen}) == amount


@given(AMOUNTS)
def test_formatted_and_full_width_amounts_read_back(amount: Decimal) -> None:
    text = evaluate("format_number(source.a)", {"a": amount})

    assert evaluate("money(source.t)", {"t": text}) == amount
    assert evaluate("money(source.t)", {"t": fullwidth(str(text))}) == amount


@given(AMOUNTS, st.sampled_from(["half_up", "half_even", "down", "up", "floor", "ceiling"]))
def test_rounding_never_moves_more_than_one_unit(amount: Decimal, mode: str) -> None:
    rounded = evaluate(f'money(source.a, scale=0, rounding="{mode}")', {"a": amount})

    assert abs(Decimal(rounded) - amount) < 1  # type: ignore[arg-type]


TOKENS = [
    "source", ".A", ".B", ".C", "[0]", '["A"]', "(", ")", "[", "]", "{", "}", ",", ":", " ",
    '"x"', '"2024-03-05"', "1", "0", "2.5", "-", "+", "*", "/", "//", "%", "==", "!=", "<",
    ">=", " and ", " or ", "not ", " if ", " else ", " in ", "null", "true", "each(",
    "money(", "date(", "number(", "concat(", "coalesce(", "default(", "table(\"t\", ",
    "xref.customer(", "sum(", "text(", "upper(", "len(", "split(", "required(", "lookup(",
    "to=", 'to="odata"', 'from="分"', "scale=2", "when=", "now()", "A:", "B:", "lambda",
    "__class__", "**", "'", "\\", "#", "\n",
]  # fmt: skip
ATOMS = st.sampled_from([
    "source.A", "source.B", 'source["C"]', "source.A.B", "source.A[0]", "source", "null",
    "true", "0", "1", "2.5", '"x"', '""', '"2024-03-05"', '"1,234.5"', "[1, 2]", "now()",
])  # fmt: skip
UNARY = ["money({})", "date({})", 'date({}, to="odata")', "number({}, scale=2)", "text({})",
         "upper({})", "len({})", 'table("t", {})', "xref.customer({})", "sum({})", "not {}",
         "-{}", "({})", "trim({})", "phone({})", "uscc({})", 'money({}, from="分", to="元")',
         "integer({})", "bool({})", 'split({})', "first({})", "required({})", "[{}]",
         "each(source.A, {{X: .B, Y: {}}})", "each(source.B, {})", "default({}, 1)",
         'xref.customer({}, missing="skip")', 'xref.customer({}, missing="null")',
         'each(source.A, {{X: xref.customer(.B, missing="skip"), Y: {}}})',
         'datetime({}, tz="Asia/Shanghai")', "time({})", 'lookup({}, {{"x": 1}})']  # fmt: skip
BINARY = ["{} + {}", "{} - {}", "{} * {}", "{} / {}", "{} % {}", "{} == {}", "{} < {}",
          "{} and {}", "{} or {}", "{} in {}", "coalesce({}, {})", "concat({}, {})",
          "max({}, {})", "add_days({}, {})", "{} if source.C else {}"]  # fmt: skip
GRAMMAR = st.recursive(
    ATOMS,
    lambda inner: st.one_of(
        st.tuples(st.sampled_from(UNARY), inner).map(lambda t: t[0].format(t[1])),
        st.tuples(st.sampled_from(BINARY), inner, inner).map(lambda t: t[0].format(t[1], t[2])),
    ),
    max_leaves=6,
)
EXPRESSIONS = st.one_of(
    GRAMMAR,
    GRAMMAR,
    st.lists(st.sampled_from(TOKENS), min_size=1, max_size=14).map("".join),
    st.text(max_size=40),
)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=8),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.sampled_from(["1,234.50", "2024-03-05", "/Date(0)/", "x", "", "１２"]),
)  # fmt: skip
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("ABC"), inner),
    max_leaves=8,
)
RECORDS = st.dictionaries(st.sampled_from(["A", "B", "C"]), VALUES)
TABLES = {"t": ValueTable("t", {"x": "X", "1": "one"}, default="?")}


def _compile_or_none(expression: str) -> object:
    spec = MappingSpec("fuzz", {"out": expression, "also": "source"}, tables=TABLES)
    try:
        return compile_mapping(spec, clock=lambda: FIXED_NOW)
    except MappingError:
        return None


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(EXPRESSIONS, RECORDS, st.dictionaries(st.tuples(st.just("customer"), st.text(max_size=3)),
                                             st.none() | st.text(max_size=3)))  # fmt: skip
def test_compiler_and_mapping_raise_nothing_but_mapping_errors(
    expression: str, record: dict[str, object], xrefs: dict[tuple[str, str], str | None]
) -> None:
    mapping = _compile_or_none(expression)
    if mapping is None:
        return

    mapping.xref_requests(record)  # type: ignore[attr-defined]
    with contextlib.suppress(MappingError):
        mapping.apply(record, xrefs)  # type: ignore[attr-defined]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(EXPRESSIONS, RECORDS)
def test_preview_gives_the_same_values_as_apply(expression: str, record: dict[str, object]) -> None:
    mapping = _compile_or_none(expression)
    if mapping is None:
        return

    [row] = preview(mapping, [record], {("customer", "x"): "C-X"})  # type: ignore[arg-type]
    try:
        applied = mapping.apply(record, {("customer", "x"): "C-X"})  # type: ignore[attr-defined]
    except MappingError:
        assert not row.ok
        return
    assert row.ok
    # Decimal('NaN') is not equal to itself: compare such values as written.
    assert row.target == applied or repr(row.target) == repr(applied)


def _outcome(mapping: object, record: dict[str, object]) -> tuple[str, str]:
    try:
        return "ok", repr(mapping.apply(record, {("customer", "x"): "C-X"}))  # type: ignore[attr-defined]
    except MappingError as exc:
        return type(exc).__name__, str(exc)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(EXPRESSIONS, EXPRESSIONS, RECORDS)
def test_generated_fast_path_gives_what_the_closures_give(
    first: str, second: str, record: dict[str, object]
) -> None:
    spec = MappingSpec("fuzz", {"a": first, "b": second, "c": "source"}, tables=TABLES)
    try:
        fast = compile_mapping(spec, clock=lambda: FIXED_NOW)
    except MappingError:
        return
    closures = compile_mapping(spec, clock=lambda: FIXED_NOW, fast=False)

    assert _outcome(fast, record) == _outcome(closures, record)


DESIGN_RULES = {
    "SoldToParty": "xref.customer(source.A)",
    "RequestedDeliveryDate": 'date(source.B, to="odata")',
    "TotalNetAmount": 'money(source.C, from="CNY", scale=2)',
    "to_Item": "each(source.A, {Material: xref.product(.B), RequestedQuantity: .C})",
}


@settings(max_examples=300)
@given(RECORDS)
def test_design_mapping_on_arbitrary_records_is_consistent(record: dict[str, object]) -> None:
    mapping = compile_mapping(MappingSpec("orders-to-sap", DESIGN_RULES))
    xrefs = {k: f"T-{k[1]}" for k in mapping.xref_requests(record)}

    [row] = preview(mapping, [record], xrefs)
    try:
        applied = mapping.apply(record, xrefs)
    except MappingError:
        assert not row.ok
        return
    assert row.target == applied


def test_clock_is_fixed_for_fuzzing() -> None:
    assert FIXED_NOW - timedelta(0) == FIXED_NOW
