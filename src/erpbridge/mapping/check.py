"""``validate`` for mappings: every problem at once, against the systems' schemas.

Beyond what compiling finds (syntax, unknown functions, names, tables, bad constant
arguments), this checks the source paths and the target fields against ``describe()``
(or a schema file) with did-you-mean, the types it can see (a date field given to
``money()``, lines written into a text field), literals compared with a picklist field,
and required target fields left unmapped.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal

from erpbridge.mapping.aliases import Aliases
from erpbridge.mapping.compiled import analyse_spec
from erpbridge.mapping.errors import Problem, Severity
from erpbridge.mapping.nodes import PathRef
from erpbridge.mapping.rules import Analysis, PathUse, TargetUse
from erpbridge.mapping.spec import MappingSpec
from erpbridge.spi.schema import Field, FieldType, ObjectSchema

__all__ = ["check_mapping", "kinds_compatible"]

_NUMERIC = frozenset({FieldType.INTEGER, FieldType.DECIMAL})
_OPEN = frozenset({FieldType.UNKNOWN, FieldType.OBJECT})
# target field type -> value kinds that cannot go there
_REFUSED: dict[FieldType, frozenset[FieldType]] = {
    FieldType.INTEGER: frozenset({FieldType.BOOLEAN, FieldType.DATE, FieldType.LINES}),
    FieldType.DECIMAL: frozenset({FieldType.BOOLEAN, FieldType.DATE, FieldType.LINES}),
    FieldType.BOOLEAN: frozenset({FieldType.DECIMAL, FieldType.DATE, FieldType.LINES}),
    FieldType.DATE: frozenset({FieldType.DECIMAL, FieldType.BOOLEAN, FieldType.LINES,
                               FieldType.REFERENCE}),
    FieldType.DATETIME: frozenset({FieldType.DECIMAL, FieldType.BOOLEAN, FieldType.LINES,
                                   FieldType.REFERENCE}),
    FieldType.TIME: frozenset({FieldType.DECIMAL, FieldType.BOOLEAN, FieldType.LINES,
                               FieldType.REFERENCE}),
    FieldType.STRING: frozenset({FieldType.LINES}),
    FieldType.TEXT: frozenset({FieldType.LINES}),
    FieldType.PICKLIST: frozenset({FieldType.LINES}),
    FieldType.REFERENCE: frozenset({FieldType.LINES, FieldType.DECIMAL, FieldType.BOOLEAN}),
}  # fmt: skip


def kinds_compatible(value_kind: FieldType, field_type: FieldType) -> bool:
    """False when a value of ``value_kind`` clearly cannot go into a ``field_type`` field."""
    if value_kind in _OPEN or field_type in _OPEN:
        return True
    if field_type == FieldType.LINES:
        return value_kind == FieldType.LINES
    return value_kind not in _REFUSED.get(field_type, frozenset())


def check_mapping(
    spec: MappingSpec,
    source_schema: ObjectSchema | None = None,
    target_schema: ObjectSchema | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
) -> list[Problem]:
    """Every problem of a mapping, errors and warnings, in rule order.

    Args:
        spec: the mapping.
        source_schema: the source object as ``describe()`` (or a schema file) gives it;
            None skips the source checks.
        target_schema: the target object; None skips the target checks.

    Returns:
        Problems; the mapping compiles when none has severity ``"error"``.
    """
    analysis, _ = analyse_spec(spec, clock)
    problems = list(analysis.problems)
    # An open schema (fields not known in advance) cannot say a name is unknown.
    if source_schema is not None and not source_schema.is_open:
        problems += _check_sources(spec, analysis, source_schema)
    if target_schema is not None and not target_schema.is_open:
        problems += _check_targets(spec, analysis, target_schema)
    return problems


class _SourceResolver:
    def __init__(self, schema: ObjectSchema, aliases: Aliases) -> None:
        self.schema = schema
        self.aliases = aliases

    def field_of(self, schema: ObjectSchema, name: str) -> Field | None:
        found = schema.field(name)
        for other in self.aliases.others(name) if found is None else ():
            found = schema.field(other)
            if found is not None:
                break
        return found

    def resolve(self, ref: PathRef) -> tuple[Field | None, str | None]:
        """(the field the path ends on, or None; a problem message, or None)."""
        schema: ObjectSchema | None = self.schema
        if ref.root == "line":
            schema = self.lines_schema(ref.origin)
        current: Field | None = None
        steps = list(ref.steps)
        i = 0
        while i < len(steps):
            step = steps[i]
            if schema is None:
                return None, None  # beyond what the schema describes
            if isinstance(step, int):
                return None, None
            current = self.field_of(schema, step)
            if current is None:
                names = [f.name for f in schema.fields] + [
                    f.label for f in schema.fields if f.label
                ]
                close = difflib.get_close_matches(step, names, n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                where = _prefix(ref, i)
                return None, f"{schema.name} has no field {step!r} ({where}){hint}"
            i += 1
            if i < len(steps):
                if current.type == FieldType.LINES:
                    if isinstance(steps[i], int):
                        i += 1
                        schema = current.lines
                        continue
                    return None, (
                        f"{_prefix(ref, i - 1)} is a list of lines: use each() or an index [0]"
                    )
                if current.type in _OPEN or current.type == FieldType.REFERENCE:
                    schema = current.lines
                    continue
                return None, f"{_prefix(ref, i - 1)} is a {current.type.value} field, not a record"
        return current, None

    def lines_schema(self, origin: PathRef | None) -> ObjectSchema | None:
        if origin is None:
            return None
        field, _ = self.resolve(origin)
        if field is None or field.type != FieldType.LINES:
            return None
        return field.lines


def _prefix(ref: PathRef, last: int) -> str:
    return PathRef(ref.root, ref.steps[: last + 1], None, 0).text()


def _check_sources(spec: MappingSpec, analysis: Analysis, schema: ObjectSchema) -> list[Problem]:
    resolver = _SourceResolver(schema, spec.aliases)
    out: list[Problem] = []
    seen: set[tuple[str, str, int]] = set()
    for use in analysis.paths:
        key = (use.target_field, use.expression, use.ref.offset)
        if key in seen:
            continue
        seen.add(key)
        _, message = resolver.resolve(use.ref)
        if message:
            out.append(_problem(spec, use, message))
    for use, kinds, name in analysis.arg_kinds:
        field, _ = resolver.resolve(use.ref)
        if field is not None and field.type not in kinds and field.type not in _OPEN:
            out.append(_problem(
                spec, use, f"{name}(): {use.ref.text()} is a {field.type.value} field",
            ))  # fmt: skip
    for use, values in analysis.compared:
        field, _ = resolver.resolve(use.ref)
        if field is None:
            continue
        mismatch = _literal_mismatch(field, values)
        if mismatch:
            out.append(_problem(spec, use, mismatch, "warning"))
        if not field.picklist:
            continue
        for value in values:
            if isinstance(value, str) and value not in field.picklist:
                close = difflib.get_close_matches(value, list(field.picklist), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                out.append(_problem(
                    spec, use,
                    f"{value!r} is not a value of picklist {use.ref.text()}{hint}",
                    "warning",
                ))  # fmt: skip
    return out


_TEXTUAL = frozenset({FieldType.STRING, FieldType.TEXT, FieldType.PICKLIST, FieldType.REFERENCE})


def _literal_mismatch(field: Field, values: tuple[object, ...]) -> str | None:
    """A comparison that can never be true because nothing converts (``"1" == 1``)."""
    for value in values:
        is_number = isinstance(value, int | Decimal) and not isinstance(value, bool)
        if field.type in _TEXTUAL and is_number:
            return (
                f"{field.name} is a {field.type.value} field: comparing it with the number "
                f'{value} is never true (write "{value}")'
            )
        if field.type in _NUMERIC and isinstance(value, str):
            return (
                f"{field.name} is a {field.type.value} field: comparing it with the text "
                f"{value!r} is never true (write {value} or number(...))"
            )
    return None


def _problem(
    spec: MappingSpec, use: PathUse, message: str, severity: Severity = "error"
) -> Problem:
    return Problem(severity, message, spec.flow, use.target_field, use.expression, use.pos)


def _target_field(schema: ObjectSchema, steps: Iterable[str]) -> tuple[Field | None, str | None]:
    current_schema: ObjectSchema | None = schema
    current: Field | None = None
    parts = list(steps)
    for i, step in enumerate(parts):
        if current_schema is None:
            return None, None
        current = current_schema.field(step)
        if current is None:
            names = [f.name for f in current_schema.fields]
            close = difflib.get_close_matches(step, names, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            return None, f"target {current_schema.name} has no field {step!r}{hint}"
        if i < len(parts) - 1:
            current_schema = current.lines
    return current, None


def _check_targets(spec: MappingSpec, analysis: Analysis, schema: ObjectSchema) -> list[Problem]:
    out: list[Problem] = []
    for use in analysis.targets:
        field, message = _target_field(schema, use.steps)
        path = ".".join(use.steps)
        if message:
            out.append(_target_problem(spec, use, path, message))
            continue
        if field is None:
            continue
        if field.read_only:
            out.append(_target_problem(
                spec, use, path, f"{field.name} is read-only in the target", "warning"
            ))  # fmt: skip
        if not kinds_compatible(use.kind, field.type):
            out.append(_target_problem(
                spec, use, path,
                f"a {use.kind.value} value cannot go into {field.name} ({field.type.value})",
            ))  # fmt: skip
    mapped = {spec.target_aliases.canonical(str(k)) for k in spec.rules}
    for name in list(mapped):
        found = schema.field(name)
        if found is not None:
            mapped.add(found.name)
    for field in schema.fields:
        unmapped = field.name not in mapped and field.label not in mapped
        if field.required and not field.read_only and unmapped and field.name != schema.id_field:
            out.append(Problem(
                "warning", f"required target field {field.name} is not mapped", spec.flow,
                field.name, None, None,
            ))  # fmt: skip
    return out


def _target_problem(
    spec: MappingSpec, use: TargetUse, path: str, message: str, severity: Severity = "error"
) -> Problem:
    return Problem(severity, message, spec.flow, path, use.expression, use.pos)
