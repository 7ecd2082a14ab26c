"""The SOQL subset the simulator understands: parse, check against the schema, evaluate.

Supported: ``SELECT`` field lists with dotted parent fields (``Account.Name``) and
``COUNT()``; ``FROM`` one object; ``WHERE`` with ``= != <> < <= > >= LIKE IN NOT IN``,
``AND``/``OR``/``NOT`` and parentheses; literals: quoted strings, numbers, ``true``/
``false``/``null``, unquoted dates and datetimes (``2024-05-01T10:15:00Z``, ``+08:00``);
``ORDER BY`` several fields with ``ASC``/``DESC`` and ``NULLS FIRST``/``LAST``; ``LIMIT``;
``OFFSET``; the date literals ``TODAY``, ``YESTERDAY``, ``TOMORROW``, ``LAST_N_DAYS:n`` and
``NEXT_N_DAYS:n`` (UTC days: the simulated org's time zone is UTC); one level of child
sub-queries in the SELECT list (``(SELECT Id, Quantity FROM OrderItems ORDER BY … LIMIT …)``).
Not supported (answered ``MALFORMED_QUERY`` naming the construct): aggregates other
than ``COUNT()``, ``GROUP BY``, other date literals (``THIS_MONTH`` …), bind variables,
``TYPEOF``, ``WITH``, ``FOR UPDATE``. The parser is :mod:`.soql_parser`.

Salesforce semantics copied: keywords and field names are case-insensitive; ``=`` and
``LIKE`` on text compare case-insensitively; datetimes compare as instants; ``ASC`` sorts
nulls first and ``DESC`` nulls last unless told otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from erpbridge.sims.salesforce.schema import (
    NUMBER_TYPES,
    FieldDef,
    ObjectDef,
    child_relationship,
    object_def,
)
from erpbridge.sims.salesforce.soql_parser import (
    Bool,
    Compare,
    DateLiteral,
    Expr,
    In,
    Parsed,
    Parser,
    Path,
    SoqlError,
    format_datetime,
)

__all__ = [
    "BoundChild",
    "BoundQuery",
    "ParentLookup",
    "Row",
    "SoqlError",
    "format_datetime",
    "parse_query",
]

Row = Mapping[str, object]
#: finds a record's parent through a reference field (None when the reference is empty).
ParentLookup = Callable[[FieldDef, Row], Row | None]

# --- binding and evaluation ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Resolved:
    """A path checked against the schema: reference hops, then the final field."""

    hops: tuple[FieldDef, ...]
    field: FieldDef
    label: tuple[str, ...]  # canonical names, relationship names for the hops


@dataclass(frozen=True, slots=True)
class BoundChild:
    """A child sub-query: its relationship name, the child's reference field, its query."""

    name: str
    link: FieldDef
    query: BoundQuery


@dataclass(slots=True)
class BoundQuery:
    """A parsed query checked against the schema, ready to run on records."""

    sobject: ObjectDef
    count_only: bool
    fields: list[_Resolved]
    where: Expr | None
    order: list[tuple[_Resolved, bool, bool]]
    limit: int | None
    offset: int
    _resolved: dict[tuple[str, ...], _Resolved]
    children: list[BoundChild] = field(default_factory=list)
    today: date = field(default_factory=lambda: datetime.now(UTC).date())

    def matches(self, row: Row, parent: ParentLookup) -> bool:
        """True when ``row`` satisfies the WHERE clause."""
        return self.where is None or self._eval(self.where, row, parent)

    def lower_bound(self, name: str) -> str | None:
        """The value every matching row's datetime field ``name`` (on the object itself)
        reaches, when the WHERE requires it (``name >= literal`` or ``name > literal``,
        alone or among ANDed terms); else None. Rows below it cannot match: the org reads
        only the rows from there on (``OrgState.query``) and still checks each whole."""
        if self.where is None:
            return None
        where = self.where
        terms = where.items if isinstance(where, Bool) and where.op == "AND" else (where,)
        found: str | None = None
        for term in terms:
            if not isinstance(term, Compare) or term.op not in (">=", ">"):
                continue
            if isinstance(term.value, DateLiteral):
                continue
            path = self._resolved[term.path.parts]
            if path.hops or path.field.name != name or path.field.type != "datetime":
                continue
            want = _comparable(path.field, term.value)
            if isinstance(want, str) and (found is None or want > found):
                found = want
        return found

    def value(self, path: _Resolved, row: Row, parent: ParentLookup) -> object:
        """The value of a resolved path on ``row`` (None through an empty reference)."""
        current: Row | None = row
        for hop in path.hops:
            current = parent(hop, current) if current is not None else None
        return None if current is None else current.get(path.field.name)

    def sort_key(self, parent: ParentLookup) -> Callable[[Row], tuple[object, ...]]:
        """A key function implementing ORDER BY (stable on Id for ties)."""

        def key(row: Row) -> tuple[object, ...]:
            parts: list[object] = []
            for path, desc, nulls_last in self.order:
                v = _sortable(path.field, self.value(path, row, parent))
                is_null = v is None
                null_rank = 1 if is_null == nulls_last else 0
                parts.extend((null_rank, _Desc(v) if desc else _Asc(v)))
            return tuple(parts)

        return key

    def _range(self, literal: DateLiteral, f: FieldDef) -> tuple[str, str]:
        first, after = literal_range(literal, self.today)
        if f.type == "date":
            return first.isoformat(), after.isoformat()
        midnight = datetime.min.time()
        return (
            format_datetime(datetime.combine(first, midnight, tzinfo=UTC)),
            format_datetime(datetime.combine(after, midnight, tzinfo=UTC)),
        )

    def _eval(self, expr: Expr, row: Row, parent: ParentLookup) -> bool:
        if isinstance(expr, Bool):
            if expr.op == "AND":
                return all(self._eval(e, row, parent) for e in expr.items)
            if expr.op == "OR":
                return any(self._eval(e, row, parent) for e in expr.items)
            return not self._eval(expr.items[0], row, parent)
        path = self._resolved[expr.path.parts]
        actual = _comparable(path.field, self.value(path, row, parent))
        if isinstance(expr, In):
            wanted = {_comparable(path.field, v) for v in expr.values}
            return (actual in wanted) != expr.negate
        if isinstance(expr.value, DateLiteral):
            return _in_range(expr.op, actual, self._range(expr.value, path.field))
        want = _comparable(path.field, expr.value)
        if expr.op == "=":
            return actual == want
        if expr.op == "!=":
            return actual != want
        if actual is None or want is None:
            return False
        if expr.op == "LIKE":
            return _like(str(want)).fullmatch(str(actual)) is not None
        try:
            return bool(
                {
                    "<": actual < want,  # type: ignore[operator]  # same type after _comparable
                    "<=": actual <= want,  # type: ignore[operator]
                    ">": actual > want,  # type: ignore[operator]
                    ">=": actual >= want,  # type: ignore[operator]
                }[expr.op]
            )
        except TypeError:
            return False


def _in_range(op: str, actual: object, bounds: tuple[str, str]) -> bool:
    """SOQL date-literal comparison: ``=`` means inside [start, end), ``<`` before start …"""
    if not isinstance(actual, str):
        return op == "!="
    start, end = bounds
    return {
        "=": start <= actual < end,
        "!=": not start <= actual < end,
        "<": actual < start,
        "<=": actual < end,
        ">": actual >= end,
        ">=": actual >= start,
    }.get(op, False)


def literal_range(literal: DateLiteral, today: date) -> tuple[date, date]:
    """The [first day, day after the last) a date literal covers (UTC days)."""
    day = timedelta(days=1)
    return {
        "TODAY": (today, today + day),
        "YESTERDAY": (today - day, today),
        "TOMORROW": (today + day, today + 2 * day),
        "LAST_N_DAYS": (today - literal.n * day, today + day),
        "NEXT_N_DAYS": (today + day, today + (literal.n + 1) * day),
    }[literal.name]


class _Asc:
    __slots__ = ("v",)

    def __init__(self, v: object) -> None:
        self.v = v

    def __lt__(self, other: _Asc) -> bool:
        if self.v is None or other.v is None:
            return False
        return bool(self.v < other.v)  # type: ignore[operator]  # one field, one type

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Asc) and self.v == other.v

    __hash__ = None  # type: ignore[assignment]  # sort keys only


class _Desc(_Asc):
    __slots__ = ()

    def __lt__(self, other: _Asc) -> bool:
        if self.v is None or other.v is None:
            return False
        return bool(other.v < self.v)  # type: ignore[operator]  # one field, one type


def _like(pattern: str) -> re.Pattern[str]:
    regex = "".join(
        ".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern.lower()
    )
    return re.compile(regex, re.IGNORECASE | re.DOTALL)


def _comparable(f: FieldDef, value: object) -> object:
    if value is None:
        return None
    if f.type in ("id", "reference") and isinstance(value, str):
        return value[:15]  # 15- and 18-character ids name the same record
    if f.type in NUMBER_TYPES and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and f.type not in ("date", "datetime"):
        return value.lower()  # SOQL text comparison is case-insensitive
    return value


def _sortable(f: FieldDef, value: object) -> object:
    if isinstance(value, str) and f.type not in ("id", "reference", "date", "datetime"):
        return value.lower()
    return value


def _resolve(obj: ObjectDef, path: Path, text: str) -> _Resolved:
    current = obj
    hops: list[FieldDef] = []
    label: list[str] = []
    for part in path.parts[:-1]:
        ref = current.relationship(part)
        target = object_def(ref.reference_to) if ref and ref.reference_to else None
        if ref is None or target is None:
            _invalid_field(text, path, obj, part)
        hops.append(ref)  # type: ignore[arg-type]  # _invalid_field raised when None
        label.append(ref.relationship)  # type: ignore[union-attr,arg-type]  # checked above
        current = target  # type: ignore[assignment]  # checked above
    f = current.field(path.parts[-1])
    if f is None:
        _invalid_field(text, path, current, path.parts[-1])
    label.append(f.name)  # type: ignore[union-attr]  # _invalid_field raised when None
    return _Resolved(tuple(hops), f, tuple(label))  # type: ignore[arg-type]  # checked above


def _invalid_field(text: str, path: Path, obj: ObjectDef, name: str) -> None:
    pointer = " " * (path.column - 1) + "^"
    raise SoqlError(
        "INVALID_FIELD",
        f"\n{text}\n{pointer}\nERROR at Row:1:Column:{path.column}\n"
        f"No such column '{name}' on entity '{obj.name}'. If you are attempting to use a "
        "custom field, be sure to append the '__c' after the custom field name. Please "
        "reference your WSDL or the describe call for the appropriate names.",
    )


def _paths(expr: Expr | None) -> list[Path]:
    if expr is None:
        return []
    if isinstance(expr, Bool):
        return [p for e in expr.items for p in _paths(e)]
    return [expr.path]


def parse_query(text: str, *, now: datetime | None = None) -> BoundQuery:
    """Parse ``text`` and check it against the simulated schema.

    Raises:
        SoqlError: ``MALFORMED_QUERY``, ``INVALID_TYPE`` or ``INVALID_FIELD`` with
            Salesforce's message layout (query, caret, row and column).
    """
    if not text.strip():
        raise SoqlError("MALFORMED_QUERY", "unexpected token: <EOF>")
    parsed = Parser(text).parse()
    obj = object_def(parsed.object)
    if obj is None:
        pointer = " " * (parsed.object_column - 1) + "^"
        raise SoqlError(
            "INVALID_TYPE",
            f"\n{text}\n{pointer}\nERROR at Row:1:Column:{parsed.object_column}\n"
            f"sObject type '{parsed.object}' is not supported. If you are attempting to use a "
            "custom object, be sure to append the '__c' after the entity name. Please "
            "reference your WSDL or the describe call for the appropriate names.",
        )
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    return _bind(parsed, obj, text, today)


def _bind(parsed: Parsed, obj: ObjectDef, text: str, today: date) -> BoundQuery:
    resolved: dict[tuple[str, ...], _Resolved] = {}
    order_paths = [p for p, _, _ in parsed.order]
    for p in [*parsed.fields, *_paths(parsed.where), *order_paths]:
        if p.parts not in resolved:
            resolved[p.parts] = _resolve(obj, p, text)
    _check_literals(parsed.where, resolved, text)
    seen: set[tuple[str, ...]] = set()
    fields = []
    for p in parsed.fields:
        r = resolved[p.parts]
        if r.label not in seen:  # Salesforce ignores a repeated field
            seen.add(r.label)
            fields.append(r)
    children = []
    for sub in parsed.subqueries:
        found = child_relationship(obj.name, sub.relationship)
        if found is None:
            pointer = " " * (sub.column - 1) + "^"
            raise SoqlError(
                "INVALID_TYPE",
                f"\n{text}\n{pointer}\nERROR at Row:1:Column:{sub.column}\n"
                f"Didn't understand relationship '{sub.relationship}' in FROM part of query "
                "call. If you are attempting to use a custom relationship, be sure to append "
                "the '__r' after the custom relationship name. Please reference your WSDL or "
                "the describe call for the appropriate names.",
            )
        name, child, link = found
        children.append(BoundChild(name, link, _bind(sub.query, child, text, today)))
    return BoundQuery(
        sobject=obj,
        count_only=parsed.count_only,
        fields=fields,
        where=parsed.where,
        order=[(resolved[p.parts], d, n) for p, d, n in parsed.order],
        limit=parsed.limit,
        offset=parsed.offset,
        _resolved=resolved,
        children=children,
        today=today,
    )


def _check_literals(
    expr: Expr | None, resolved: Mapping[tuple[str, ...], _Resolved], text: str
) -> None:
    """Refuse comparisons Salesforce refuses: a quoted value against a datetime field."""
    if expr is None:
        return
    if isinstance(expr, Bool):
        for e in expr.items:
            _check_literals(e, resolved, text)
        return
    f = resolved[expr.path.parts].field
    values = expr.values if isinstance(expr, In) else (expr.value,)
    for v in values:
        if v is None:
            continue
        if isinstance(v, DateLiteral):
            if (
                f.type not in ("date", "datetime")
                or isinstance(expr, In)
                or (isinstance(expr, Compare) and expr.op == "LIKE")
            ):
                raise SoqlError(
                    "INVALID_FIELD",
                    f"\n{text}\nvalue of filter criterion for field '{f.name}' cannot be the "
                    f"date literal {v.name}",
                )
            continue
        if f.type == "datetime" and not (isinstance(expr, Compare) and expr.is_datetime):
            raise SoqlError(
                "INVALID_FIELD",
                f"\n{text}\nvalue of filter criterion for field '{f.name}' must be of type "
                "dateTime and should not be enclosed in quotes",
            )
        if f.type in NUMBER_TYPES and not isinstance(v, float):
            raise SoqlError(
                "INVALID_FIELD",
                f"\n{text}\nvalue of filter criterion for field '{f.name}' must be of type "
                f"{f.type} and should not be enclosed in quotes",
            )
