"""Preview: source and target records side by side, field by field, never raising.

Each target field is evaluated on its own, so one broken field does not hide the others;
the values are those ``apply`` gives (a property test holds them equal). Nothing is
written anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, time
from decimal import Decimal

from erpbridge.mapping.compiled import CompiledMapping
from erpbridge.mapping.errors import (
    FieldMappingError,
    MappingError,
    MissingReference,
    SkippedReference,
)
from erpbridge.mapping.rules import OMIT
from erpbridge.mapping.types import Record, XrefMap
from erpbridge.spi.schema import Field, FieldType, ObjectSchema

__all__ = ["PreviewField", "PreviewRow", "check_value", "jsonable", "preview"]

_NO_XREFS: XrefMap = {}


@dataclass(frozen=True, slots=True)
class PreviewField:
    """One target field of one previewed record.

    Attributes:
        name: the target field.
        rule: the rule as written.
        value: the mapped value (None when ``error`` is set or the field is left out).
        omitted: the field's ``when:`` was false, so ``apply`` leaves it out.
        error: the mapping error for this field (the record would be dead-lettered, or
            parked when it is a missing xref).
        problems: the error, then what the target schema would refuse.
        skipped: why the engine would skip the record: a lookup of this field written
            ``missing="skip"`` has no target id (None otherwise).
    """

    name: str
    rule: str
    value: object
    omitted: bool = False
    error: str | None = None
    problems: tuple[str, ...] = ()
    skipped: str | None = None


@dataclass(frozen=True, slots=True)
class PreviewRow:
    """One source record, its target record and the per-field detail.

    Attributes:
        index: position in the input.
        source: the source record.
        accepted: the flow's ``when:`` is true (a false one means the engine skips it).
        target: the fields that mapped (equal to ``apply``'s output when ``ok``).
        fields: per target field detail, in rule order.
        problems: every problem of the record: filter, field errors, schema checks.
        missing_references: (entity, source id) pairs that have no target id yet.
        skipped: why the engine would skip the record, as ``apply`` decides: the first
            lookup written ``missing="skip"`` that has no target id, unless a mapping
            error comes before it (lookups that wait do not count); None otherwise. A
            record the ``when:`` filters out is ``accepted=False`` instead.
    """

    index: int
    source: Mapping[str, object]
    accepted: bool
    target: dict[str, object]
    fields: tuple[PreviewField, ...]
    problems: tuple[str, ...] = ()
    missing_references: tuple[tuple[str, str], ...] = field(default=())
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        """True when every field mapped (``apply`` would give the record)."""
        return self.skipped is None and all(f.error is None for f in self.fields)

    def to_json(self) -> dict[str, object]:
        """A JSON-safe form for ``erpbridge preview --json``."""
        return {
            "index": self.index,
            "accepted": self.accepted,
            "ok": self.ok,
            "skipped": self.skipped,
            "source": jsonable(self.source),
            "target": jsonable(self.target),
            "fields": [
                {
                    "name": f.name,
                    "rule": f.rule,
                    "value": jsonable(f.value),
                    "omitted": f.omitted,
                    "error": f.error,
                    "problems": list(f.problems),
                    "skipped": f.skipped,
                }
                for f in self.fields
            ],
            "problems": list(self.problems),
            "missing_references": [list(r) for r in self.missing_references],
        }


def preview(
    compiled: CompiledMapping,
    records: Iterable[Record],
    xrefs: XrefMap | None = None,
    *,
    target_schema: ObjectSchema | None = None,
) -> list[PreviewRow]:
    """Map sample records field by field; problems are collected, never raised.

    Args:
        compiled: the compiled mapping.
        records: source records (``Record.fields``).
        xrefs: resolved lookups; a lookup absent here shows as a missing reference.
        target_schema: when given, values are also checked against it (required, length,
            picklist, type).
    """
    lookups = xrefs or _NO_XREFS
    return [_row(compiled, i, r, lookups, target_schema) for i, r in enumerate(records)]


def _row(
    compiled: CompiledMapping,
    index: int,
    source: Record,
    xrefs: XrefMap,
    schema: ObjectSchema | None,
) -> PreviewRow:
    problems: list[str] = []
    try:
        accepted = compiled.accepts(source)
    except MappingError as exc:
        accepted = False
        problems.append(_reason(exc))
    fields: list[PreviewField] = []
    target: dict[str, object] = {}
    missing: list[tuple[str, str]] = []
    skipped: str | None = None
    failed = False  # a mapping error (not a wait) before any skip: apply reports it
    for plan in compiled.fields:
        try:
            value = compiled.apply_field(plan, source, xrefs)
        except SkippedReference as exc:
            reason = _reason(exc)
            skipped = skipped or (None if failed else reason)
            fields.append(PreviewField(plan.name, plan.rule, None, skipped=reason))
            continue
        except MappingError as exc:
            if isinstance(exc, MissingReference):
                missing.append((exc.entity, exc.source_id))
            else:
                failed = True
            reason = _reason(exc)
            problems.append(reason)
            fields.append(
                PreviewField(plan.name, plan.rule, None, error=reason, problems=(reason,))
            )
            continue
        if value is OMIT:
            fields.append(PreviewField(plan.name, plan.rule, None, omitted=True))
            continue
        target[plan.name] = value
        found = schema.field(plan.name) if schema is not None else None
        checks = tuple(f"{plan.name}: {p}" for p in check_value(found, value)) if found else ()
        problems.extend(checks)
        fields.append(PreviewField(plan.name, plan.rule, value, problems=checks))
    if schema is not None:
        for f in schema.fields:
            if (
                f.required
                and not f.read_only
                and f.name != schema.id_field
                and f.name not in target
            ):
                problems.append(f"{f.name}: required by the target but not mapped")
    return PreviewRow(index, source, accepted, target, tuple(fields), tuple(problems),
                      tuple(missing), skipped)  # fmt: skip


def _reason(exc: MappingError) -> str:
    if isinstance(exc, FieldMappingError):
        return f"{exc.target_field}: {exc.reason}" if exc.target_field else exc.reason
    return str(exc)


def check_value(field: Field, value: object) -> list[str]:
    """What the target would refuse in ``value`` for ``field`` (empty when fine)."""
    if value is None or value == "":
        return ["required by the target but empty"] if field.required else []
    problems: list[str] = []
    kind = field.type
    if kind in (FieldType.STRING, FieldType.TEXT, FieldType.PICKLIST) and isinstance(value, str):
        if field.max_length is not None and len(value) > field.max_length:
            problems.append(f"{len(value)} characters; the target allows {field.max_length}")
        if kind == FieldType.PICKLIST and field.picklist and value not in field.picklist:
            problems.append(f"{value!r} is not one of {', '.join(field.picklist)}")
    elif kind == FieldType.INTEGER and not _is_whole(value):
        problems.append(f"{value!r} is not a whole number")
    elif kind == FieldType.DECIMAL and not _is_number(value):
        problems.append(f"{value!r} is not a number")
    elif kind == FieldType.BOOLEAN and not isinstance(value, bool):
        problems.append(f"{value!r} is not true or false")
    elif kind == FieldType.LINES:
        if not isinstance(value, list):
            problems.append("is not a list of lines")
        elif field.lines is not None:
            problems.extend(_check_lines(field.lines, value))
    return problems


def _check_lines(schema: ObjectSchema, lines: Sequence[object]) -> list[str]:
    out: list[str] = []
    for i, line in enumerate(lines):
        if not isinstance(line, Mapping):
            continue
        for name, value in line.items():
            f = schema.field(str(name))
            if f is not None:
                out.extend(f"[{i}].{name}: {p}" for p in check_value(f, value))
    return out


def _is_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | Decimal | float):
        return True
    if isinstance(value, str):
        try:
            Decimal(value)
        except ArithmeticError:
            return False
        return value.strip() == value and value.lower() not in ("nan", "inf", "infinity")
    return False


def _is_whole(value: object) -> bool:
    if not _is_number(value):
        return False
    number = Decimal(str(value))
    return number == number.to_integral_value()


def jsonable(value: object) -> object:
    """A value as JSON can hold it: Decimal -> text (exact), dates -> ISO 8601."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return value
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return repr(value)
