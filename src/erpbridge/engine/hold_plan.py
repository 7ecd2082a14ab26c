"""A flow's ``hold:`` compiled once: its expressions, the records it reads, its flag.

Expressions are compiled by the mapping language (:func:`erpbridge.mapping.scoped.
compile_scoped`) with the names ``source``, ``related`` and ``hold``, so a bad one is
reported by ``erpbridge validate`` at its file, line and column like a ``map:`` rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from erpbridge.config import Project
from erpbridge.config.errors import did_you_mean, located
from erpbridge.config.model import HoldSpec
from erpbridge.mapping.aliases import Aliases
from erpbridge.mapping.errors import MappingCompileError, Problem
from erpbridge.mapping.positions import expression_start
from erpbridge.mapping.scoped import ScopedExpression, compile_scoped
from erpbridge.mapping.tables import ValueTable
from erpbridge.mapping.types import SourcePos
from erpbridge.spi.errors import ConfigError
from erpbridge.spi.schema import Catalog, ObjectSchema

__all__ = ["FlagPlan", "HoldPlan", "RelatedPlan", "compile_hold", "hold_schema_problems"]

#: what hold expressions may read: the source record, the related records, the hold.
ROOTS = frozenset({"source", "related", "hold"})


@dataclass(frozen=True, slots=True)
class RelatedPlan:
    """A record the check reads: ``get()`` by id, or ``find()`` by ``key``, once per batch."""

    name: str
    connection: str
    object: str
    id: ScopedExpression
    key: str | None = None  # found by this field (find()) instead of by id (get())


@dataclass(frozen=True, slots=True)
class FlagPlan:
    """What is written onto a record while its job is held (``set``) and after (``clear``).

    Attributes:
        on_source: the flag record is the source record itself (so its fields show
            whether the flag is already as wanted, and no write is needed).
    """

    connection: str
    object: str
    id: ScopedExpression | None
    set: tuple[tuple[str, ScopedExpression], ...]
    clear: tuple[tuple[str, ScopedExpression], ...]
    on_source: bool


@dataclass(frozen=True, slots=True)
class HoldPlan:
    """One flow's hold, ready to run (docs/engine.md, "Holds")."""

    when: ScopedExpression
    reason: ScopedExpression | None
    release_when: ScopedExpression | None
    related: tuple[RelatedPlan, ...]
    recheck_s: float
    applies_to: str
    flag: FlagPlan | None


def _constant(flow: str, field: str, value: object) -> ScopedExpression:
    def const(s: object, l: object, x: object) -> object:  # noqa: E741
        return value

    return ScopedExpression(flow, field, repr(value), const)


def _name_problems(
    flow: str, expressions: Sequence[ScopedExpression], related: Sequence[str]
) -> list[Problem]:
    """``related.<name>`` must name a record under ``related:``; ``hold.`` has ``reason``."""
    problems = []
    for expr in expressions:
        for ref, pos in expr.paths:
            if ref.root != "scope" or len(ref.steps) < 2:
                continue
            root, name = ref.steps[0], str(ref.steps[1])
            if root == "related" and name not in related:
                listed = ", ".join(related) or "none"
                message = (
                    f"no related record {name!r} (related: {listed})"
                    f"{did_you_mean(name, list(related))}"
                )
            elif root == "hold" and name != "reason":
                message = f"hold.{name}: a hold offers hold.reason only"
            else:
                continue
            problems.append(Problem("error", message, flow, expr.field, expr.text, pos))
    return problems


def hold_schema_problems(
    project: Project, flow: str, hold: HoldPlan, catalogs: Mapping[str, Catalog]
) -> list[ConfigError]:
    """Fields a hold reads or flags that the systems' ``describe()`` does not have.

    For ``erpbridge validate --online``: ``source.X`` against the source object,
    ``related.<name>.X`` against that record's object, ``flag`` fields against the
    object the flag is written to. Objects a catalog does not describe are skipped.
    """
    spec = project.spec.flows[flow]

    def schema(connection: str, obj: str) -> ObjectSchema | None:
        catalog = catalogs.get(connection)
        found = catalog.objects.get(obj) if catalog is not None else None
        return None if found is None or found.is_open else found

    objects: dict[str, ObjectSchema | None] = {
        "source": schema(spec.source.connection, spec.source.object)
    }
    objects.update({f"related.{r.name}": schema(r.connection, r.object) for r in hold.related})
    expressions = [hold.when, hold.reason, hold.release_when, *(r.id for r in hold.related)]
    if hold.flag is not None:
        expressions += [
            hold.flag.id,
            *(e for _, e in hold.flag.set),
            *(e for _, e in hold.flag.clear),
        ]
    errors: list[ConfigError] = []
    for expr in (e for e in expressions if e is not None):
        for ref, pos in expr.paths:
            steps = [str(s) for s in ref.steps] if ref.root == "scope" else []
            base = steps[0] if steps[:1] == ["source"] else ".".join(steps[:2])
            rest = steps[1:] if base == "source" else steps[2:]
            target = objects.get(base)
            if target is None or not rest or target.field(rest[0]) is not None:
                continue
            hint = did_you_mean(rest[0], [f.name for f in target.fields])
            errors.append(
                ConfigError(
                    f"{target.name} has no field {rest[0]!r} ({ref.text()}){hint}",
                    path=pos.path if pos else str(project.path),
                    line=pos.line if pos else None,
                    column=pos.column if pos else None,
                    field=f"flows.{flow}.{expr.field}",
                )
            )
    flag = hold.flag
    target = schema(flag.connection, flag.object) if flag is not None else None
    if flag is not None and target is not None:
        for part, fields in (("set", flag.set), ("clear", flag.clear)):
            for name, _ in fields:
                if target.field(name) is None:
                    hint = did_you_mean(name, [f.name for f in target.fields])
                    errors.append(
                        located(
                            f"{target.name} has no field {name!r} to flag{hint}",
                            project.marks,
                            ("flows", flow, "hold", "flag", part, name),
                        )
                    )
    return errors


def compile_hold(project: Project, flow: str, tables: Mapping[str, ValueTable]) -> HoldPlan | None:
    """Compile ``flows.<flow>.hold`` (None when the flow has none).

    Raises:
        MappingCompileError: every bad expression, each at its file, line and column.
    """
    spec = project.spec.flows[flow]
    hold: HoldSpec | None = spec.hold
    if hold is None:
        return None
    try:
        lines = project.path.read_text(encoding="utf-8-sig").splitlines()
    except OSError:
        lines = []
    problems: list[Problem] = []
    aliases = Aliases(project.spec.aliases)

    def expr(text: object, *path: str) -> ScopedExpression | None:
        field = ".".join(("hold", *path))
        mark = project.marks.values.get(("flows", flow, "hold", *path))
        pos: SourcePos | None = None
        if mark is not None:
            pos = expression_start(str(project.path), mark[0], mark[1], lines)
        if not isinstance(text, str):
            return _constant(flow, field, text)
        try:
            return compile_scoped(
                text, flow=flow, field=field, roots=ROOTS, pos=pos, tables=tables, aliases=aliases
            )
        except MappingCompileError as exc:
            problems.extend(exc.problems)
            return None

    when = expr(hold.when, "when")
    reason = expr(hold.reason, "reason") if hold.reason is not None else None
    release = expr(hold.release_when, "release_when") if hold.release_when is not None else None
    related = []
    for name, rel in hold.related.items():
        found = expr(rel.id, "related", name, "id")
        if found is not None:
            connection = rel.connection or spec.source.connection
            related.append(RelatedPlan(name, connection, rel.object, found, rel.key))
    flag = None
    if hold.flag is not None:
        f = hold.flag
        sets = [(k, expr(v, "flag", "set", k)) for k, v in f.set.items()]
        clears = [(k, expr(v, "flag", "clear", k)) for k, v in f.clear.items()]
        flag_id = expr(f.id, "flag", "id") if f.id is not None else None
        connection = f.connection or spec.source.connection
        obj = f.object or spec.source.object
        flag = FlagPlan(
            connection,
            obj,
            flag_id,
            # a label (客户名称) is written under its wire name, as the record carries it
            tuple((aliases.canonical(k), e) for k, e in sets if e is not None),
            tuple((aliases.canonical(k), e) for k, e in clears if e is not None),
            on_source=f.id is None
            and connection == spec.source.connection
            and obj == spec.source.object,
        )
    names = list(hold.related)
    expressions = [when, reason, release, *(r.id for r in related)]
    if flag is not None:
        expressions += [flag.id, *(e for _, e in flag.set), *(e for _, e in flag.clear)]
    problems += _name_problems(flow, [e for e in expressions if e is not None], names)
    if problems or when is None:
        raise MappingCompileError(problems, flow=flow)
    return HoldPlan(
        when=when,
        reason=reason,
        release_when=release,
        related=tuple(related),
        recheck_s=hold.recheck.total_seconds(),
        applies_to=hold.applies_to,
        flag=flag,
    )
