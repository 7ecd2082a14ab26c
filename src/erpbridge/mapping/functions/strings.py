"""Strings: trim, case, pad, split/join, full-width ↔ half-width, regex replace and match.

Regular expressions must be literals: they are compiled once at load, at most
``MAX_PATTERN_CHARS`` long, refused when they nest repetition (``(a+)+``, the classic
catastrophic backtracking shape), and never run on text longer than ``MAX_TEXT_CHARS``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, time
from decimal import Decimal

from erpbridge.mapping.functions._base import (
    Example,
    FunctionError,
    FunctionSpec,
    Impl,
    Param,
    brief,
)
from erpbridge.mapping.types import MAX_PATTERN_CHARS, MAX_TEXT_CHARS
from erpbridge.spi.schema import FieldType

__all__ = ["FUNCTIONS", "compile_regex", "fullwidth", "halfwidth", "text_of"]

_TO_HALF = {0x3000: 0x20, **{c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}}
_TO_FULL = {0x20: 0x3000, **{c: c + 0xFEE0 for c in range(0x21, 0x7F)}}
_NESTED_REPEAT = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)\s*[+*{]")


def halfwidth(text: str) -> str:
    """Full-width ASCII forms (ＡＢＣ１２３，) and the ideographic space as ASCII."""
    return text.translate(_TO_HALF)


def fullwidth(text: str) -> str:
    """ASCII letters, digits, punctuation and space as their full-width forms."""
    return text.translate(_TO_FULL)


def text_of(value: object) -> str:
    """A value as text: numbers without exponent, dates in ISO 8601, booleans true/false."""
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, Decimal):
        if not value.is_finite() or abs(value.adjusted()) > 100:
            raise FunctionError(f"{brief(value)} is not a usable number")
        return format(value, "f")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, date | time):
        return value.isoformat()
    raise FunctionError(f"{brief(value)} cannot be made into text")


def compile_regex(pattern: object) -> re.Pattern[str]:
    """Compile a literal pattern under the length and shape limits; ValueError if refused."""
    if not isinstance(pattern, str):
        raise ValueError("a regular expression must be a text literal")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ValueError(f"regular expression longer than {MAX_PATTERN_CHARS} characters")
    if _NESTED_REPEAT.search(pattern) or re.search(r"\\\d|\(\?[<=!]", pattern):
        raise ValueError(
            "regular expression refused: nested repetition, back-references and look-around "
            "can run for a very long time"
        )
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"bad regular expression: {exc}") from None


def _bounded(value: object) -> str:
    text = text_of(value)
    if len(text) > MAX_TEXT_CHARS:
        raise FunctionError(f"text of {len(text)} characters is too long (max {MAX_TEXT_CHARS})")
    return text


def _build_upper() -> Impl:
    return lambda v: (v if type(v) is str else text_of(v)).upper()


def _build_lower() -> Impl:
    return lambda v: (v if type(v) is str else text_of(v)).lower()


def _build_trim(chars: object) -> Impl:
    if chars is not None and not isinstance(chars, str):
        raise ValueError("chars must be text")
    strip_chars = None if chars is None else str(chars)

    def trim(value: object) -> str:
        return (value if type(value) is str else text_of(value)).strip(strip_chars)

    return trim


def _width(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1000:
        raise ValueError(f"width must be a whole number from 0 to 1000, not {value!r}")
    return value


def _build_pad(side: str) -> Callable[..., Impl]:
    def build(width: object, fill: object) -> Impl:
        size = _width(width)
        if not isinstance(fill, str) or len(fill) != 1:
            raise ValueError("fill must be one character")
        if side == "left":
            return lambda v: text_of(v).rjust(size, fill)
        return lambda v: text_of(v).ljust(size, fill)

    return build


def _build_truncate(length: object) -> Impl:
    size = _width(length)
    return lambda v: text_of(v)[:size]


def _build_substr(start: object, length: object) -> Impl:
    first = _width(start)
    size = None if length is None else _width(length)
    end = None if size is None else first + size
    return lambda v: text_of(v)[first:end]


def _build_left() -> Impl:
    def left(value: object, n: object) -> str:
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise FunctionError(f"{brief(n)} is not a length", 1)
        return text_of(value)[:n]

    return left


def _build_right() -> Impl:
    def right(value: object, n: object) -> str:
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise FunctionError(f"{brief(n)} is not a length", 1)
        return text_of(value)[-n:] if n else ""

    return right


def _build_split(sep: object) -> Impl:
    if not isinstance(sep, str) or not sep:
        raise ValueError("sep must be non-empty text")
    return lambda v: [part.strip() for part in _bounded(v).split(sep)]


def _build_join(sep: object) -> Impl:
    if not isinstance(sep, str):
        raise ValueError("sep must be text")

    def join(values: object) -> str:
        if not isinstance(values, list | tuple):
            raise FunctionError(f"{brief(values)} is not a list")
        return sep.join(text_of(v) for v in values if v is not None)

    return join


def _build_replace(pattern: object, replacement: object, literal: object) -> Impl:
    if not isinstance(replacement, str):
        raise ValueError("replacement must be text")
    if literal is True:
        if not isinstance(pattern, str) or not pattern:
            raise ValueError("pattern must be non-empty text")
        return lambda v: _bounded(v).replace(pattern, replacement)
    regex = compile_regex(pattern)
    try:
        regex.sub(replacement, "")  # bad group references fail here, at load
    except (re.error, IndexError) as exc:
        raise ValueError(f"bad replacement: {exc}") from None
    return lambda v: regex.sub(replacement, _bounded(v))


def _build_matches(pattern: object) -> Impl:
    regex = compile_regex(pattern)
    return lambda v: regex.fullmatch(_bounded(v)) is not None


def _build_extract(pattern: object, group: object) -> Impl:
    regex = compile_regex(pattern)
    if isinstance(group, bool) or not isinstance(group, int) or not 0 <= group <= regex.groups:
        raise ValueError(f"group must be 0..{regex.groups}")

    def extract(value: object) -> object:
        m = regex.search(_bounded(value))
        return None if m is None else m.group(group)

    return extract


def _build_test(method: str) -> Impl:
    def test(value: object, part: object) -> bool:
        if part is None:
            return False
        return bool(getattr(text_of(value), method)(text_of(part)))

    return test


def _build_contains() -> Impl:
    def contains(value: object, part: object) -> bool:
        if part is None:
            return False
        if isinstance(value, list | tuple):
            return part in value
        return text_of(part) in text_of(value)

    return contains


def _build_len() -> Impl:
    def len_(value: object) -> int:
        if isinstance(value, list | tuple | Mapping):
            return len(value)
        return len(text_of(value))

    return len_


_S = FieldType.STRING
_TEXT = Param("value")

FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec("text", "strings", "Any value as text (numbers without exponent, ISO dates).",
                 (_TEXT,), _S, lambda: text_of,
                 (Example("text(12.50)", '"12.50"'), Example("text(true)", '"true"'))),
    FunctionSpec("trim", "strings", "Remove spaces (or the given `chars`) at both ends.",
                 (_TEXT, Param("chars", None, const=True)), _S, _build_trim,
                 (Example('trim("  ACME  ")', '"ACME"'), Example('trim("--A1--", "-")', '"A1"'))),
    FunctionSpec("upper", "strings", "Upper case.", (_TEXT,), _S, _build_upper,
                 (Example('upper("acme")', '"ACME"'),)),
    FunctionSpec("lower", "strings", "Lower case.", (_TEXT,), _S, _build_lower,
                 (Example('lower("ACME")', '"acme"'),)),
    FunctionSpec("normalize_space", "strings",
                 "Collapse runs of white space (full-width spaces too) to one space and trim.",
                 (_TEXT,), _S, lambda: lambda v: " ".join(halfwidth(text_of(v)).split()),
                 (Example('normalize_space(" 上海　 浦东 ")', '"上海 浦东"'),)),
    FunctionSpec("pad_left", "strings", "Pad on the left to `width` with `fill` (default 0).",
                 (_TEXT, Param("width", const=True), Param("fill", "0", const=True)), _S,
                 _build_pad("left"), (Example("pad_left(42, 6)", '"000042"'),)),
    FunctionSpec("pad_right", "strings", "Pad on the right to `width` with `fill` (default space).",
                 (_TEXT, Param("width", const=True), Param("fill", " ", const=True)), _S,
                 _build_pad("right"), (Example('pad_right("A", 3, "_")', '"A__"'),)),
    FunctionSpec("truncate", "strings", "At most `length` characters (fit a target field).",
                 (_TEXT, Param("length", const=True)), _S, _build_truncate,
                 (Example('truncate("上海浦东新区张江路", 4)', '"上海浦东"'),)),
    FunctionSpec("substr", "strings", "`length` characters from `start` (0-based).",
                 (_TEXT, Param("start", const=True), Param("length", None, const=True)), _S,
                 _build_substr, (Example('substr("SO-2024-001", 3, 4)', '"2024"'),)),
    FunctionSpec("left", "strings", "The first `n` characters.", (_TEXT, Param("n")), _S,
                 _build_left, (Example('left("91350100M000100Y43", 2)', '"91"'),)),
    FunctionSpec("right", "strings", "The last `n` characters.", (_TEXT, Param("n")), _S,
                 _build_right, (Example('right("13812345678", 4)', '"5678"'),)),
    FunctionSpec("split", "strings", "Split text on `sep` into a list of trimmed parts.",
                 (_TEXT, Param("sep", ",", const=True)), FieldType.LINES, _build_split,
                 (Example('split("a, b,c")', '["a", "b", "c"]'),)),
    FunctionSpec("join", "strings", "Join a list's non-null values with `sep`.",
                 (Param("values"), Param("sep", ",", const=True)), _S, _build_join,
                 (Example('join(["a", null, "b"], "/")', '"a/b"'),)),
    FunctionSpec("halfwidth", "strings", "Full-width letters, digits and punctuation as ASCII.",
                 (_TEXT,), _S, lambda: lambda v: halfwidth(text_of(v)),
                 (Example('halfwidth("ＡＢＣ１２３，")', '"ABC123,"'),)),
    FunctionSpec("fullwidth", "strings", "ASCII as full-width forms (for systems that want them).",
                 (_TEXT,), _S, lambda: lambda v: fullwidth(text_of(v)),
                 (Example('fullwidth("A1")', '"Ａ１"'),)),
    FunctionSpec("replace", "strings",
                 "Replace every match of a regular expression (or plain text with literal=true).",
                 (_TEXT, Param("pattern", const=True), Param("replacement", const=True),
                  Param("literal", False, const=True)), _S, _build_replace,
                 (Example(r'replace("138-1234-5678", "\\D", "")', '"13812345678"'),
                  Example('replace("a.b", ".", "-", literal=true)', '"a-b"'),
                  Example(r'replace("2024/3/5", "(\\d+)/(\\d+)/(\\d+)", "\\1-\\2-\\3")',
                          '"2024-3-5"'))),
    FunctionSpec("matches", "strings", "True when the whole text matches a regular expression.",
                 (_TEXT, Param("pattern", const=True)), FieldType.BOOLEAN, _build_matches,
                 (Example(r'matches("SO-001", "SO-\\d+")', "true"),)),
    FunctionSpec("extract", "strings",
                 "The first match of a regular expression (group `group`, default 1), or null.",
                 (_TEXT, Param("pattern", const=True), Param("group", 1, const=True)), _S,
                 _build_extract, (Example(r'extract("PO 4500012 / A", "(\\d+)")', '"4500012"'),)),
    FunctionSpec("contains", "strings", "True when text (or a list) contains `part`.",
                 (_TEXT, Param("part")), FieldType.BOOLEAN, _build_contains,
                 (Example('contains("上海分公司", "上海")', "true"),)),
    FunctionSpec("starts_with", "strings", "True when text starts with `part`.",
                 (_TEXT, Param("part")), FieldType.BOOLEAN, lambda: _build_test("startswith"),
                 (Example('starts_with("SO-001", "SO-")', "true"),)),
    FunctionSpec("ends_with", "strings", "True when text ends with `part`.",
                 (_TEXT, Param("part")), FieldType.BOOLEAN, lambda: _build_test("endswith"),
                 (Example('ends_with("report.pdf", ".pdf")', "true"),)),
    FunctionSpec("len", "strings", "Length of a text (characters) or of a list.",
                 (_TEXT,), FieldType.INTEGER, _build_len,
                 (Example('len("客户")', "2"), Example("len([1, 2, 3])", "3"))),
)  # fmt: skip
