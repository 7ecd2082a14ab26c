"""How a built-in function is declared: parameters, a builder, a return kind, examples.

A built-in is *built* once per call site at compile time with its constant arguments
(``to="odata"``, ``scale=2``); the builder checks them (an unknown format is an error at
load, pointing at the argument) and returns a small function over the run-time values.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal

from erpbridge.mapping.errors import FieldMappingError
from erpbridge.spi.schema import FieldType

__all__ = [
    "REQUIRED",
    "Example",
    "FunctionError",
    "FunctionSpec",
    "Impl",
    "Param",
    "brief",
    "show",
]

#: the impl a builder returns: run-time argument values in parameter order -> result.
Impl = Callable[..., object]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: marks a parameter without a default.
REQUIRED: object = _Required()


class FunctionError(FieldMappingError):
    """A built-in refused a run-time value; ``arg`` is the index of the argument at fault."""

    def __init__(self, reason: str, arg: int = 0) -> None:
        super().__init__(reason)
        self.arg = arg


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a built-in.

    Attributes:
        name: its keyword (``to``, ``from``, ``scale``).
        default: the value when not given; ``REQUIRED`` when it must be given.
        const: must be a literal, checked and used at compile time.
        variadic: takes every remaining positional argument (a tuple at run time).
        kinds: static kinds it accepts, for ``validate``; None accepts anything.
    """

    name: str
    default: object = REQUIRED
    const: bool = False
    variadic: bool = False
    kinds: frozenset[FieldType] | None = None


@dataclass(frozen=True, slots=True)
class Example:
    """An example call for the docs; a test evaluates it and compares ``show(result)``."""

    expression: str
    result: str


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """A built-in function of the mapping language.

    Attributes:
        name: how expressions call it.
        category: the docs section (dates, money, numbers, strings, ids, core).
        summary: one line for the docs and for did-you-mean hints.
        params: the parameters in positional order.
        returns: the static kind of the result, or a function of the constant arguments.
        build: ``build(**consts) -> impl``; None for special forms the compiler handles.
        examples: calls with their results, shown in docs/mapping.md and tested.
        null_passes: a null first argument gives null without calling the impl.
        pure: same inputs give the same output (calls on literals fold at compile time).
        needs_clock: ``build`` also receives ``clock=`` (a zero-argument UTC now()).
        notes: extra text for the docs.
    """

    name: str
    category: str
    summary: str
    params: tuple[Param, ...]
    returns: FieldType | Callable[[Mapping[str, object]], FieldType]
    build: Callable[..., Impl] | None
    examples: tuple[Example, ...] = ()
    null_passes: bool = True
    pure: bool = True
    needs_clock: bool = False
    notes: str = ""
    aliases: tuple[str, ...] = field(default=())

    def signature(self) -> str:
        """``name(value, to="iso", from=null)`` as shown in the docs."""
        parts: list[str] = []
        for p in self.params:
            if p.variadic:
                parts.append(f"{p.name}...")
            elif p.default is REQUIRED:
                parts.append(p.name)
            else:
                parts.append(f"{p.name}={show(p.default)}")
        return f"{self.name}({', '.join(parts)})"

    def return_kind(self, consts: Mapping[str, object]) -> FieldType:
        """The static kind of a call with these constant arguments."""
        if isinstance(self.returns, FieldType):
            return self.returns
        return self.returns(consts)


def show(value: object) -> str:
    """A value as the language would write it: ``"text"``, ``12.50``, ``true``, ``null``."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Decimal):
        # fixed-point text of 1E+999999999 would be a billion characters
        return format(value, "f") if _is_modest(value) else str(value)
    if isinstance(value, int) and value.bit_length() > 256:
        return f"<{value.bit_length()}-bit number>"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime | date | time):
        return f"{type(value).__name__}({value.isoformat()})"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {show(v)}" for k, v in value.items()) + "}"
    return f"<{type(value).__name__}>"


def _is_modest(number: Decimal) -> bool:
    return number.is_finite() and abs(number.adjusted()) <= 100


def brief(value: object, limit: int = 60) -> str:
    """:func:`show`, cut to ``limit`` characters for error messages.

    Lists and records are shown to a small depth and length first, so a huge or deeply
    nested value never makes the message itself slow.
    """
    text = show(_clip(value, 3))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clip(value: object, depth: int) -> object:
    if isinstance(value, str):
        return value[:200]
    if isinstance(value, list | tuple):
        if depth <= 0:
            return ["…"] if value else []
        return [_clip(v, depth - 1) for v in value[:5]] + (["…"] if len(value) > 5 else [])
    if isinstance(value, Mapping):
        if depth <= 0:
            return {"…": "…"} if value else {}
        items = list(value.items())[:5]
        return {str(k)[:40]: _clip(v, depth - 1) for k, v in items}
    return value
