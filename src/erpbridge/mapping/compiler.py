"""Compile one parsed expression into a Python closure, once per mapping version.

Each syntax node becomes a small function ``(source, line, xrefs) -> value``; nothing
walks the tree per record. Names resolve only to the record (``source``, ``.Field`` in
``each``), literals, the built-in registry, value tables and ``xref.<entity>``: there is
no way to reach a Python attribute, a module or I/O from an expression.
"""

from __future__ import annotations

import ast
import copy
import difflib
import keyword
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from erpbridge.mapping.aliases import Aliases
from erpbridge.mapping.errors import FieldMappingError, MappingError, MissingReference
from erpbridge.mapping.functions import REQUIRED, FunctionError, FunctionSpec, brief
from erpbridge.mapping.functions.core import is_blank
from erpbridge.mapping.operators import ARITHMETIC, ORDERING, contains, equals, negate
from erpbridge.mapping.parser import LINE_NAME, ParsedExpression
from erpbridge.mapping.tables import NO_DEFAULT, ValueTable, table_key
from erpbridge.mapping.types import MAX_LINES_PER_LIST, Evaluator, Record, XrefMap
from erpbridge.spi.schema import FieldType

__all__ = ["Compiled", "Environment", "ExpressionCompileError", "ExpressionCompiler", "PathRef"]

#: collects (entity, source id) pairs: (source, line, out set) -> None.
Collector = Callable[[Record, "Record | None", set[tuple[str, str]]], None]
_NOT_CONST = object()
_EMPTY_XREFS: XrefMap = {}
#: exceptions a built-in or an operator may raise on a strange value; turned into
#: FieldMappingError naming the field, never let out of apply().
RUNTIME_ERRORS = (TypeError, ValueError, ArithmeticError, LookupError, RecursionError)
_CONSTANT_NAMES: Mapping[str, object] = {
    "true": True, "false": False, "null": None, "none": None,
    "True": True, "False": False, "None": None,
}  # fmt: skip
_SOFT_FORMS = frozenset({"coalesce", "default", "exists", "is_blank"})


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
        root: ``source`` or ``line`` (``.Field`` inside ``each``).
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
        for step in self.steps:
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
    entities_used: set[str] = field(default_factory=set)


@dataclass(slots=True)
class Compiled:
    """The result of compiling one node."""

    fn: Evaluator
    kind: FieldType = FieldType.UNKNOWN
    const: object = _NOT_CONST
    collectors: tuple[Collector, ...] = ()
    #: for ``source.X`` / ``.X``: (reads the line, key), so a call can read it inline
    field: tuple[bool, str] | None = None

    @property
    def is_const(self) -> bool:
        return self.const is not _NOT_CONST


def _constant(value: object, kind: FieldType | None = None) -> Compiled:
    if isinstance(value, list | dict | tuple):
        # every record gets its own copy: a connector may change what it is given
        def const_copy(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
            return copy.deepcopy(value)

        return Compiled(const_copy, kind or _kind_of(value), value)

    def const(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
        return value

    return Compiled(const, kind or _kind_of(value), value)


def _kind_of(value: object) -> FieldType:
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


class ExpressionCompiler:
    """Compiles the nodes of one expression in one context (top level or inside each).

    Args:
        parsed: the parsed expression.
        env: names, tables, aliases, clock.
        allow_xref: False for the flow's ``when:`` (it must not depend on lookups).
        line_origins: the each() lists enclosing this expression (innermost last).
        soft: read fields absent from the record as null (a rule with ``default:``).
    """

    def __init__(
        self,
        parsed: ParsedExpression,
        env: Environment,
        *,
        allow_xref: bool = True,
        line_origins: Sequence[PathRef | None] = (),
        soft: bool = False,
    ) -> None:
        self.parsed = parsed
        self.env = env
        self.allow_xref = allow_xref
        self.line_origins: list[PathRef | None] = list(line_origins)
        self.paths: list[PathRef] = []
        #: nested target records built inside this expression: (path, key, node offset)
        self.targets: list[tuple[tuple[str, ...], str, int]] = []
        #: paths passed straight to a built-in: (path, accepted kinds, function name)
        self.arg_kinds: list[tuple[PathRef, frozenset[FieldType], str]] = []
        #: paths compared with literals: (path, the literal values)
        self.compared: list[tuple[PathRef, tuple[object, ...]]] = []
        self._soft = 1 if soft else 0  # a rule with default: reads absent fields as null
        self._in_xref_arg = 0
        self._target_stack: list[str] = []

    # -- entry ------------------------------------------------------------------------

    def compile(self) -> Compiled:
        """Compile the whole expression.

        Raises:
            ExpressionCompileError: the first problem found.
        """
        return self.node(self.parsed.tree)

    def node(self, node: ast.AST) -> Compiled:
        """Compile one node."""
        method = getattr(self, f"_{type(node).__name__.lower()}", None)
        if method is None:  # the parser's whitelist makes this unreachable
            raise ExpressionCompileError(f"not allowed: {type(node).__name__}", node)
        result: Compiled = method(node)
        return result

    def text(self, node: ast.AST) -> str:
        """The user's text of a node."""
        return self.parsed.segment(node)

    # -- leaves -----------------------------------------------------------------------

    def _constant(self, node: ast.Constant) -> Compiled:
        value = node.value
        if isinstance(value, bool) or value is None or isinstance(value, int | str):
            return _constant(value)
        if isinstance(value, float):
            try:
                return _constant(Decimal(self.text(node).replace("_", "")))
            except InvalidOperation:
                return _constant(Decimal(repr(value)))
        raise ExpressionCompileError(f"literal {self.text(node)} is not allowed", node)

    def _name(self, node: ast.Name) -> Compiled:
        if node.id == LINE_NAME and self.parsed.is_line_mark(node):
            if not self.line_origins:
                raise ExpressionCompileError(
                    ".Field refers to a line and works only inside each()", node
                )

            def line(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
                return l

            return Compiled(line, FieldType.OBJECT)
        if node.id == "source":
            return Compiled(lambda s, ln, x: s, FieldType.OBJECT)
        if node.id in _CONSTANT_NAMES:
            return _constant(_CONSTANT_NAMES[node.id])
        if node.id == "xref":
            raise ExpressionCompileError(
                "xref is used as xref.<entity>(id), e.g. xref.customer(...)", node
            )
        if node.id in self.env.functions:
            raise ExpressionCompileError(f"{node.id} is a function: call it, {node.id}(...)", node)
        name = self.text(node)
        raise ExpressionCompileError(
            f"unknown name {name!r}: write source.{name} for a field of the record, or "
            f"'\"{name}\"' (quotes inside the YAML value) for the text {name}"
            + did_you_mean(name, ["source", "true", "false", "null", *self.env.functions]),
            node,
        )

    # -- paths ------------------------------------------------------------------------

    def _path_steps(self, node: ast.AST) -> tuple[str, list[str | int]] | None:
        steps: list[str | int] = []
        while True:
            if isinstance(node, ast.Attribute):
                raw = self.parsed.text[self.parsed.end(node.value) : self.parsed.end(node)]
                name = raw.strip().lstrip(".").strip()
                steps.append(name if name.isidentifier() else node.attr)
                node = node.value
            elif isinstance(node, ast.Subscript):
                key = node.slice
                if (
                    not isinstance(key, ast.Constant)
                    or isinstance(key.value, bool)
                    or not (isinstance(key.value, str | int))
                ):
                    raise ExpressionCompileError(
                        'a field name in [] must be a text or whole-number literal: ["名称"], [0]',
                        key,
                    )
                steps.append(key.value)
                node = node.value
            elif isinstance(node, ast.Name):
                if node.id == "source":
                    return "source", steps[::-1]
                if node.id == LINE_NAME and self.parsed.is_line_mark(node):
                    return "line", steps[::-1]
                return None
            else:
                return None

    def _path(self, node: ast.Attribute | ast.Subscript) -> Compiled:
        found = self._path_steps(node)
        if found is None:
            base = node.value
            if isinstance(node, ast.Attribute) and isinstance(base, ast.Name) and base.id == "xref":
                raise ExpressionCompileError(f"call it: {self.text(node)}(id)", node)
            bottom: ast.AST = node
            while isinstance(bottom, ast.Attribute | ast.Subscript):
                bottom = bottom.value
            if isinstance(bottom, ast.Name) and bottom.id not in ("xref", LINE_NAME):
                raise ExpressionCompileError(
                    f"unknown name {self.text(bottom)!r}: fields are read as source.Field"
                    + did_you_mean(bottom.id, ["source"]),
                    bottom,
                )
            raise ExpressionCompileError(
                f"{self.text(node)}: fields can be read only from source or from a line (.Field)",
                node,
            )
        root, steps = found
        if root == "line" and not self.line_origins:
            raise ExpressionCompileError(
                ".Field refers to a line and works only inside each()", node
            )
        origin = self.line_origins[-1] if root == "line" else None
        ref = PathRef(root, tuple(steps), origin, self.parsed.start(node))
        self.paths.append(ref)
        simple = (root == "line", steps[0]) if len(steps) == 1 and type(steps[0]) is str else None
        return Compiled(
            _path_getter(root, tuple(steps), self.env.aliases, self.text(node), self._soft > 0),
            FieldType.UNKNOWN,
            field=simple,
        )

    _attribute = _path
    _subscript = _path

    # -- operators --------------------------------------------------------------------

    def _compare(self, node: ast.Compare) -> Compiled:
        left = self.node(node.left)
        left_ref = self._last_path(node.left)
        checks: list[tuple[Callable[[object, object], bool], Compiled]] = []
        for op, comp_node in zip(node.ops, node.comparators, strict=True):
            right = self.node(comp_node)
            if left_ref is not None and right.is_const and not isinstance(op, ast.Is | ast.IsNot):
                values = right.const if isinstance(right.const, list) else [right.const]
                self.compared.append((left_ref, tuple(values)))
            if isinstance(op, ast.Is | ast.IsNot):
                if not (right.is_const and right.const is None):
                    raise ExpressionCompileError(
                        "'is' compares only with null: x is null", comp_node
                    )
                checks.append((_is_none if isinstance(op, ast.Is) else _is_not_none, right))
            elif isinstance(op, ast.Eq):
                checks.append((equals, right))
            elif isinstance(op, ast.NotEq):
                checks.append((_not_equals, right))
            elif isinstance(op, ast.In | ast.NotIn):
                test = _membership(right)
                checks.append((test if isinstance(op, ast.In) else _negated(test), right))
            else:
                checks.append((ORDERING[type(op)], right))
        if len(checks) == 1:
            test, right = checks[0]
            lf, rf = left.fn, right.fn

            def compare(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
                return test(lf(s, l, x), rf(s, l, x))

            return self._fold(Compiled(compare, FieldType.BOOLEAN), left, *(c for _, c in checks))
        first = left.fn
        chain = [(t, c.fn) for t, c in checks]

        def compare_chain(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
            a = first(s, l, x)
            for test, fn in chain:
                b = fn(s, l, x)
                if not test(a, b):
                    return False
                a = b
            return True

        return self._fold(Compiled(compare_chain, FieldType.BOOLEAN), left, *(c for _, c in checks))

    def _last_path(self, node: ast.AST) -> PathRef | None:
        """The PathRef just recorded for ``node`` when ``node`` is a field path."""
        if isinstance(node, ast.Attribute | ast.Subscript) and self.paths:
            ref = self.paths[-1]
            if ref.offset == self.parsed.start(node):
                return ref
        return None

    def _boolop(self, node: ast.BoolOp) -> Compiled:
        compiled = [self.node(v) for v in node.values]
        parts = [c.fn for c in compiled]
        if isinstance(node.op, ast.And):

            def all_(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
                return all(p(s, l, x) for p in parts)

            return self._fold(Compiled(all_, FieldType.BOOLEAN), *compiled)

        def any_(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
            return any(p(s, l, x) for p in parts)

        return self._fold(Compiled(any_, FieldType.BOOLEAN), *compiled)

    def _unaryop(self, node: ast.UnaryOp) -> Compiled:
        operand = self.node(node.operand)
        fn = operand.fn
        if isinstance(node.op, ast.Not):
            return self._fold(
                Compiled(lambda s, ln, x: not fn(s, ln, x), FieldType.BOOLEAN), operand
            )
        if isinstance(node.op, ast.USub):
            return self._fold(
                Compiled(lambda s, ln, x: negate(fn(s, ln, x)), operand.kind), operand
            )
        return self._fold(
            Compiled(lambda s, ln, x: negate(negate(fn(s, ln, x))), operand.kind), operand
        )

    def _binop(self, node: ast.BinOp) -> Compiled:
        left, right = self.node(node.left), self.node(node.right)
        op = ARITHMETIC[type(node.op)]
        lf, rf = left.fn, right.fn

        def binop(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
            return op(lf(s, l, x), rf(s, l, x))

        kind = FieldType.DECIMAL
        if left.kind == right.kind == FieldType.STRING and isinstance(node.op, ast.Add):
            kind = FieldType.STRING
        elif left.kind == FieldType.UNKNOWN or right.kind == FieldType.UNKNOWN:
            kind = FieldType.UNKNOWN
        return self._fold(Compiled(binop, kind), left, right)

    def _ifexp(self, node: ast.IfExp) -> Compiled:
        test, body, orelse = self.node(node.test), self.node(node.body), self.node(node.orelse)
        tf, bf, of = test.fn, body.fn, orelse.fn

        def choose(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
            return bf(s, l, x) if tf(s, l, x) else of(s, l, x)

        kind = body.kind if body.kind == orelse.kind else FieldType.UNKNOWN
        return Compiled(
            choose, kind, collectors=test.collectors + body.collectors + orelse.collectors
        )

    def _list(self, node: ast.List | ast.Tuple) -> Compiled:
        items = [self.node(e) for e in node.elts]
        if all(i.is_const for i in items):
            return _constant([i.const for i in items], FieldType.LINES)
        fns = [i.fn for i in items]

        def make_list(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
            return [f(s, l, x) for f in fns]

        return Compiled(make_list, FieldType.LINES, collectors=_gather(items))

    _tuple = _list

    def _dict(self, node: ast.Dict) -> Compiled:
        keys: list[str] = []
        items: list[Compiled] = []
        texts: list[str] = []
        for key_node, value_node in zip(node.keys, node.values, strict=True):
            if isinstance(key_node, ast.Name):
                key = self.text(key_node)
            elif isinstance(key_node, ast.Constant) and isinstance(key_node.value, str):
                key = key_node.value
            else:
                raise ExpressionCompileError(
                    'a record\'s keys are field names: {Field: expr} or {"字段": expr}',
                    key_node or value_node,
                )
            if key in keys:
                raise ExpressionCompileError(f"field {key!r} is given twice", key_node)
            self.targets.append((tuple(self._target_stack), key, self.parsed.start(key_node)))
            self._target_stack.append(key)
            try:
                items.append(self.node(value_node))
            finally:
                self._target_stack.pop()
            keys.append(key)
            texts.append(self.text(value_node))
        if all(i.is_const for i in items):
            return _constant(dict(zip(keys, [i.const for i in items], strict=True)))
        plan = tuple(zip(keys, [i.fn for i in items], texts, strict=True))

        pairs = tuple((k, f) for k, f, _ in plan)

        def make_record(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
            try:
                return {key: fn(s, l, x) for key, fn in pairs}
            except FieldMappingError as exc:
                first = exc  # evaluate again field by field to name the one that failed
            key = ""
            try:
                for key, fn, _ in plan:  # noqa: B007  # key is read in the except
                    fn(s, l, x)
            except FieldMappingError as exc:
                exc.nest(key)
                if exc.expression is None:
                    exc.expression = dict((k, t) for k, _, t in plan)[key]
                raise
            raise first  # now() may differ the second time; report what failed first

        return Compiled(make_record, FieldType.OBJECT, collectors=_gather(items))

    def _fold(self, result: Compiled, *parts: Compiled) -> Compiled:
        """Evaluate at compile time when every part is a literal."""
        collectors = _gather(parts)
        if parts and all(p.is_const for p in parts):
            try:
                return _constant(result.fn({}, None, _EMPTY_XREFS), result.kind)
            except (MappingError, *RUNTIME_ERRORS) as exc:
                raise ExpressionCompileError(f"this always fails: {exc}") from None
        result.collectors = collectors
        return result

    # -- calls ------------------------------------------------------------------------

    def _call(self, node: ast.Call) -> Compiled:
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id == "xref"
        ):
            return self._xref(node, func)
        if not isinstance(func, ast.Name):
            raise ExpressionCompileError(
                f"{self.text(func)} cannot be called: only built-in functions and "
                "xref.<entity>(id) can",
                func,
            )
        spec = self.env.functions.get(func.id)
        if spec is None:
            raise ExpressionCompileError(
                f"unknown function {func.id!r}" + did_you_mean(func.id, self.env.functions), func
            )
        args = self._bind(spec, node)
        special = getattr(self, f"_form_{spec.name}", None)
        if special is not None:
            result: Compiled = special(spec, node, args)
            return result
        return self._builtin(spec, node, args)

    def _bind(self, spec: FunctionSpec, node: ast.Call) -> dict[str, ast.expr | list[ast.expr]]:
        """Match the call's arguments to the function's parameters."""
        bound: dict[str, ast.expr | list[ast.expr]] = {}
        params = list(spec.params)
        positional = [p for p in params]
        i = 0
        for arg in node.args:
            if i >= len(positional):
                raise ExpressionCompileError(
                    f"{spec.name}() takes at most {len(positional)} arguments: {spec.signature()}",
                    arg,
                )
            param = positional[i]
            if param.variadic:
                bucket = bound.setdefault(param.name, [])
                assert isinstance(bucket, list)  # noqa: S101  # set just above
                bucket.append(arg)
            else:
                bound[param.name] = arg
                i += 1
        names = {p.name for p in params if not p.variadic}
        for kw in node.keywords:
            if kw.arg is None:
                raise ExpressionCompileError("** is not allowed", kw)
            name = (
                kw.arg[:-1] if kw.arg.endswith("_") and keyword.iskeyword(kw.arg[:-1]) else kw.arg
            )
            if name not in names:
                raise ExpressionCompileError(
                    f"{spec.name}() has no parameter {name!r}: {spec.signature()}"
                    + did_you_mean(name, names),
                    kw,
                )
            if name in bound:
                raise ExpressionCompileError(f"{spec.name}(): {name} is given twice", kw)
            bound[name] = kw.value
        for p in params:
            if p.default is REQUIRED and not p.variadic and p.name not in bound:
                raise ExpressionCompileError(
                    f"{spec.name}() needs {p.name}: {spec.signature()}", node
                )
        return bound

    def const_value(self, node: ast.expr, what: str) -> object:
        """The value of a literal argument (constants, lists and records of them)."""
        compiled = self.node(node)
        if not compiled.is_const:
            raise ExpressionCompileError(
                f"{what} must be a literal (a fixed value), not an expression", node
            )
        return compiled.const

    def _builtin(
        self, spec: FunctionSpec, node: ast.Call, args: Mapping[str, ast.expr | list[ast.expr]]
    ) -> Compiled:
        assert spec.build is not None  # noqa: S101  # special forms are handled before
        consts: dict[str, object] = {}
        runtime: list[Compiled] = []
        texts: list[str] = []
        absent = 0  # trailing run-time parameters left at their default
        for p in spec.params:
            given = args.get(p.name)
            if p.const:
                value = p.default
                if isinstance(given, ast.expr):
                    value = self.const_value(given, f"{spec.name}(): {p.name}")
                consts[p.name + "_" if keyword.iskeyword(p.name) else p.name] = value
            elif p.variadic:
                absent = 0
                parts = [self.node(a) for a in (given or [])]  # type: ignore[union-attr]
                runtime.append(_tuple_of(parts))
                texts.append(", ".join(self.text(a) for a in (given or [])))  # type: ignore[union-attr]
            elif given is None:
                runtime.append(_constant(p.default))
                texts.append("")
                absent += 1
                continue
            else:
                absent = 0
                runtime.append(self.node(given))  # type: ignore[arg-type]  # not variadic
                texts.append(self.text(given))  # type: ignore[arg-type]  # not variadic
                ref = self._last_path(given)  # type: ignore[arg-type]  # not variadic
                if ref is not None and p.kinds is not None:
                    self.arg_kinds.append((ref, p.kinds, spec.name))
        extra = {"clock": self.env.clock} if spec.needs_clock else {}
        try:
            impl = spec.build(**consts, **extra)
        except (ValueError, TypeError) as exc:
            raise ExpressionCompileError(f"{spec.name}(): {exc}", node) from None
        kind = spec.return_kind({k.rstrip("_"): v for k, v in consts.items()})
        if absent:  # the impl's own defaults apply; fewer arguments, a faster call
            runtime, texts = runtime[: len(runtime) - absent], texts[: len(texts) - absent]
        call = _call_closure(
            spec, impl, [r.fn for r in runtime], texts, [r.is_const for r in runtime]
        )
        if spec.pure:
            return (
                self._fold(Compiled(call, kind), *runtime)
                if runtime
                else _constant(self._fold_now(call, spec), kind)
            )
        return Compiled(call, kind, collectors=_gather(runtime))

    def _fold_now(self, call: Evaluator, spec: FunctionSpec) -> object:
        try:
            return call({}, None, _EMPTY_XREFS)
        except (MappingError, *RUNTIME_ERRORS) as exc:
            raise ExpressionCompileError(f"{spec.name}() always fails: {exc}") from None

    # -- xref -------------------------------------------------------------------------

    def _xref(self, node: ast.Call, func: ast.Attribute) -> Compiled:
        entity = self.text(func)[len("xref") :].strip().lstrip(".").strip()
        if not self.allow_xref:
            raise ExpressionCompileError("the flow's when: cannot use xref lookups", node)
        if self._in_xref_arg:
            raise ExpressionCompileError("an xref id cannot itself come from an xref lookup", node)
        known = self.env.xref_entities
        if known is not None and entity not in known:
            raise ExpressionCompileError(
                f"unknown xref entity {entity!r}" + did_you_mean(entity, known), func
            )
        if len(node.args) != 1:
            raise ExpressionCompileError(
                f"xref.{entity}() takes one id: xref.{entity}(source.Id)", node
            )
        optional = False
        for kw in node.keywords:
            if kw.arg != "optional":
                raise ExpressionCompileError(f"xref.{entity}() has only optional=true|false", kw)
            value = self.const_value(kw.value, "optional")
            if not isinstance(value, bool):
                raise ExpressionCompileError("optional must be true or false", kw.value)
            optional = value
        self._in_xref_arg += 1
        try:
            arg = self.node(node.args[0])
        finally:
            self._in_xref_arg -= 1
        self.env.entities_used.add(entity)
        return Compiled(
            _xref_closure(entity, arg.fn, self.text(node.args[0]), optional, arg.field),
            FieldType.REFERENCE,
            collectors=(*arg.collectors, _xref_collector(entity, arg.fn)),
        )

    # -- special forms ----------------------------------------------------------------

    def _soft_node(self, node: ast.expr) -> Compiled:
        self._soft += 1
        try:
            return self.node(node)
        finally:
            self._soft -= 1

    def _form_coalesce(
        self, spec: FunctionSpec, node: ast.Call, args: Mapping[str, object]
    ) -> Compiled:
        parts = [self._soft_node(a) for a in args.get("values", [])]  # type: ignore[attr-defined]
        fns = [p.fn for p in parts]

        def coalesce(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
            for fn in fns:
                value = fn(s, l, x)
                if not is_blank(value):
                    return value
            return None

        kinds = {p.kind for p in parts if not (p.is_const and p.const is None)}
        kind = kinds.pop() if len(kinds) == 1 else FieldType.UNKNOWN
        return Compiled(coalesce, kind, collectors=_gather(parts))

    def _form_default(
        self, spec: FunctionSpec, node: ast.Call, args: Mapping[str, ast.expr]
    ) -> Compiled:
        value, fallback = self._soft_node(args["value"]), self.node(args["fallback"])
        vf, ff = value.fn, fallback.fn

        def default(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
            v = vf(s, l, x)
            return ff(s, l, x) if v is None or v == "" or is_blank(v) else v

        kind = value.kind if value.kind == fallback.kind else FieldType.UNKNOWN
        return Compiled(default, kind, collectors=_gather((value, fallback)))

    def _form_exists(
        self, spec: FunctionSpec, node: ast.Call, args: Mapping[str, ast.expr]
    ) -> Compiled:
        value = self._soft_node(args["value"])
        vf = value.fn
        return Compiled(
            lambda s, ln, x: vf(s, ln, x) is not None,
            FieldType.BOOLEAN,
            collectors=value.collectors,
        )

    def _form_is_blank(
        self, spec: FunctionSpec, node: ast.Call, args: Mapping[str, ast.expr]
    ) -> Compiled:
        value = self._soft_node(args["value"])
        vf = value.fn
        return Compiled(
            lambda s, ln, x: is_blank(vf(s, ln, x)), FieldType.BOOLEAN, collectors=value.collectors
        )

    def _form_table(
        self, spec: FunctionSpec, node: ast.Call, args: Mapping[str, ast.expr]
    ) -> Compiled:
        name = self.const_value(args["name"], "table(): the table name")
        if not isinstance(name, str):
            raise ExpressionCompileError("table(): the table name must be text", args["name"])
        table = self.env.tables.get(name)
        if table is None:
            known = ", ".join(sorted(self.env.tables)) or "none defined"
            hint = did_you_mean(name, self.env.tables) or f" (tables: {known})"
            raise ExpressionCompileError(f"unknown table {name!r}{hint}", args["name"])
        reverse = self.const_value(args["reverse"], "reverse") if "reverse" in args else False
        if not isinstance(reverse, bool):
            raise ExpressionCompileError("reverse must be true or false", args["reverse"])
        has_default = "default" in args
        call_default = self.const_value(args["default"], "default") if has_default else None
        if table.strict and has_default:
            raise ExpressionCompileError(
                f"table {name!r} is strict: a default is not allowed", args["default"]
            )
        try:
            values: Mapping[str, object] = table.reversed_values() if reverse else table.values
        except ValueError as exc:
            raise ExpressionCompileError(str(exc), node) from None
        fallback = (
            call_default
            if has_default
            else (None if table.default is NO_DEFAULT or reverse else table.default)
        )
        key = self.node(args["key"])
        kf, key_text, strict, missing = key.fn, self.text(args["key"]), table.strict, _NOT_CONST

        def lookup(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
            k = kf(s, l, x)
            if k is None:
                return None
            found = values.get(k if type(k) is str else table_key(k), missing)
            if found is missing:
                if strict:
                    raise FieldMappingError(
                        f"table(): {brief(k)} is not in table {name!r} ({key_text})",
                        value=k,
                        source=key_text,
                    )
                return fallback
            return found

        kinds = {_kind_of(v) for v in values.values()}
        kind = kinds.pop() if len(kinds) == 1 else FieldType.UNKNOWN
        return self._fold(Compiled(lookup, kind), key)

    def _form_each(
        self, spec: FunctionSpec, node: ast.Call, args: Mapping[str, ast.expr]
    ) -> Compiled:
        lines_node = args["lines"]
        lines = self.node(lines_node)
        origin = (
            self.paths[-1]
            if self.paths and isinstance(lines_node, ast.Attribute | ast.Subscript)
            else None
        )
        self.line_origins.append(origin)
        try:
            item = self.node(args["item"])
            when = self.node(args["when"]) if "when" in args else None
        finally:
            self.line_origins.pop()
        return Compiled(
            each_closure(lines.fn, item.fn, when.fn if when else None, self.text(lines_node)),
            FieldType.LINES,
            collectors=(*lines.collectors, *_each_collectors(lines.fn, item, when)),
        )


# -- closures ---------------------------------------------------------------------------


def _path_getter(
    root: str, steps: tuple[str | int, ...], aliases: Aliases, text: str, soft: bool
) -> Evaluator:
    """A reader for ``source.A.B`` / ``.A``; absent fields are errors unless ``soft``."""
    alts = tuple(aliases.others(s) if isinstance(s, str) else () for s in steps)
    from_line = root == "line"

    def missing(i: int) -> object:
        if soft:
            return None
        shown = text if i == len(steps) - 1 else _prefix_text(root, steps[: i + 1])
        hint = " (wrap it in default(...) if it may be absent)" if i == len(steps) - 1 else ""
        raise FieldMappingError(f"{shown} is missing from the record{hint}", source=shown)

    def step(current: object, i: int) -> object:
        key = steps[i]
        if isinstance(current, Mapping):
            try:
                return current[key]
            except KeyError:
                for other in alts[i]:
                    if other in current:
                        return current[other]
                return missing(i)
        if isinstance(current, list | tuple) and type(key) is int:
            try:
                return current[key]
            except IndexError:
                return missing(i)
        shown = _prefix_text(root, steps[:i])
        raise FieldMappingError(
            f"{shown} is {brief(current)}, not a record with field {key!r}", source=shown
        )

    if len(steps) == 1 and not from_line:
        key0 = steps[0]

        def get_one(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
            try:
                return s[key0]  # type: ignore[index]  # int keys fail as KeyError too
            except KeyError:
                return step(s, 0)

        return get_one
    if len(steps) == 1:
        key0 = steps[0]

        def get_line(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
            try:
                return l[key0]  # type: ignore[index]  # l is a Mapping inside each
            except (KeyError, TypeError):
                return step(l, 0)

        return get_line

    def get_path(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
        current: object = l if from_line else s
        for i in range(len(steps)):
            if current is None:
                return None  # source.Account.Name with a null Account
            current = step(current, i)
        return current

    return get_path


def _prefix_text(root: str, steps: Sequence[str | int]) -> str:
    return PathRef(root, tuple(steps), None, 0).text()


def _is_none(a: object, b: object) -> bool:
    return a is None


def _is_not_none(a: object, b: object) -> bool:
    return a is not None


def _not_equals(a: object, b: object) -> bool:
    return not equals(a, b)


def _membership(right: Compiled) -> Callable[[object, object], bool]:
    if (
        right.is_const
        and isinstance(right.const, list)
        and all(type(v) is str for v in right.const)
    ):
        members = frozenset(right.const)
        return lambda a, b: a in members if type(a) is str else contains(a, b)
    return contains


def _negated(test: Callable[[object, object], bool]) -> Callable[[object, object], bool]:
    return lambda a, b: not test(a, b)


def _gather(parts: Sequence[Compiled]) -> tuple[Collector, ...]:
    return tuple(c for p in parts for c in p.collectors)


def _tuple_of(parts: Sequence[Compiled]) -> Compiled:
    fns = [p.fn for p in parts]
    if all(p.is_const for p in parts):
        return _constant(tuple(p.const for p in parts), FieldType.LINES)

    def make(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
        return tuple(f(s, l, x) for f in fns)

    return Compiled(make, FieldType.LINES, collectors=_gather(parts))


def _call_closure(
    spec: FunctionSpec,
    impl: Callable[..., object],
    fns: Sequence[Evaluator],
    texts: Sequence[str],
    literal: Sequence[bool],
    field: tuple[bool, str] | None = None,
) -> Evaluator:
    """A call of a built-in with its run-time arguments; errors name the argument."""
    name, passes = spec.name, spec.null_passes and bool(fns)

    def fail(exc: Exception, values: Sequence[object]) -> FieldMappingError:
        if isinstance(exc, FunctionError):
            i = exc.arg if 0 <= exc.arg < len(values) else 0
            where = f" ({texts[i]})" if texts and texts[i] and not literal[i] else ""
            return FieldMappingError(
                f"{name}(): {exc.reason}{where}",
                value=values[i] if values else None,
                source=texts[i] if texts else None,
            )
        return FieldMappingError(f"{name}(): {exc}", value=values[0] if values else None)

    if len(fns) == 0:

        def call0(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
            try:
                return impl()
            except (FunctionError, *RUNTIME_ERRORS) as exc:
                raise fail(exc, ()) from None

        return call0
    if len(fns) == 1 and field is not None:
        # the argument is source.X or .X: read it here, one Python call fewer; the full
        # reader still handles aliases, soft reads and the error for an absent field
        f0, (from_line, key) = fns[0], field

        def call1_field(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
            try:
                v = l[key] if from_line else s[key]  # type: ignore[index]  # l set in each
            except (KeyError, TypeError):
                v = f0(s, l, x)
            if v is None and passes:
                return None
            try:
                return impl(v)
            except (FunctionError, *RUNTIME_ERRORS) as exc:
                raise fail(exc, (v,)) from None

        return call1_field
    if len(fns) == 1:
        f0 = fns[0]

        def call1(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
            v = f0(s, l, x)
            if v is None and passes:
                return None
            try:
                return impl(v)
            except (FunctionError, *RUNTIME_ERRORS) as exc:
                raise fail(exc, (v,)) from None

        return call1
    if len(fns) == 2:
        f0, f1 = fns

        def call2(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
            v0 = f0(s, l, x)
            if v0 is None and passes:
                return None
            v1 = f1(s, l, x)
            try:
                return impl(v0, v1)
            except (FunctionError, *RUNTIME_ERRORS) as exc:
                raise fail(exc, (v0, v1)) from None

        return call2

    def calln(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
        values = [f(s, l, x) for f in fns]
        if values[0] is None and passes:
            return None
        try:
            return impl(*values)
        except (FunctionError, *RUNTIME_ERRORS) as exc:
            raise fail(exc, values) from None

    return calln


def xref_id(value: object) -> str:
    """The text form of a source id (ints and whole Decimals as digits)."""
    if type(value) is str:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, Decimal) or not value.is_finite() or abs(value.adjusted()) > 40:
        raise FieldMappingError(f"{brief(value)} is not an id")
    if value == value.to_integral_value():
        return str(int(value))
    raise FieldMappingError(f"{brief(value)} is not an id")


def _xref_closure(
    entity: str, arg: Evaluator, text: str, optional: bool, field: tuple[bool, str] | None
) -> Evaluator:
    from_line, key = field if field is not None else (False, "")

    def xref(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
        if field is None:
            v = arg(s, l, x)
        else:
            try:
                v = l[key] if from_line else s[key]  # type: ignore[index]  # l set in each
            except (KeyError, TypeError):
                v = arg(s, l, x)
        if v is None:
            return None
        sid = v if type(v) is str else xref_id(v)
        target = x.get((entity, sid))
        if target is None:
            if optional:
                return None
            raise MissingReference(entity, sid, source=text)
        return target

    return xref


def _xref_collector(entity: str, arg: Evaluator) -> Collector:
    def collect(s: Record, l: Record | None, out: set[tuple[str, str]]) -> None:  # noqa: E741
        try:
            v = arg(s, l, _EMPTY_XREFS)
            if v is not None:
                out.add((entity, xref_id(v)))
        except (MappingError, *RUNTIME_ERRORS):
            return  # apply() reports the same problem with its full context

    return collect


def each_closure(
    lines_fn: Evaluator, item_fn: Evaluator, when_fn: Evaluator | None, lines_text: str
) -> Evaluator:
    """Map every line of a record's own list (the only loop the language has)."""

    def each(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
        lines = lines_fn(s, l, x)
        if lines is None:
            return []
        if type(lines) is not list and not isinstance(lines, list | tuple):
            raise FieldMappingError(
                f"each(): {brief(lines)} is not a list of lines ({lines_text})",
                value=lines,
                source=lines_text,
            )
        if len(lines) > MAX_LINES_PER_LIST:
            raise FieldMappingError(f"each(): more than {MAX_LINES_PER_LIST} lines ({lines_text})")
        out = []
        i = 0
        try:
            for i, line in enumerate(lines):  # noqa: B007  # i is read in the except
                if type(line) is not dict and not isinstance(line, Mapping):
                    raise FieldMappingError(
                        f"each(): line is {brief(line)}, not a record ({lines_text})"
                    )
                if when_fn is not None and not when_fn(s, line, x):
                    continue
                out.append(item_fn(s, line, x))
        except FieldMappingError as exc:
            exc.nest(f"[{i}]")
            raise
        return out

    return each


def _each_collectors(
    lines_fn: Evaluator, item: Compiled, when: Compiled | None
) -> tuple[Collector, ...]:
    inner = item.collectors + (when.collectors if when else ())
    if not inner:
        return ()

    def collect(s: Record, l: Record | None, out: set[tuple[str, str]]) -> None:  # noqa: E741
        try:
            lines = lines_fn(s, l, _EMPTY_XREFS)
        except (MappingError, *RUNTIME_ERRORS):
            return
        if not isinstance(lines, list | tuple):
            return
        for line in lines[:MAX_LINES_PER_LIST]:
            if isinstance(line, Mapping):
                for c in inner:
                    c(s, line, out)

    return (collect,)
