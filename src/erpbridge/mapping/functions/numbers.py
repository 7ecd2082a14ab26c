"""Numbers: parsing (thousand separators, full-width digits), rounding, formatting, units.

Every number the language makes is an ``int`` or a ``Decimal``: never a float, so money
and quantities keep their exact value. A float that arrives in a record (JSON) is read
through its shortest text form (``0.1`` stays ``0.1``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Decimal,
    InvalidOperation,
)

from erpbridge.mapping.functions._base import (
    Example,
    FunctionError,
    FunctionSpec,
    Impl,
    Param,
    brief,
)
from erpbridge.spi.schema import FieldType

__all__ = [
    "FUNCTIONS",
    "ROUNDING",
    "exponent",
    "halfwidth_digits",
    "quantize",
    "rounding_mode",
    "scale_of",
    "to_decimal",
]

ROUNDING: Mapping[str, str] = {
    "half_up": ROUND_HALF_UP,  # 四舍五入, the Chinese accounting default
    "四舍五入": ROUND_HALF_UP,
    "half_even": ROUND_HALF_EVEN,  # banker's rounding
    "half_down": ROUND_HALF_DOWN,
    "up": ROUND_UP,
    "down": ROUND_DOWN,  # truncate towards zero
    "ceiling": ROUND_CEILING,
    "floor": ROUND_FLOOR,
}

_FULLWIDTH_NUMERIC = str.maketrans("０１２３４５６７８９．，－＋（）％　", "0123456789.,-+()% ")
_PLAIN = re.compile(r"-?\d{1,40}(?:\.\d{1,40})?\Z")
_GROUPED = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?\Z")
_CURRENCY_MARKS = re.compile(r"^(?:[¥￥$€£]|RMB|CNY|USD|EUR|HKD|JPY)\s*|\s*(?:元|圆|RMB|CNY)$")
_MAX_DIGITS = 40
_MAX_INT = 10**_MAX_DIGITS
_INFINITIES = (float("inf"), float("-inf"))
_EXPONENTS: dict[int, Decimal] = {}


def halfwidth_digits(text: str) -> str:
    """Full-width digits and number punctuation (１２３．５０) as ASCII."""
    return text.translate(_FULLWIDTH_NUMERIC)


def to_decimal(value: object, *, decimal_mark: str = ".") -> Decimal:
    """Read a number: int, Decimal, float, or text with separators, symbols or 全角 digits.

    Raises:
        FunctionError: for anything that is not clearly one number.
    """
    if isinstance(value, str):
        if decimal_mark == "." and _PLAIN.match(value):
            return Decimal(value)
        return _parse_text(value, decimal_mark)
    t = type(value)
    if t is float:
        if value != value or value in _INFINITIES:
            raise FunctionError(f"{brief(value)} is not a usable number")
        number = Decimal(repr(value))
        if abs(number.adjusted()) > _MAX_DIGITS:
            raise FunctionError(f"{brief(value)} is too large")
        return number
    if t is int:
        if -_MAX_INT < value < _MAX_INT:
            return Decimal(value)  # type: ignore[arg-type]  # an int
        raise FunctionError(f"{brief(value)} is too large")
    if isinstance(value, bool):
        raise FunctionError(f"{brief(value)} is a boolean, not a number")
    if isinstance(value, int):
        return to_decimal(int(value))
    if isinstance(value, Decimal):
        if not value.is_finite() or abs(value.adjusted()) > _MAX_DIGITS:
            raise FunctionError(f"{brief(value)} is not a usable number")
        return value
    if isinstance(value, float):
        return to_decimal(float(value))
    raise FunctionError(f"{brief(value)} is not a number")


def _parse_text(raw: str, decimal_mark: str) -> Decimal:
    text = halfwidth_digits(raw).strip().replace("\u00a0", "").replace("\u2009", "")
    text = _CURRENCY_MARKS.sub("", text).strip()
    negative = False
    if text.startswith("(") and text.endswith(")"):
        negative, text = True, text[1:-1].strip()
    if text[:1] in "+-":
        negative, text = negative != (text[0] == "-"), text[1:].strip()
    if decimal_mark == ",":
        text = text.replace(".", "\0").replace(",", ".").replace("\0", ",")
    text = text.replace(" ", "").replace("'", ",")
    if "," in text:
        if not _GROUPED.match(text):
            raise FunctionError(f"{brief(raw)} is not a number")
        text = text.replace(",", "")
    if not re.fullmatch(r"\d{1,40}(?:\.\d{1,40})?|\.\d{1,40}", text):
        if re.fullmatch(r"\d+(?:\.\d+)?[eE][+-]?\d{1,2}", text):
            number = Decimal(text)
            if abs(number.adjusted()) <= _MAX_DIGITS:
                return -number if negative else number
        raise FunctionError(f"{brief(raw)} is not a number")
    number = Decimal(text)
    return -number if negative else number


def rounding_mode(name: object) -> str:
    """The decimal rounding constant for a rounding name; ValueError when unknown."""
    mode = ROUNDING.get(str(name))
    if mode is None:
        raise ValueError(f"unknown rounding {name!r}; one of {', '.join(ROUNDING)}")
    return mode


def exponent(scale: int) -> Decimal:
    """``Decimal("1e-scale")``, the quantum for ``scale`` decimal places (cached)."""
    exp = _EXPONENTS.get(scale)
    if exp is None:
        exp = _EXPONENTS.setdefault(scale, Decimal(1).scaleb(-scale))
    return exp


def quantize(number: Decimal, scale: int, rounding: str) -> Decimal:
    """``number`` rounded to ``scale`` decimal places."""
    exp = exponent(scale)
    try:
        return number.quantize(exp, rounding=rounding)
    except InvalidOperation:
        raise FunctionError(f"{brief(number)} is too large for {scale} decimal places") from None


def scale_of(value: object) -> int | None:
    """A ``scale=`` argument checked: None or a whole number 0..18 (ValueError)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 18:
        raise ValueError(f"scale must be a whole number from 0 to 18, not {value!r}")
    return value


def _build_number(scale: object, rounding: object, decimal: object) -> Impl:
    places, mode = scale_of(scale), rounding_mode(rounding)
    exp = exponent(places or 0)
    if decimal not in (".", ","):
        raise ValueError('decimal must be "." or ","')
    mark = str(decimal)

    def number(value: object) -> object:
        if places is None and type(value) is int:
            return value
        result = to_decimal(value, decimal_mark=mark)
        if places is None:
            return result
        try:
            result = result.quantize(exp, rounding=mode)
        except ArithmeticError:
            raise FunctionError(f"{brief(value)} is too large for {places} places") from None
        return int(result) if places == 0 else result

    return number


def _build_integer(rounding: object) -> Impl:
    mode = rounding_mode(rounding)

    def integer(value: object) -> int:
        if type(value) is int:
            return value
        return int(quantize(to_decimal(value), 0, mode))

    return integer


def _build_round(scale: object, rounding: object) -> Impl:
    places, mode = scale_of(scale) or 0, rounding_mode(rounding)

    def round_(value: object) -> object:
        result = quantize(to_decimal(value), places, mode)
        return int(result) if places == 0 else result

    return round_


def _build_abs() -> Impl:
    def abs_(value: object) -> object:
        return value if type(value) is int and value >= 0 else abs(to_decimal(value))

    return abs_


def _numbers_of(values: Sequence[object]) -> list[Decimal]:
    if len(values) == 1 and isinstance(values[0], list | tuple):
        values = values[0]
    return [to_decimal(v) for v in values if v is not None]


def _build_extreme(pick: str) -> Impl:
    def extreme(values: Sequence[object]) -> object:
        numbers = _numbers_of(values)
        if not numbers:
            return None
        return min(numbers) if pick == "min" else max(numbers)

    return extreme


def _build_sum() -> Impl:
    def sum_(values: object) -> object:
        if not isinstance(values, list | tuple):
            raise FunctionError(f"{brief(values)} is not a list")
        total = Decimal(0)
        for v in values:
            if v is not None:
                total += to_decimal(v)
        return total

    return sum_


def _build_count() -> Impl:
    def count(values: object) -> int:
        if not isinstance(values, list | tuple):
            raise FunctionError(f"{brief(values)} is not a list")
        return sum(1 for v in values if v is not None)

    return count


def _build_format_number(scale: object, thousands: object, decimal: object) -> Impl:
    places = scale_of(scale)
    sep, mark = str(thousands), str(decimal)
    if len(sep) > 1 or len(mark) != 1 or sep == mark:
        raise ValueError("thousands and decimal must be single, different characters")

    def format_number(value: object) -> str:
        number = to_decimal(value)
        if places is not None:
            number = quantize(number, places, ROUND_HALF_UP)
        text = f"{number:,f}"
        return text.replace(",", "\0").replace(".", mark).replace("\0", sep)

    return format_number


def _num_kind(consts: Mapping[str, object]) -> FieldType:
    return FieldType.INTEGER if consts.get("scale") == 0 else FieldType.DECIMAL


_NUMERIC = frozenset(
    {FieldType.INTEGER, FieldType.DECIMAL, FieldType.STRING, FieldType.TEXT, FieldType.UNKNOWN}
)
_LISTS = frozenset({FieldType.LINES, FieldType.UNKNOWN})
_R = Param("rounding", "half_up", const=True)

FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        "number",
        "numbers",
        "Read a number (thousand separators, full-width digits, ¥/元 marks); round if scale.",
        (
            Param("value", kinds=_NUMERIC),
            Param("scale", None, const=True),
            _R,
            Param("decimal", ".", const=True),
        ),
        _num_kind,
        _build_number,
        (
            Example('number("1,234.50")', "1234.50"),
            Example('number("１２３４．５")', "1234.5"),
            Example('number("(1,200)")', "-1200"),
            Example('number("1.234,5", decimal=",")', "1234.5"),
            Example('number("2.675", scale=2)', "2.68"),
            Example('number("2.5", scale=0, rounding="half_even")', "2"),
        ),
        notes="Rounding names: " + ", ".join(f"`{k}`" for k in ROUNDING) + ".",
    ),
    FunctionSpec(
        "integer",
        "numbers",
        "A whole number, rounded (half_up by default).",
        (Param("value", kinds=_NUMERIC), _R),
        FieldType.INTEGER,
        _build_integer,
        (Example('integer("12.5")', "13"), Example('integer("12.5", rounding="down")', "12")),
    ),
    FunctionSpec(
        "round",
        "numbers",
        "Round to `scale` decimal places (0 gives a whole number).",
        (Param("value", kinds=_NUMERIC), Param("scale", 0, const=True), _R),
        _num_kind,
        _build_round,
        (Example("round(2.345, 2)", "2.35"), Example('round(2.345, 2, rounding="down")', "2.34")),
    ),
    FunctionSpec(
        "abs",
        "numbers",
        "The absolute value.",
        (Param("value", kinds=_NUMERIC),),
        FieldType.DECIMAL,
        _build_abs,
        (Example("abs(-3)", "3"),),
    ),
    FunctionSpec(
        "min",
        "numbers",
        "The smallest of the values (or of one list); nulls are skipped.",
        (Param("values", variadic=True),),
        FieldType.DECIMAL,
        lambda: _build_extreme("min"),
        (Example('min(3, "2.5", null)', "2.5"),),
        null_passes=False,
    ),
    FunctionSpec(
        "max",
        "numbers",
        "The largest of the values (or of one list); nulls are skipped.",
        (Param("values", variadic=True),),
        FieldType.DECIMAL,
        lambda: _build_extreme("max"),
        (Example("max([1, 7, 3])", "7"),),
        null_passes=False,
    ),
    FunctionSpec(
        "sum",
        "numbers",
        "The total of a list of numbers, e.g. `sum(each(source.Lines, .Amount))`.",
        (Param("values", kinds=_LISTS),),
        FieldType.DECIMAL,
        _build_sum,
        (Example('sum([1, "2.50", null])', "3.50"),),
    ),
    FunctionSpec(
        "count",
        "numbers",
        "How many non-null values a list holds.",
        (Param("values", kinds=_LISTS),),
        FieldType.INTEGER,
        _build_count,
        (Example("count([1, null, 3])", "2"),),
    ),
    FunctionSpec(
        "format_number",
        "numbers",
        "Number as text with thousand separators, e.g. for a report field.",
        (
            Param("value", kinds=_NUMERIC),
            Param("scale", 2, const=True),
            Param("thousands", ",", const=True),
            Param("decimal", ".", const=True),
        ),
        FieldType.STRING,
        _build_format_number,
        (
            Example("format_number(1234567.891)", '"1,234,567.89"'),
            Example('format_number(1234.5, thousands=".", decimal=",")', '"1.234,50"'),
        ),
    ),
)
