"""The built-in functions of the mapping language, by category.

:func:`builtin_functions` assembles the registry on first use (no import-time side
effects); the compiler looks names up there and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from erpbridge.mapping.functions import core, dates, ids, money, numbers, strings, units
from erpbridge.mapping.functions._base import (
    REQUIRED,
    Example,
    FunctionError,
    FunctionSpec,
    Param,
    brief,
    show,
)

__all__ = [
    "CATEGORIES",
    "REQUIRED",
    "Example",
    "FunctionError",
    "FunctionSpec",
    "Param",
    "brief",
    "builtin_functions",
    "show",
]

#: docs order of the categories, with their headings.
CATEGORIES: Mapping[str, str] = {
    "core": "Core: nulls, defaults, lists, tables",
    "dates": "Dates, times and time zones",
    "money": "Money and currencies",
    "numbers": "Numbers and units",
    "strings": "Strings",
    "ids": "Phones, 统一社会信用代码, e-mail",
}


@cache
def builtin_functions() -> Mapping[str, FunctionSpec]:
    """Every built-in by name: special forms first, then each category's functions."""
    registry: dict[str, FunctionSpec] = {}
    for group in (
        core.SPECIAL_FORMS,
        core.FUNCTIONS,
        dates.FUNCTIONS,
        money.FUNCTIONS,
        numbers.FUNCTIONS,
        units.FUNCTIONS,
        strings.FUNCTIONS,
        ids.FUNCTIONS,
    ):
        for spec in group:
            if spec.name in registry:
                raise RuntimeError(f"built-in {spec.name!r} is defined twice")
            registry[spec.name] = spec
    return registry
