"""Compile a flow's ``map:`` rules (expressions and dict forms) into field plans.

Every rule is compiled even after one fails, so ``validate`` can show all problems at
once; each problem carries the file, line and column of the part that is wrong.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from erpbridge.mapping.closures import each_closure, each_collectors
from erpbridge.mapping.compiler import ExpressionCompiler
from erpbridge.mapping.errors import FieldMappingError, Problem
from erpbridge.mapping.forms import check_nested_lines
from erpbridge.mapping.functions import brief
from erpbridge.mapping.functions.core import is_blank
from erpbridge.mapping.nodes import (
    Collector,
    Compiled,
    Environment,
    ExpressionCompileError,
    PathRef,
    constant,
)
from erpbridge.mapping.parser import ExpressionSyntaxError, parse_expression
from erpbridge.mapping.spec import MappingSpec
from erpbridge.mapping.types import MAX_RULES, Evaluator, Record, SourcePos, XrefMap
from erpbridge.spi.schema import FieldType

__all__ = ["OMIT", "Analysis", "FieldPlan", "PathUse", "TargetUse", "analyse"]


class _Omit:
    def __repr__(self) -> str:
        return "OMIT"


#: what a field with a false ``when:`` gives: the field is left out of the record.
OMIT = _Omit()
_FORM_KEYS = ("expr", "const", "default", "required", "when", "each", "map", "note")


@dataclass(frozen=True, slots=True)
class FieldPlan:
    """One compiled target field.

    Attributes:
        name: the target key written (a label becomes its wire name).
        path: the display path (``to_Item.Material``).
        rule: the rule as a person wrote it, for preview.
        expression: the expression text named in errors.
        fn: the evaluator; returns ``OMIT`` when a ``when:`` says to leave the field out.
        kind: the static kind of the value, when known.
        conditional: the rule has a ``when:`` and may leave the field out.
        compiled: the node, when the rule is a plain expression (for the fast path).
    """

    name: str
    path: str
    rule: str
    expression: str | None
    fn: Evaluator
    kind: FieldType
    conditional: bool = False
    compiled: Compiled | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class PathUse:
    """A source path read by a rule (for schema checks)."""

    ref: PathRef
    target_field: str
    expression: str
    pos: SourcePos | None


@dataclass(frozen=True, slots=True)
class TargetUse:
    """A target field written (for schema checks): its steps from the top record."""

    steps: tuple[str, ...]
    kind: FieldType
    pos: SourcePos | None
    expression: str | None


@dataclass(slots=True)
class Analysis:
    """Everything the compiler learnt about one spec."""

    fields: list[FieldPlan] = field(default_factory=list)
    when: Evaluator | None = None
    collectors: tuple[Collector, ...] = ()
    problems: list[Problem] = field(default_factory=list)
    paths: list[PathUse] = field(default_factory=list)
    targets: list[TargetUse] = field(default_factory=list)
    #: paths given to built-ins: (use, accepted kinds, function name)
    arg_kinds: list[tuple[PathUse, frozenset[FieldType], str]] = field(default_factory=list)
    #: paths compared with literals: (use, literal values)
    compared: list[tuple[PathUse, tuple[object, ...]]] = field(default_factory=list)
    #: some expression reads the source record as a whole (bare ``source``), so the
    #: fields it reads are not known before it runs
    whole_source: bool = False
    #: ``paths[:rule_paths]`` are the rules' paths, the rest the flow's ``when:``'s
    rule_paths: int = 0


class _RuleCompiler:
    def __init__(self, spec: MappingSpec, env: Environment) -> None:
        self.spec = spec
        self.env = env
        self.out = Analysis()
        self.count = 0
        # xref collectors of the current level; each() pushes a level for its lines
        self.levels: list[list[Collector]] = [[]]

    def problem(self, message: str, path: str, expr: str | None, pos: SourcePos | None) -> None:
        self.out.problems.append(Problem("error", message, self.spec.flow, path, expr, pos))

    def pos_of(self, path: str, part: str | None = None) -> SourcePos | None:
        if part is not None:
            found = self.spec.positions.get(f"{path}@{part}")
            if found is not None:
                return found
        return self.spec.positions.get(path)

    def expression(
        self,
        text: object,
        path: str,
        pos: SourcePos | None,
        origins: Sequence[PathRef | None],
        *,
        soft: bool = False,
        allow_xref: bool = True,
        target_prefix: tuple[str, ...] = (),
    ) -> tuple[Compiled, ExpressionCompiler] | None:
        """Parse and compile one expression, recording any problem; None on failure."""
        if not isinstance(text, str):
            self.problem(f"expected an expression (text), got {brief(text)}", path, None, pos)
            return None
        try:
            parsed = parse_expression(text)
        except ExpressionSyntaxError as exc:
            self.problem(exc.message, path, text, _at(pos, text, exc.offset))
            return None
        compiler = ExpressionCompiler(
            parsed, self.env, allow_xref=allow_xref, line_origins=origins, soft=soft
        )
        try:
            compiled = compiler.compile()
        except ExpressionCompileError as exc:
            offset = parsed.start(exc.node) if exc.node is not None else 0
            self.problem(exc.message, path, text, _at(pos, text, offset))
            return None
        if "source" in compiler.whole_roots:
            self.out.whole_source = True
        uses = {}
        for ref in compiler.paths:
            use = PathUse(ref, path, text, _at(pos, text, ref.offset))
            uses[id(ref)] = use
            self.out.paths.append(use)
        for ref, kinds, name in compiler.arg_kinds:
            self.out.arg_kinds.append((uses[id(ref)], kinds, name))
        for ref, values in compiler.compared:
            self.out.compared.append((uses[id(ref)], values))
        for stack, key, offset in compiler.targets:
            steps = (*target_prefix, *stack, key)
            self.out.targets.append(
                TargetUse(steps, FieldType.UNKNOWN, _at(pos, text, offset), text)
            )
        return compiled, compiler

    def rules(
        self,
        rules: Mapping[str, object],
        prefix: tuple[str, ...],
        origins: Sequence[PathRef | None],
    ) -> list[FieldPlan]:
        plans: list[FieldPlan] = []
        written: dict[str, str] = {}
        for raw_key, raw in rules.items():
            self.count += 1
            key = self.env_target(str(raw_key))
            path = ".".join((*prefix, str(raw_key)))
            if self.count > MAX_RULES:
                self.problem(f"more than {MAX_RULES} rules", path, None, self.pos_of(path))
                return plans
            if key in written:
                self.problem(
                    f"target field {key!r} is mapped twice ({written[key]} and {raw_key})",
                    path,
                    None,
                    self.pos_of(path),
                )
                continue
            written[key] = str(raw_key)
            plan = self.rule(key, path, raw, (*prefix, key), origins)
            if plan is not None:
                plans.append(plan)
        return plans

    def env_target(self, key: str) -> str:
        return self.spec.target_aliases.canonical(key)

    def rule(
        self,
        key: str,
        path: str,
        raw: object,
        steps: tuple[str, ...],
        origins: Sequence[PathRef | None],
    ) -> FieldPlan | None:
        pos = self.pos_of(path)
        if isinstance(raw, str):
            found = self.expression(raw, path, pos, origins, target_prefix=steps)
            if found is None:
                return None
            compiled = found[0]
            self.out.targets.append(TargetUse(steps, compiled.kind, pos, raw))
            self._collect(compiled)
            return FieldPlan(key, path, raw, raw, compiled.fn, compiled.kind, compiled=compiled)
        if raw is None or isinstance(raw, bool | int | float | Decimal):
            value: object = raw
            if isinstance(raw, float):
                value = Decimal(repr(float(raw)))
            elif isinstance(raw, int) and not isinstance(raw, bool):
                value = int(raw)  # YAML loaders give int subclasses (hex, octal)
            const = constant(value)
            self.out.targets.append(TargetUse(steps, const.kind, pos, None))
            return FieldPlan(key, path, brief(value), None, const.fn, const.kind)
        if isinstance(raw, Mapping):
            return self.form(key, path, raw, steps, origins)
        self.problem(
            f"a rule is an expression, a constant or a mapping, not {type(raw).__name__}",
            path,
            None,
            pos,
        )
        return None

    def _collect(self, compiled: Compiled) -> None:
        self.levels[-1].extend(compiled.collectors)

    def form(
        self,
        key: str,
        path: str,
        raw: Mapping[object, object],
        steps: tuple[str, ...],
        origins: Sequence[PathRef | None],
    ) -> FieldPlan | None:
        pos = self.pos_of(path)
        for k in raw:
            if str(k) not in _FORM_KEYS:
                close = difflib.get_close_matches(str(k), _FORM_KEYS, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                self.problem(
                    f"unknown key {k!r} in rule (allowed: {', '.join(_FORM_KEYS)}){hint}",
                    path,
                    None,
                    pos,
                )
                return None
        if "each" in raw:
            return self.lines(key, path, raw, steps, origins)
        if ("expr" in raw) == ("const" in raw):
            self.problem("a rule mapping needs exactly one of expr or const", path, None, pos)
            return None
        required = raw.get("required", False)
        if not isinstance(required, bool):
            self.problem("required must be true or false", path, None, pos)
            return None
        has_default = "default" in raw
        default = raw.get("default")
        if "expr" in raw:
            found = self.expression(
                raw["expr"], path, self.pos_of(path, "expr"), origins, soft=has_default,
                target_prefix=steps,
            )  # fmt: skip
            if found is None:
                return None
            base = found[0]
            expression: str = str(raw["expr"])
        else:
            base = constant(raw["const"])
            expression = brief(raw["const"])
        when_fn: Evaluator | None = None
        if "when" in raw:
            found_when = self.expression(raw["when"], path, self.pos_of(path, "when"), origins)
            if found_when is None:
                return None
            when_fn = found_when[0].fn
            self._collect(found_when[0])
        self._collect(base)
        self.out.targets.append(TargetUse(steps, base.kind, pos, expression))
        fn = _field_fn(base.fn, when_fn, has_default, default, required, expression)
        rule = expression + "".join(
            f"  [{k}: {brief(raw[k]) if k != 'when' else raw[k]}]"
            for k in ("default", "required", "when")
            if k in raw
        )
        return FieldPlan(key, path, rule, expression, fn, base.kind, when_fn is not None)

    def lines(
        self,
        key: str,
        path: str,
        raw: Mapping[object, object],
        steps: tuple[str, ...],
        origins: Sequence[PathRef | None],
    ) -> FieldPlan | None:
        pos = self.pos_of(path, "each")
        nested = raw.get("map")
        extra = {str(k) for k in raw} - {"each", "map", "when", "required", "note"}
        if not isinstance(nested, Mapping) or extra:
            self.problem(
                "nested lines are {each: <list>, map: {field: rule, ...}, when: <filter>}",
                path,
                None,
                pos,
            )
            return None
        found = self.expression(raw["each"], path, pos, origins)
        if found is None:
            return None
        lines, lines_compiler = found
        text = str(raw["each"])
        tree_is_path = lines_compiler.paths and lines_compiler.paths[-1].offset == 0
        origin = lines_compiler.paths[-1] if tree_is_path else None
        try:
            check_nested_lines(len(origins), origin, None)
        except ExpressionCompileError as exc:
            self.problem(exc.message, path, text, pos)
            return None
        inner_origins = (*origins, origin)
        skips = self.env.skip_lookups
        self.levels.append([])
        try:
            plans = self.rules({str(k): v for k, v in nested.items()}, steps, inner_origins)
            when: Compiled | None = None
            if "when" in raw:
                found_when = self.expression(
                    raw["when"], path, self.pos_of(path, "when"), inner_origins
                )
                if found_when is None:
                    return None
                when = found_when[0]
                self._collect(when)
        finally:
            inner = tuple(self.levels.pop())
        item = Compiled(_record_fn(plans), FieldType.OBJECT, collectors=inner)
        self._collect(lines)
        self.levels[-1].extend(each_collectors(lines.fn, item, None))
        fn = each_closure(
            lines.fn,
            item.fn,
            when.fn if when else None,
            text,
            has_skips=self.env.skip_lookups > skips,
        )
        if raw.get("required") is True:
            fn = _field_fn(fn, None, False, None, True, text)
        self.out.targets.append(TargetUse(steps, FieldType.LINES, pos, text))
        return FieldPlan(key, path, f"each({text}) {{{len(plans)} fields}}", text, fn,
                         FieldType.LINES)  # fmt: skip


def _record_fn(plans: Sequence[FieldPlan]) -> Evaluator:
    plan = tuple((p.name, p.fn, p.expression) for p in plans)
    expressions = {p.name: p.expression for p in plans}

    def record(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
        out: dict[str, object] = {}
        name = ""
        try:
            for name, fn, _ in plan:
                value = fn(s, l, x)
                if value is not OMIT:
                    out[name] = value
        except FieldMappingError as exc:
            exc.nest(name)
            if exc.expression is None:
                exc.expression = expressions.get(name)
            raise
        return out

    return record


def _field_fn(
    base: Evaluator,
    when: Evaluator | None,
    has_default: bool,
    default: object,
    required: bool,
    expression: str,
) -> Evaluator:
    def field_value(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
        if when is not None and not when(s, l, x):
            return OMIT
        value = base(s, l, x)
        if has_default and is_blank(value):
            value = default
        if required and is_blank(value):
            raise FieldMappingError(
                f"a value is required but {expression} is empty", value=value, source=expression
            )
        return value

    return field_value


def _at(pos: SourcePos | None, text: str, offset: int) -> SourcePos | None:
    if pos is None:
        return None
    before = text[: max(0, min(offset, len(text)))]
    line = before.count("\n")
    return pos.at(line, offset - (before.rfind("\n") + 1))


def analyse(spec: MappingSpec, env: Environment) -> Analysis:
    """Compile every rule and the flow's filter; collect problems instead of stopping."""
    compiler = _RuleCompiler(spec, env)
    compiler.out.fields = compiler.rules(spec.rules, (), ())
    compiler.out.collectors = tuple(compiler.levels[0])
    compiler.out.rule_paths = len(compiler.out.paths)
    if spec.when is not None:
        found = compiler.expression(
            spec.when, "when", spec.when_pos or spec.positions.get("@when"), (), allow_xref=False
        )
        if found is not None:
            compiler.out.when = found[0].fn
    return compiler.out
