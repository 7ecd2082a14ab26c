"""Compile one parsed expression into a Python closure, once per mapping version.

Each syntax node becomes a small function ``(source, line, xrefs) -> value``; nothing
walks the tree per record. Names resolve only to the record (``source``, ``.Field`` in
``each``), literals, the built-in registry, value tables and ``xref.<entity>``: there is
no way to reach a Python attribute, a module or I/O from an expression.
"""

from __future__ import annotations

import ast
import keyword
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation

from erpbridge.mapping.closures import (
    call_closure,
    is_none,
    is_not_none,
    membership,
    negated,
    not_equals,
    path_getter,
)
from erpbridge.mapping.codegen import (
    emit_apply,
    emit_bool,
    emit_call,
    emit_choice,
    emit_field,
    emit_list,
    emit_not,
    emit_record,
)
from erpbridge.mapping.errors import FieldMappingError, MappingError
from erpbridge.mapping.forms import FORMS, bind_arguments, compile_xref
from erpbridge.mapping.functions import FunctionSpec
from erpbridge.mapping.nodes import (
    EMPTY_XREFS,
    RUNTIME_ERRORS,
    Compiled,
    Environment,
    ExpressionCompileError,
    PathRef,
    constant,
    did_you_mean,
    gather,
    tuple_of,
)
from erpbridge.mapping.operators import ARITHMETIC, ORDERING, equals, negate
from erpbridge.mapping.parser import LINE_NAME, ParsedExpression
from erpbridge.mapping.types import Evaluator, Record, XrefMap
from erpbridge.spi.schema import FieldType

__all__ = ["ExpressionCompiler"]

_CONSTANT_NAMES: Mapping[str, object] = {
    "true": True, "false": False, "null": None, "none": None,
    "True": True, "False": False, "None": None,
}  # fmt: skip


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
        #: roots read as a whole record (bare ``source``): no static list of their fields
        self.whole_roots: set[str] = set()
        self.soft_depth = 1 if soft else 0  # a rule with default: reads absent fields as null
        self.xref_arg_depth = 0
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
            return constant(value)
        if isinstance(value, float):
            try:
                return constant(Decimal(self.text(node).replace("_", "")))
            except InvalidOperation:
                return constant(Decimal(repr(value)))
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
        if node.id in self.env.roots:
            root = node.id
            self.whole_roots.add(root)
            return Compiled(lambda s, ln, x: s.get(root), FieldType.OBJECT)
        if node.id == "source":
            self.whole_roots.add("source")
            return Compiled(lambda s, ln, x: s, FieldType.OBJECT)
        if node.id in _CONSTANT_NAMES:
            return constant(_CONSTANT_NAMES[node.id])
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
            + did_you_mean(
                name, [*self.env.roots, "source", "true", "false", "null", *self.env.functions]
            ),
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
                if node.id in self.env.roots:  # a scope record: the root is its first key
                    return "scope", [node.id, *steps[::-1]]
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
                roots = sorted(self.env.roots) or ["source"]
                raise ExpressionCompileError(
                    f"unknown name {self.text(bottom)!r}: fields are read as "
                    + " or ".join(f"{r}.Field" for r in roots)
                    + did_you_mean(bottom.id, roots),
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
        getter = path_getter(
            root, tuple(steps), self.env.aliases, self.text(node), self.soft_depth > 0
        )
        if len(steps) == 1 and isinstance(steps[0], str):
            from_line, key = root == "line", steps[0]
            return Compiled(
                getter,
                FieldType.UNKNOWN,
                field=(from_line, key),
                emit=emit_field(getter, from_line, key),
            )
        return Compiled(getter, FieldType.UNKNOWN)

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
                checks.append((is_none if isinstance(op, ast.Is) else is_not_none, right))
            elif isinstance(op, ast.Eq):
                checks.append((equals, right))
            elif isinstance(op, ast.NotEq):
                checks.append((not_equals, right))
            elif isinstance(op, ast.In | ast.NotIn):
                test = membership(right)
                checks.append((test if isinstance(op, ast.In) else negated(test), right))
            else:
                checks.append((ORDERING[type(op)], right))
        if len(checks) == 1:
            test, right = checks[0]
            lf, rf = left.fn, right.fn

            def compare(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
                return test(lf(s, l, x), rf(s, l, x))

            emit = emit_apply(test, [left, right])
            return self.fold(
                Compiled(compare, FieldType.BOOLEAN, emit=emit), left, *(c for _, c in checks)
            )
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

        return self.fold(Compiled(compare_chain, FieldType.BOOLEAN), left, *(c for _, c in checks))

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

            return self.fold(
                Compiled(all_, FieldType.BOOLEAN, emit=emit_bool("and", compiled)), *compiled
            )

        def any_(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
            return any(p(s, l, x) for p in parts)

        return self.fold(
            Compiled(any_, FieldType.BOOLEAN, emit=emit_bool("or", compiled)), *compiled
        )

    def _unaryop(self, node: ast.UnaryOp) -> Compiled:
        operand = self.node(node.operand)
        fn = operand.fn
        if isinstance(node.op, ast.Not):
            return self.fold(
                Compiled(
                    lambda s, ln, x: not fn(s, ln, x), FieldType.BOOLEAN, emit=emit_not(operand)
                ),
                operand,
            )
        if isinstance(node.op, ast.USub):
            return self.fold(
                Compiled(
                    lambda s, ln, x: negate(fn(s, ln, x)),
                    operand.kind,
                    emit=emit_apply(negate, [operand]),
                ),
                operand,
            )
        return self.fold(
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
        return self.fold(Compiled(binop, kind, emit=emit_apply(op, [left, right])), left, right)

    def _ifexp(self, node: ast.IfExp) -> Compiled:
        test, body, orelse = self.node(node.test), self.node(node.body), self.node(node.orelse)
        tf, bf, of = test.fn, body.fn, orelse.fn

        def choose(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
            return bf(s, l, x) if tf(s, l, x) else of(s, l, x)

        kind = body.kind if body.kind == orelse.kind else FieldType.UNKNOWN
        return Compiled(
            choose,
            kind,
            collectors=test.collectors + body.collectors + orelse.collectors,
            emit=emit_choice(test, body, orelse),
        )

    def _list(self, node: ast.List | ast.Tuple) -> Compiled:
        items = [self.node(e) for e in node.elts]
        if all(i.is_const for i in items):
            return constant([i.const for i in items], FieldType.LINES)
        fns = [i.fn for i in items]

        def make_list(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
            return [f(s, l, x) for f in fns]

        return Compiled(make_list, FieldType.LINES, collectors=gather(items), emit=emit_list(items))

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
            return constant(dict(zip(keys, [i.const for i in items], strict=True)))
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

        return Compiled(
            make_record, FieldType.OBJECT, collectors=gather(items), emit=emit_record(keys, items)
        )

    def fold(self, result: Compiled, *parts: Compiled) -> Compiled:
        """Evaluate at compile time when every part is a literal."""
        collectors = gather(parts)
        if parts and all(p.is_const for p in parts):
            try:
                return constant(result.fn({}, None, EMPTY_XREFS), result.kind)
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
            return compile_xref(self, node, func)
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
        args = bind_arguments(spec, node)
        special = FORMS.get(spec.name)
        if special is not None:
            result: Compiled = special(self, spec, node, args)
            return result
        return self._builtin(spec, node, args)

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
                runtime.append(tuple_of(parts))
                texts.append(", ".join(self.text(a) for a in (given or [])))  # type: ignore[union-attr]
            elif given is None:
                runtime.append(constant(p.default))
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
        call = call_closure(
            spec,
            impl,
            [r.fn for r in runtime],
            texts,
            [r.is_const for r in runtime],
            runtime[0].field if len(runtime) == 1 else None,
        )
        emit = emit_call(impl, runtime, spec.null_passes) if runtime else None
        if spec.pure:
            return (
                self.fold(Compiled(call, kind, emit=emit), *runtime)
                if runtime
                else constant(self._fold_now(call, spec), kind)
            )
        return Compiled(call, kind, collectors=gather(runtime), emit=emit)

    def _fold_now(self, call: Evaluator, spec: FunctionSpec) -> object:
        try:
            return call({}, None, EMPTY_XREFS)
        except (MappingError, *RUNTIME_ERRORS) as exc:
            raise ExpressionCompileError(f"{spec.name}() always fails: {exc}") from None
