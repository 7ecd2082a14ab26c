"""What compiling one node yields, and the context expressions compile in.

A :class:`Compiled` holds the node's evaluator ``(source, line, xrefs) -> value``, its
static kind, its value when it is a literal (so calls on literals fold at load time) and
the collectors that list its xref lookups.
"""

from __future__ import annotations

import ast
import copy
import difflib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from erpbridge.mapping.aliases import Aliases
from erpbridge.mapping.functions import FunctionSpec
from erpbridge.mapping.tables import ValueTable
from erpbridge.mapping.types import Evaluator, Record, XrefMap
from erpbridge.spi.schema import FieldType

if TYPE_CHECKING:
    from erpbridge.mapping.codegen import Emitter

__all__ = [
    "EMPTY_XREFS",
    "NOT_CONST",
    "RUNTIME_ERRORS",
    "Collector",
    "Compiled",
    "Emit",
    "Environment",
    "ExpressionCompileError",
    "PathRef",
    "constant",
    "did_you_mean",
    "gather",
    "kind_of",
    "tuple_of",
]

#: collects (entity, source id) pairs: (source, line, out set) -> None.
Collector = Callable[[Record, "Record | None", set[tuple[str, str]]], None]
#: writes a node as Python source: (emitter, name of the current line variable) -> source.
Emit = Callable[["Emitter", str], str]
#: marks a Compiled that is not a literal.
NOT_CONST = object()
#: no xrefs (the flow filter, folding, collectors).
EMPTY_XREFS: XrefMap = {}
#: exceptions a built-in or an operator may raise on a strange value; turned into
#: FieldMappingError naming the field, never let out of apply().
RUNTIME_ERRORS = (TypeError, ValueError, ArithmeticError, LookupError, RecursionError)


class ExpressionCompileError(Exception):
    """Internal: one expression cannot compile; ``node`` says where."""

    def __init__(self, message: str, node: ast.AST | None = None, severity: str = "error"):
        super().__init__(message)
        self.message = message
        self.node = node


@dataclass(frozen=True, slots=True)
class PathRef:
    """A field path an expression reads, kept for ``validate`` against a schema.

    Attributes:
        root: ``source``, ``line`` (``.Field`` inside ``each``) or ``scope`` (a path
            whose first step is one of the environment's ``roots``).
        steps: field names and list indexes after the root.
        origin: for ``line``, the path of the list ``each`` walks (None if not a path).
        offset: where the path starts in the expression text.
    """

    root: str
    steps: tuple[str | int, ...]
    origin: PathRef | None
    offset: int

    def text(self) -> str:
        """``source.Account.Name`` / ``.Quantity``."""
        out = "source" if self.root == "source" else ""
        steps = self.steps
        if self.root == "scope" and steps:  # related.account.X: the first step is the root
            out, steps = str(steps[0]), steps[1:]
        for step in steps:
            out += f"[{step}]" if isinstance(step, int) else f".{step}"
        return out


@dataclass(slots=True)
class Environment:
    """What an expression may refer to, shared by all expressions of one mapping."""

    functions: Mapping[str, FunctionSpec]
    tables: Mapping[str, ValueTable]
    aliases: Aliases
    clock: Callable[[], datetime]
    xref_entities: Collection[str] | None = None
    xref_key_entities: Collection[str] | None = None
    xref_key_fields: Mapping[str, Collection[str]] | None = None
    entities_used: set[str] = field(default_factory=set)
    #: names read from a scope record instead of the source (``source``, ``related``,
    #: ``hold`` in a flow's ``hold:`` expressions, see :mod:`erpbridge.mapping.scoped`);
    #: empty for a ``map:``, whose expressions read the source record itself.
    roots: frozenset[str] = frozenset()
    #: (entity, key field) of every ``xref.<entity>(value, by=...)``
    key_lookups: set[tuple[str, str]] = field(default_factory=set)
    #: lookup name -> what its lookups do without a pair (``wait``, ``null``, ``skip``)
    lookup_modes: dict[str, set[str]] = field(default_factory=dict)
    #: how many lookups say ``missing="skip"`` (each() compares it before and after)
    skip_lookups: int = 0


@dataclass(slots=True)
class Compiled:
    """The result of compiling one node."""

    fn: Evaluator
    kind: FieldType = FieldType.UNKNOWN
    const: object = NOT_CONST
    collectors: tuple[Collector, ...] = ()
    #: for ``source.X`` / ``.X``: (reads the line, key), so a call can read it inline
    field: tuple[bool, str] | None = None
    #: writes this node as Python source for the fast path (codegen.py); None: call fn
    emit: Emit | None = None

    @property
    def is_const(self) -> bool:
        return self.const is not NOT_CONST


def constant(value: object, kind: FieldType | None = None) -> Compiled:
    if isinstance(value, list | dict | tuple):
        # every record gets its own copy: a connector may change what it is given
        def const_copy(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
            return copy.deepcopy(value)

        return Compiled(const_copy, kind or kind_of(value), value)

    def const(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
        return value

    return Compiled(const, kind or kind_of(value), value)


def kind_of(value: object) -> FieldType:
    if isinstance(value, bool):
        return FieldType.BOOLEAN
    if isinstance(value, int):
        return FieldType.INTEGER
    if isinstance(value, Decimal):
        return FieldType.DECIMAL
    if isinstance(value, str):
        return FieldType.STRING
    if isinstance(value, list):
        return FieldType.LINES
    if isinstance(value, dict):
        return FieldType.OBJECT
    return FieldType.UNKNOWN


def did_you_mean(name: str, choices: Collection[str]) -> str:
    """``; did you mean 'x'?`` or an empty string."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def gather(parts: Sequence[Compiled]) -> tuple[Collector, ...]:
    return tuple(c for p in parts for c in p.collectors)


def tuple_of(parts: Sequence[Compiled]) -> Compiled:
    fns = [p.fn for p in parts]
    if all(p.is_const for p in parts):
        return constant(tuple(p.const for p in parts), FieldType.LINES)

    def make(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
        return tuple(f(s, l, x) for f in fns)

    return Compiled(make, FieldType.LINES, collectors=gather(parts))
