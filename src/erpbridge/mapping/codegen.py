"""A fast path for ``apply``: the compiled closures flattened into one generated function.

The closures stay the reference: preview, error reporting and every rule the generator
does not flatten run them. For the common shapes (field reads, built-in calls, xref and
table lookups, operators, ``each`` over dict lines) the generator writes one Python
function that does the same work with far fewer calls.

What makes generated code safe here: the source text is built only from names this
module makes up (``_s``, ``_x``, ``_k12``, ``_f3``, ``_t7``, ``_l2``), Python operators and
keywords. Every value that came from the user (field names, literals, table contents,
compiled closures, built-in implementations) is bound in the namespace under such a name
and never written into the text. The namespace has no builtins.

Whenever the fast function raises anything, ``apply`` runs the closures instead, so the
error raised is exactly the closure path's (same message, field and value), and so is
any result (the two paths are compared by property tests).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from erpbridge.mapping.functions.core import is_blank
from erpbridge.mapping.types import MAX_LINES_PER_LIST, Record, XrefMap

if TYPE_CHECKING:
    from erpbridge.mapping.nodes import Compiled, Emit
    from erpbridge.mapping.rules import FieldPlan

__all__ = [
    "MISSING",
    "Emitter",
    "FastApply",
    "build_fast_apply",
    "emit_apply",
    "emit_bool",
    "emit_call",
    "emit_choice",
    "emit_coalesce",
    "emit_each",
    "emit_field",
    "emit_list",
    "emit_lookup",
    "emit_not",
    "emit_record",
]

#: the generated ``apply``: (source, xrefs) -> target record.
FastApply = Callable[[Record, XrefMap], dict[str, object]]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: what ``.get`` gives for an absent key in generated code.
MISSING = _Missing()
_SCALARS = (type(None), bool, int, str, Decimal)
_MAX_SOURCE_CHARS = 200_000  # a generated function beyond this is not worth compiling


def _bad_line() -> bool:
    raise TypeError("a line is not a record")  # the closure path names the line


class Emitter:
    """Writes Python source for compiled nodes and keeps the namespace it refers to."""

    def __init__(self) -> None:
        self.namespace: dict[str, object] = {
            "_M": MISSING,
            "_type": type,
            "_list": list,
            "_dict": dict,
            "_str": str,
            "_len": len,
            "_bad": _bad_line,
            "_MAXL": MAX_LINES_PER_LIST,
        }
        self._count = 0

    def bind(self, value: object, prefix: str = "_k") -> str:
        """A fresh name for ``value`` in the namespace."""
        self._count += 1
        name = f"{prefix}{self._count}"
        self.namespace[name] = value
        return name

    def temp(self) -> str:
        """A fresh local variable name (for ``:=``)."""
        self._count += 1
        return f"_t{self._count}"

    def line_var(self) -> str:
        """A fresh name for the current line inside a comprehension."""
        self._count += 1
        return f"_l{self._count}"

    def code(self, compiled: Compiled, line: str) -> str:
        """Source for one compiled node; ``line`` names the current line (or ``None``)."""
        if compiled.emit is not None:
            return compiled.emit(self, line)
        if compiled.is_const and type(compiled.const) in _SCALARS:
            return self.bind(compiled.const)
        return f"{self.bind(compiled.fn, '_f')}(_s, {line}, _x)"


def build_fast_apply(flow: str, plans: Sequence[FieldPlan]) -> FastApply | None:
    """One generated function for the whole record, or None when not worth it.

    None when a field has a ``when:`` (it may be left out) or nothing could be flattened.
    """
    if not plans or any(p.conditional for p in plans):
        return None
    emitter = Emitter()
    parts: list[str] = []
    flattened = 0
    for plan in plans:
        key = emitter.bind(plan.name)
        if plan.compiled is not None:
            flattened += plan.compiled.emit is not None
            parts.append(f"{key}: {emitter.code(plan.compiled, 'None')}")
        else:
            parts.append(f"{key}: {emitter.bind(plan.fn, '_f')}(_s, None, _x)")
    if not flattened:
        return None
    source = "def _apply(_s, _x):\n    return {" + ", ".join(parts) + "}\n"
    if len(source) > _MAX_SOURCE_CHARS:
        return None
    namespace: dict[str, object] = {"__builtins__": {}, **emitter.namespace}
    try:
        code = compile(source, f"<mapping {flow}>", "exec")
        exec(code, namespace)  # noqa: S102  # our own text: names we made up, no user text
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return None  # the closures still work; only the fast path is lost
    fast = namespace["_apply"]
    return fast if callable(fast) else None


# -- emitters for the node kinds the fast path flattens ---------------------------------


def emit_field(fn: object, from_line: bool, key: str) -> Emit:
    """``source.X`` / ``.X``: a dict read; an absent key falls back to the full reader."""

    def emit(e: Emitter, line: str) -> str:
        f, k, t = e.bind(fn, "_f"), e.bind(key), e.temp()
        base = line if from_line else "_s"
        return f"({t} if ({t} := {base}.get({k}, _M)) is not _M else {f}(_s, {line}, _x))"

    return emit


def emit_apply(fn: object, parts: Sequence[Compiled]) -> Emit:
    """``fn(a, b, ...)`` over the parts' values (operators, comparisons)."""

    def emit(e: Emitter, line: str) -> str:
        args = ", ".join(e.code(p, line) for p in parts)
        return f"{e.bind(fn, '_o')}({args})"

    return emit


def emit_call(impl: object, parts: Sequence[Compiled], null_passes: bool) -> Emit:
    """A built-in's impl on one or two arguments; a null first argument gives null."""

    def emit(e: Emitter, line: str) -> str:
        i, first = e.bind(impl, "_i"), e.code(parts[0], line)
        rest = "".join(f", {e.code(p, line)}" for p in parts[1:])
        if not null_passes:
            return f"{i}({first}{rest})"
        t = e.temp()
        return f"(None if ({t} := {first}) is None else {i}({t}{rest}))"

    return emit


def emit_bool(op: str, parts: Sequence[Compiled]) -> Emit:
    """``and`` / ``or`` giving true or false, short-circuited like the closures."""

    def emit(e: Emitter, line: str) -> str:
        joined = f" {op} ".join(f"({e.code(p, line)})" for p in parts)
        return f"(True if {joined} else False)"

    return emit


def emit_not(part: Compiled) -> Emit:
    """``not x``."""
    return lambda e, line: f"(not ({e.code(part, line)}))"


def emit_choice(test: Compiled, body: Compiled, orelse: Compiled) -> Emit:
    """``a if test else b``."""

    def emit(e: Emitter, line: str) -> str:
        return f"(({e.code(body, line)}) if ({e.code(test, line)}) else ({e.code(orelse, line)}))"

    return emit


def emit_list(parts: Sequence[Compiled]) -> Emit:
    """``[a, b]``."""
    return lambda e, line: "[" + ", ".join(e.code(p, line) for p in parts) + "]"


def emit_record(keys: Sequence[str], parts: Sequence[Compiled]) -> Emit:
    """``{Field: a, ...}``."""

    def emit(e: Emitter, line: str) -> str:
        items = ", ".join(
            f"{e.bind(k)}: {e.code(p, line)}" for k, p in zip(keys, parts, strict=True)
        )
        return "{" + items + "}"

    return emit


def emit_lookup(entity_or_values: object, arg: Compiled, fallback: object, xref: bool) -> Emit:
    """An xref or a value-table lookup by a text key; anything else falls back."""

    def emit(e: Emitter, line: str) -> str:
        f, t, r = e.bind(fallback, "_f"), e.temp(), e.temp()
        key = e.code(arg, line)
        if xref:
            found = f"({r} := _x.get(({e.bind(entity_or_values)}, {t}))) is not None"
        else:
            found = f"({r} := {e.bind(entity_or_values, '_v')}.get({t}, _M)) is not _M"
        return f"({r} if _type({t} := {key}) is _str and {found} else {f}(_s, {line}, _x))"

    return emit


def emit_coalesce(parts: Sequence[Compiled], *, last_is_fallback: bool = False) -> Emit:
    """``coalesce(a, b, ...)``: the first value that is not blank, else null.

    With ``last_is_fallback`` (``default(a, b)``) the last part is given as it is.
    """

    def emit(e: Emitter, line: str) -> str:
        blank = e.bind(is_blank, "_o")
        tail = "None" if not last_is_fallback else f"({e.code(parts[-1], line)})"
        tried = parts if not last_is_fallback else parts[:-1]
        out = tail
        for part in reversed(tried):
            t = e.temp()
            out = f"({t} if not {blank}({t} := {e.code(part, line)}) else {out})"
        return out

    return emit


def emit_each(fn: object, lines: Compiled, item: Compiled, when: Compiled | None) -> Emit:
    """``each``: a list comprehension over dict lines; anything unusual falls back."""

    def emit(e: Emitter, line: str) -> str:
        f, t, lv = e.bind(fn, "_f"), e.temp(), e.line_var()
        source = e.code(lines, line)
        keep = f"(_type({lv}) is _dict or _bad())"
        if when is not None:
            keep += f" and ({e.code(when, lv)})"
        walk = f"[{e.code(item, lv)} for {lv} in {t} if {keep}]"
        ok = f"_type({t} := {source}) is _list and _len({t}) <= _MAXL"
        return f"({walk} if {ok} else {f}(_s, {line}, _x))"

    return emit
