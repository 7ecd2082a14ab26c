"""Built-in functions: every documented example, and the edge cases around them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from erpbridge.mapping import FieldMappingError, MappingCompileError, builtin_functions
from erpbridge.mapping.functions import show
from erpbridge.mapping.functions.ids import is_valid_uscc, uscc_check_char
from erpbridge.mapping.functions.money import amount_in_words
from erpbridge.mapping.reference import evaluate_example
from tests.mapping.helpers import evaluate

EXAMPLES = [
    pytest.param(example.expression, example.result, id=f"{spec.name}: {example.expression}")
    for spec in builtin_functions().values()
    for example in spec.examples
]


@pytest.mark.parametrize(("expression", "result"), EXAMPLES)
def test_documented_example_gives_documented_result(expression: str, result: str) -> None:
    assert show(evaluate_example(expression)) == result


def test_every_function_has_an_example() -> None:
    assert [n for n, spec in builtin_functions().items() if not spec.examples] == []


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('date("2024-03-05T23:30:00+08:00")', "2024-03-05"),
        ('date("2024-03-05T23:30:00+08:00", tz="UTC")', "2024-03-05"),
        ('date("2024-03-05T16:30:00Z", tz="Asia/Shanghai")', "2024-03-06"),
        ('date("2024/3/5")', "2024-03-05"),
        ('date("２０２４年３月５日")', "2024-03-05"),
        ('date("/Date(1709596800000+0800)/")', "2024-03-05"),
        ('date(1709596800, from="unix")', "2024-03-05"),
        ('date("2024-03-05", to="unix_ms")', 1709596800000),
        ('date("20240305", to="yy/MM/dd")', "24/03/05"),
        ('date(45356.75, from="excel", to="iso")', "2024-03-05"),
        ('datetime(45356.75, from="excel", to="yyyy-MM-dd HH:mm")', "2024-03-05 18:00"),
        ('datetime("2024-03-05", tz="Asia/Shanghai", to="odata")', "/Date(1709568000000)/"),
        ('datetime("2024-03-05T10:00:00.123Z", to="yyyy-MM-dd\'T\'HH:mm:ss.SSS")',
         "2024-03-05T10:00:00.123"),
        ('datetime("20240305143000", tz="+08:00", to="unix")', 1709620200),
        ('time("2024-03-05T14:30:05Z")', "14:30:05"),
        ('money("-1,234.567", scale=2)', Decimal("-1234.57")),
        ('money("(50.00)")', Decimal("-50.00")),
        ('money("￥１，２３４．５０元")', Decimal("1234.50")),
        ('money(1, from="JPY")', Decimal("1")),
        ('money(1.2345, from="KWD")', Decimal("1.235")),
        ('money(0.125, rounding="half_even")', Decimal("0.12")),
        ('money(0.125, rounding="down")', Decimal("0.12")),
        ('money(0.121, rounding="up")', Decimal("0.13")),
        ('money(12345, from="分", to="万元", scale=4)', Decimal("0.0123")),
        ('number("1e3")', Decimal("1E+3")),
        ("integer(2.5)", 3),
        ("integer(-2.5)", -3),
        ('pad_left("7", 3)', "007"),
        ('replace("a  b", "\\\\s+", " ")', "a b"),
        ('extract("no digits", "(\\\\d+)")', None),
        ('trim(null)', None),
        ('concat()', ""),
        ('phone("0086 13812345678")', "13812345678"),
        ('phone("+1 415 555 0100")', "+14155550100"),
        ('phone("010-12345678", format="e164")', "+861012345678"),
        ('upper("ｓｏ")', "ＳＯ"),
        ('halfwidth("ｓｏ")', "so"),
        ('bool("启用")', True),
        ('bool(0)', False),
        ('text(1E+3)', "1000"),
    ],
)  # fmt: skip
def test_function_edge_case(expression: str, expected: object) -> None:
    assert evaluate(expression) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ('date("2024-02-30")', '"2024-02-30" is not a date'),
        ("date(20240305)", 'is a number; say from="unix_ms"'),
        ('date("31/12/2024", from="dd/MM/yyyy", to="iso") + date("x")', "is not a date"),
        ('date(60, from="excel")', "is not an Excel date serial"),
        ('date("1900-01-01", to="excel")', "before 1900-03-01"),
        ('money("12,3x")', '"12,3x" is not a number'),
        ('money("1,2345")', "is not a number"),
        ("money(true)", "is a boolean"),
        ('money("NaN")', "is not a number"),
        ('money("1e99999")', "is not a number"),
        ('money(100, from="USD", to="CNY")', "needs rate="),
        ('phone("12345")', "is not a valid phone number"),
        ('uscc("91350100M000100Y44")', "is not a valid 统一社会信用代码"),
        ('email("a@b")', "is not a valid e-mail"),
        ('required("  ")', "a value is required"),
        ('bool("maybe")', "is not a yes/no value"),
        ('time("25:00")', "is not a time of day"),
        ('add_days("2024-01-01", 1.5)', "is not a whole number of days"),
        ('unit(1, from="kg", to="m")', "cannot convert mass (kg) to length (m)"),
    ],
)
def test_function_refuses_bad_value(expression: str, message: str) -> None:
    with pytest.raises((FieldMappingError, MappingCompileError)) as caught:
        evaluate(expression)

    assert message in str(caught.value)


def test_runtime_value_error_names_the_argument_source() -> None:
    with pytest.raises(FieldMappingError) as caught:
        evaluate('date(source.Day, to="odata")', {"Day": "32.13.2024"})

    assert str(caught.value) == 'test-flow › out: date(): "32.13.2024" is not a date (source.Day)'
    assert caught.value.source == "source.Day"


def test_uscc_check_character_is_computed_per_gb_32100() -> None:
    assert uscc_check_char("91350100M000100Y4") == "3"
    assert is_valid_uscc("91350100M000100Y43")
    assert not is_valid_uscc("91350100M000100Y4I")  # I is not in the alphabet


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        ("0", "零元整"),
        ("0.5", "伍角"),
        ("10", "壹拾元整"),
        ("100.05", "壹佰元零伍分"),
        ("10010000", "壹仟零壹万元整"),
        ("123456789.12", "壹亿贰仟叁佰肆拾伍万陆仟柒佰捌拾玖元壹角贰分"),
        ("-3", "负叁元整"),
    ],
)
def test_amount_in_words(amount: str, words: str) -> None:
    assert amount_in_words(Decimal(amount)) == words


def test_regex_is_not_run_on_huge_text() -> None:
    with pytest.raises(FieldMappingError, match="too long"):
        evaluate('replace(source.T, "a", "b")', {"T": "a" * 200_000})


def test_pad_width_is_bounded_at_load() -> None:
    with pytest.raises(MappingCompileError, match="width must be"):
        evaluate("pad_left(source.T, 100000)", {"T": "a"})
