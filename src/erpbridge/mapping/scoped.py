"""Expressions over a scope record: several named records instead of one source.

A flow's ``hold:`` check (docs/engine.md, "Holds") reads the source record *and* records
fetched for the check: ``source.TotalAmount > related.account.Credit_Limit__c``. The
same language, compiler and error positions as ``map:`` apply; only the names differ: each
of ``roots`` is a path root, read from the scope mapping given at evaluation time::

    check = compile_scoped("source.Amount > related.account.Limit", flow="orders",
                           field="hold.when", roots={"source", "related"})
    check.evaluate({"source": order_fields, "related": {"account": account_fields}})
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from erpbridge.mapping.aliases import Aliases
from erpbridge.mapping.compiler import ExpressionCompiler
from erpbridge.mapping.errors import FieldMappingError, MappingCompileError, Problem
from erpbridge.mapping.functions import builtin_functions
from erpbridge.mapping.nodes import (
    EMPTY_XREFS,
    RUNTIME_ERRORS,
    Environment,
    ExpressionCompileError,
    PathRef,
)
from erpbridge.mapping.parser import ExpressionSyntaxError, parse_expression
from erpbridge.mapping.tables import ValueTable
from erpbridge.mapping.types import Evaluator, SourcePos

__all__ = ["ScopedExpression", "compile_scoped"]


@dataclass(frozen=True, slots=True)
class ScopedExpression:
    """One compiled expression over a scope record.

    Attributes:
        flow: the flow's name, for errors.
        field: what the expression is (``hold.when``), for errors.
        text: the expression as written.
    """

    flow: str
    field: str
    text: str
    fn: Evaluator
    #: the paths the expression reads (``related.account.Credit_Limit__c`` is the root
    #: ``scope`` with steps ``("related", "account", "Credit_Limit__c")``), where each
    #: starts in the project file, for checks against the systems' schemas.
    paths: tuple[tuple[PathRef, SourcePos | None], ...] = ()
    #: roots the expression reads as a whole (a bare ``source``): their fields are not
    #: known before it runs
    whole_roots: frozenset[str] = frozenset()

    def evaluate(self, scope: Mapping[str, object]) -> object:
        """The value on ``scope`` (root name -> record, or any value).

        Raises:
            FieldMappingError: the expression cannot be evaluated on this scope (a missing
                field, a text compared with a number …), naming flow, field and expression.
        """
        try:
            return self.fn(scope, None, EMPTY_XREFS)
        except FieldMappingError as exc:
            exc.locate(self.flow, self.field, self.text)
            raise
        except RUNTIME_ERRORS as exc:
            raise FieldMappingError(
                f"{type(exc).__name__}: {exc}",
                flow=self.flow,
                target_field=self.field,
                expression=self.text,
            ) from exc


def _at(pos: SourcePos | None, text: str, offset: int) -> SourcePos | None:
    if pos is None:
        return None
    before = text[: max(0, min(offset, len(text)))]
    return pos.at(before.count("\n"), offset - (before.rfind("\n") + 1))


def compile_scoped(
    text: object,
    *,
    flow: str,
    field: str,
    roots: Collection[str],
    pos: SourcePos | None = None,
    tables: Mapping[str, ValueTable] | None = None,
    aliases: Aliases | None = None,
    clock: Callable[[], datetime] | None = None,
) -> ScopedExpression:
    """Compile ``text`` once; xref lookups are not allowed (the scope is all it reads).

    Args:
        text: the expression.
        flow: the flow's name (in every error).
        field: the key the expression sits under (``hold.when``), in every error.
        roots: the names the expression may read (``source``, ``related``, ``hold``).
        pos: where the expression text starts in the project file.
        tables: value tables for ``table(...)``.
        aliases: field-name aliases.
        clock: what ``now()``/``today()`` read (default: the system clock, UTC).

    Raises:
        MappingCompileError: the problem, at its file, line and column.
    """

    def fail(message: str, at: SourcePos | None) -> MappingCompileError:
        expression = text if isinstance(text, str) else None
        return MappingCompileError([Problem("error", message, flow, field, expression, at)])

    if not isinstance(text, str):
        raise fail(f"expected an expression (text), got {type(text).__name__}", pos)
    try:
        parsed = parse_expression(text)
    except ExpressionSyntaxError as exc:
        raise fail(exc.message, _at(pos, text, exc.offset)) from None
    env = Environment(
        functions=builtin_functions(),
        tables=tables or {},
        aliases=aliases or Aliases(),
        clock=clock or (lambda: datetime.now(UTC)),
        roots=frozenset(roots),
    )
    compiler = ExpressionCompiler(parsed, env, allow_xref=False)
    try:
        compiled = compiler.compile()
    except ExpressionCompileError as exc:
        offset = parsed.start(exc.node) if exc.node is not None else 0
        raise fail(exc.message, _at(pos, text, offset)) from None
    paths = tuple((ref, _at(pos, text, ref.offset)) for ref in compiler.paths)
    return ScopedExpression(flow, field, text, compiled.fn, paths, frozenset(compiler.whole_roots))
