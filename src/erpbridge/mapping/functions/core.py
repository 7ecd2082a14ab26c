"""Core functions: nulls and defaults, required values, concat, lists, inline lookups.

``each``, ``coalesce``, ``default``, ``exists``, ``is_blank`` and ``table`` are *special
forms*: the compiler evaluates their arguments itself (lazily, and with a field that is
absent from the record read as null instead of an error), so they have no builder here.
"""

from __future__ import annotations

from collections.abc import Mapping

from erpbridge.mapping.functions._base import (
    Example,
    FunctionError,
    FunctionSpec,
    Impl,
    Param,
    brief,
)
from erpbridge.mapping.functions.strings import text_of
from erpbridge.spi.schema import FieldType

__all__ = ["FUNCTIONS", "SPECIAL_FORMS", "is_blank"]

_TRUE = frozenset({"true", "yes", "y", "1", "t", "on", "是", "对", "真", "有", "启用", "√"})
_FALSE = frozenset({"false", "no", "n", "0", "f", "off", "否", "错", "假", "无", "禁用", "×", ""})


def is_blank(value: object) -> bool:
    """Null, an empty or white-space-only text, or an empty list."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, list | tuple) and not value


def _build_required(message: object) -> Impl:
    if message is not None and not isinstance(message, str):
        raise ValueError("message must be text")

    def required(value: object) -> object:
        if is_blank(value):
            raise FunctionError(str(message) if message else "a value is required but is empty")
        return value

    return required


def _build_concat(sep: object) -> Impl:
    if not isinstance(sep, str):
        raise ValueError("sep must be text")

    def concat(values: tuple[object, ...]) -> str:
        return sep.join(text_of(v) for v in values if v is not None and v != "")

    return concat


def _build_bool() -> Impl:
    def bool_(value: object) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value != 0
        key = text_of(value).strip().lower()
        if key in _TRUE:
            return True
        if key in _FALSE:
            return False
        raise FunctionError(f"{brief(value)} is not a yes/no value")

    return bool_


def _build_pick(index: int) -> Impl:
    def pick(values: object) -> object:
        if not isinstance(values, list | tuple):
            raise FunctionError(f"{brief(values)} is not a list")
        return values[index] if values else None

    return pick


def _build_lookup(table: object, default: object) -> Impl:
    if not isinstance(table, Mapping):
        raise ValueError('lookup() needs an inline table: lookup(x, {"A": "1", "B": "2"})')
    values = {text_of(k): v for k, v in table.items()}

    def lookup(key: object) -> object:
        return values.get(key if type(key) is str else text_of(key), default)

    return lookup


_ANY = Param("value")

#: special forms: documented here, compiled by the compiler itself.
SPECIAL_FORMS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        "each",
        "core",
        "Map every line of a list: `.Field` is a field of the current line.",
        (Param("lines"), Param("item"), Param("when", None)),
        FieldType.LINES,
        None,
        (
            Example(
                "each(source.OrderItems, {Material: .Product2Id, Qty: number(.Quantity)})",
                '[{Material: "01tA1", Qty: 2}, {Material: "01tB2", Qty: 1.5}]',
            ),
            Example("each(source.OrderItems, .Quantity, when=.Quantity >= 2)", "[2]"),
        ),
        notes=(
            "A null list gives an empty list. `when=` keeps only the lines for which it is "
            "true. The item may be a `{Field: expression}` record (target lines) or any "
            "expression (a list of values, e.g. for `sum()`). Inside, `source` is still the "
            "whole record."
        ),
    ),
    FunctionSpec(
        "coalesce",
        "core",
        "The first value that is not blank (null or empty text); absent fields count as null.",
        (Param("values", variadic=True),),
        FieldType.UNKNOWN,
        None,
        (Example('coalesce(source.MobilePhone, source.Phone, "n/a")', '"021-6888 1234"'),),
    ),
    FunctionSpec(
        "default",
        "core",
        "`value`, or `fallback` when it is blank or absent from the record.",
        (_ANY, Param("fallback")),
        FieldType.UNKNOWN,
        None,
        (Example('default(source.Fax, "-")', '"-"'),),
    ),
    FunctionSpec(
        "exists",
        "core",
        "True when the record has the field and it is not null.",
        (_ANY,),
        FieldType.BOOLEAN,
        None,
        (Example("exists(source.Fax)", "false"), Example("exists(source.Name)", "true")),
    ),
    FunctionSpec(
        "is_blank",
        "core",
        "True when the value is null, absent, empty or white space only.",
        (_ANY,),
        FieldType.BOOLEAN,
        None,
        (Example('is_blank("  ")', "true"),),
    ),
    FunctionSpec(
        "table",
        "core",
        "Look `key` up in a value table of the project (inline or CSV).",
        (
            Param("name", const=True),
            Param("key"),
            Param("default", None, const=True),
            Param("reverse", False, const=True),
        ),
        FieldType.STRING,
        None,
        (
            Example('table("sales_org", "East")', '"1010"'),
            Example('table("sales_org", "North", default="1000")', '"1000"'),
            Example('table("sales_org", "1020", reverse=true)', '"South"'),
        ),
        notes=(
            "When the key is not in the table: the call's `default=`, else the table's "
            "`default`, else null; a `strict` table makes an unknown key an error instead "
            "(and refuses defaults). `reverse=true` looks a value up to find its key (the "
            "table's values must then be unique). A null key gives null."
        ),
    ),
)

FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        "required",
        "core",
        "The value, or an error (job to dead letters) when it is blank.",
        (_ANY, Param("message", None, const=True)),
        FieldType.UNKNOWN,
        _build_required,
        (Example("required(source.Name)", '"上海示例贸易有限公司"'),),
        null_passes=False,
    ),
    FunctionSpec(
        "concat",
        "core",
        "Join values as text, skipping nulls and empty texts; `sep` goes between them.",
        (Param("values", variadic=True), Param("sep", "", const=True)),
        FieldType.STRING,
        _build_concat,
        (
            Example('concat("SO-", 42)', '"SO-42"'),
            Example('concat("上海", null, "浦东", sep=" ")', '"上海 浦东"'),
        ),
        null_passes=False,
    ),
    FunctionSpec(
        "bool",
        "core",
        "A yes/no value: true/false, yes/no, y/n, 1/0, 是/否, 启用/禁用 …",
        (_ANY,),
        FieldType.BOOLEAN,
        _build_bool,
        (Example('bool("是")', "true"), Example('bool("N")', "false")),
    ),
    FunctionSpec(
        "first",
        "core",
        "The first element of a list, or null when empty.",
        (_ANY,),
        FieldType.UNKNOWN,
        lambda: _build_pick(0),
        (Example("first([3, 4])", "3"),),
    ),
    FunctionSpec(
        "last",
        "core",
        "The last element of a list, or null when empty.",
        (_ANY,),
        FieldType.UNKNOWN,
        lambda: _build_pick(-1),
        (Example("last([3, 4])", "4"),),
    ),
    FunctionSpec(
        "lookup",
        "core",
        "Look `key` up in an inline table literal; `default` when absent.",
        (Param("key"), Param("table", const=True), Param("default", None, const=True)),
        FieldType.UNKNOWN,
        _build_lookup,
        (Example('lookup("Hot", {"Hot": "A", "Warm": "B"}, default="C")', '"A"'),),
        notes="For tables shared by several flows or kept in CSV, use `table()`.",
    ),
)
