"""The SOQL subset the simulator understands: parse, check against the schema, evaluate.

Supported: ``SELECT`` field lists with dotted parent fields (``Account.Name``) and
``COUNT()``; ``FROM`` one object; ``WHERE`` with ``= != <> < <= > >= LIKE IN NOT IN``,
``AND``/``OR``/``NOT`` and parentheses; literals: quoted strings, numbers, ``true``/
``false``/``null``, unquoted dates and datetimes (``2024-05-01T10:15:00Z``, ``+08:00``);
``ORDER BY`` several fields with ``ASC``/``DESC`` and ``NULLS FIRST``/``LAST``; ``LIMIT``;
``OFFSET``. Not supported (answered ``MALFORMED_QUERY`` naming the construct): child
sub-queries, aggregates other than ``COUNT()``, ``GROUP BY``, date literals such as
``TODAY``, bind variables, ``TYPEOF``, ``WITH``, ``FOR UPDATE``.

Salesforce semantics copied: keywords and field names are case-insensitive; ``=`` and
``LIKE`` on text compare case-insensitively; datetimes compare as instants; ``ASC`` sorts
nulls first and ``DESC`` nulls last unless told otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from erpbridge.sims.salesforce.schema import NUMBER_TYPES, FieldDef, ObjectDef, object_def

__all__ = ["BoundQuery", "SoqlError", "format_datetime", "parse_query"]

Row = Mapping[str, object]
#: finds a record's parent through a reference field (None when the reference is empty).
ParentLookup = Callable[[FieldDef, Row], Row | None]


class SoqlError(Exception):
    """A query Salesforce would refuse; ``code`` is its errorCode."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


_TOKEN = re.compile(
    r"""\s*(?:
    (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})(?![\d:T])
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*(?::\d+)?)
  | (?P<bad>\S)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str
    text: str
    column: int


def format_datetime(stamp: datetime) -> str:
    """Salesforce's datetime wire format: ``2024-05-01T10:15:00.000+0000`` (UTC)."""
    stamp = stamp.astimezone(UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}+0000"


def _parse_datetime_literal(text: str) -> str:
    normalized = text.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", normalized):
        normalized = normalized[:-2] + ":" + normalized[-2:]
    return format_datetime(datetime.fromisoformat(normalized))


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), body)


# --- expressions ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Path:
    parts: tuple[str, ...]
    column: int


@dataclass(frozen=True, slots=True)
class _Compare:
    path: _Path
    op: str
    value: object
    is_datetime: bool = False


@dataclass(frozen=True, slots=True)
class _In:
    path: _Path
    values: tuple[object, ...]
    negate: bool


@dataclass(frozen=True, slots=True)
class _Bool:
    op: str  # AND | OR | NOT
    items: tuple[_Expr, ...]


_Expr = _Compare | _In | _Bool


@dataclass(slots=True)
class _Parsed:
    fields: list[_Path] = field(default_factory=list)
    count_only: bool = False
    object: str = ""
    object_column: int = 0
    where: _Expr | None = None
    order: list[tuple[_Path, bool, bool]] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks: list[_Tok] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                break
            pos = m.end()
            kind = m.lastgroup or "bad"
            if kind == "bad":
                self._fail_at(m.start(kind) + 1, f"unexpected token: '{m[kind]}'")
            self.toks.append(_Tok(kind, m[kind], m.start(kind) + 1))
        self.i = 0

    def _fail_at(self, column: int, reason: str) -> None:
        pointer = " " * (column - 1) + "^"
        raise SoqlError(
            "MALFORMED_QUERY", f"\n{self.text}\n{pointer}\nERROR at Row:1:Column:{column}\n{reason}"
        )

    def _fail(self, reason: str | None = None) -> None:
        tok = self.peek()
        column = tok.column if tok else len(self.text) + 1
        shown = f"'{tok.text}'" if tok else "<EOF>"
        self._fail_at(column, reason or f"unexpected token: {shown}")

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def is_kw(self, *words: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "ident" and tok.text.upper() in words

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            self._fail()
            raise AssertionError  # unreachable: _fail raises
        self.i += 1
        return tok

    def expect_kw(self, word: str) -> None:
        if not self.is_kw(word):
            self._fail()
        self.i += 1

    def expect(self, text: str) -> None:
        tok = self.peek()
        if tok is None or tok.text != text:
            self._fail()
        self.i += 1

    def path(self) -> _Path:
        tok = self.take()
        if tok.kind != "ident" or ":" in tok.text:
            self.i -= 1
            self._fail()
        return _Path(tuple(tok.text.split(".")), tok.column)

    def parse(self) -> _Parsed:
        q = _Parsed()
        self.expect_kw("SELECT")
        while True:
            if self.is_kw("COUNT"):
                self.take()
                self.expect("(")
                if self.peek() is not None and self.peek().text != ")":  # type: ignore[union-attr]  # checked
                    self._fail("the simulator supports only COUNT() without a field")
                self.expect(")")
                q.count_only = True
            elif self.peek() is not None and self.peek().text == "(":  # type: ignore[union-attr]  # checked
                self._fail("child relationship sub-queries are not supported by the simulator")
            else:
                q.fields.append(self.path())
            tok = self.peek()
            if tok is not None and tok.text == ",":
                self.take()
                continue
            break
        if q.count_only and q.fields:
            self._fail("COUNT() cannot be combined with fields")
        self.expect_kw("FROM")
        obj = self.take()
        if obj.kind != "ident":
            self.i -= 1
            self._fail()
        q.object, q.object_column = obj.text, obj.column
        if self.is_kw("WHERE"):
            self.take()
            q.where = self.or_expr()
        if self.is_kw("GROUP", "HAVING", "WITH", "FOR", "USING"):
            self._fail(f"{self.peek().text.upper()} is not supported by the simulator")  # type: ignore[union-attr]  # checked
        if self.is_kw("ORDER"):
            self.take()
            self.expect_kw("BY")
            while True:
                p = self.path()
                desc = False
                if self.is_kw("ASC", "DESC"):
                    desc = self.take().text.upper() == "DESC"
                nulls_last = desc
                if self.is_kw("NULLS"):
                    self.take()
                    if not self.is_kw("FIRST", "LAST"):
                        self._fail()
                    nulls_last = self.take().text.upper() == "LAST"
                q.order.append((p, desc, nulls_last))
                tok = self.peek()
                if tok is None or tok.text != ",":
                    break
                self.take()
        if self.is_kw("LIMIT"):
            self.take()
            q.limit = self._int()
        if self.is_kw("OFFSET"):
            self.take()
            q.offset = self._int()
        if self.peek() is not None:
            self._fail()
        return q

    def _int(self) -> int:
        tok = self.take()
        if tok.kind != "number" or not tok.text.isdigit():
            self.i -= 1
            self._fail()
        return int(tok.text)

    def or_expr(self) -> _Expr:
        items = [self.and_expr()]
        while self.is_kw("OR"):
            self.take()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else _Bool("OR", tuple(items))

    def and_expr(self) -> _Expr:
        items = [self.not_expr()]
        while self.is_kw("AND"):
            self.take()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else _Bool("AND", tuple(items))

    def not_expr(self) -> _Expr:
        if self.is_kw("NOT"):
            self.take()
            return _Bool("NOT", (self.not_expr(),))
        tok = self.peek()
        if tok is not None and tok.text == "(":
            self.take()
            inner = self.or_expr()
            self.expect(")")
            return inner
        return self.condition()

    def condition(self) -> _Expr:
        p = self.path()
        if self.is_kw("IN", "NOT"):
            negate = self.take().text.upper() == "NOT"
            if negate:
                self.expect_kw("IN")
            self.expect("(")
            values = [self.literal()[0]]
            while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]  # checked
                self.take()
                values.append(self.literal()[0])
            self.expect(")")
            return _In(p, tuple(values), negate)
        if self.is_kw("LIKE"):
            self.take()
            value, _ = self.literal()
            return _Compare(p, "LIKE", value)
        tok = self.take()
        if tok.kind != "op":
            self.i -= 1
            self._fail()
        value, is_dt = self.literal()
        return _Compare(p, "!=" if tok.text == "<>" else tok.text, value, is_dt)

    def literal(self) -> tuple[object, bool]:
        tok = self.take()
        if tok.kind == "string":
            return _unquote(tok.text), False
        if tok.kind == "datetime":
            return _parse_datetime_literal(tok.text), True
        if tok.kind == "date":
            return tok.text, False
        if tok.kind == "number":
            return float(tok.text), False
        if tok.kind == "ident" and tok.text.lower() in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[tok.text.lower()], False
        if tok.kind == "ident":
            self.i -= 1
            self._fail(
                f"date literal or bind variable '{tok.text}' is not supported by the simulator"
            )
        self.i -= 1
        self._fail()
        raise AssertionError  # unreachable: _fail raises


# --- binding and evaluation ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Resolved:
    """A path checked against the schema: reference hops, then the final field."""

    hops: tuple[FieldDef, ...]
    field: FieldDef
    label: tuple[str, ...]  # canonical names, relationship names for the hops


@dataclass(slots=True)
class BoundQuery:
    """A parsed query checked against the schema, ready to run on records."""

    sobject: ObjectDef
    count_only: bool
    fields: list[_Resolved]
    where: _Expr | None
    order: list[tuple[_Resolved, bool, bool]]
    limit: int | None
    offset: int
    _resolved: dict[tuple[str, ...], _Resolved]

    def matches(self, row: Row, parent: ParentLookup) -> bool:
        """True when ``row`` satisfies the WHERE clause."""
        return self.where is None or self._eval(self.where, row, parent)

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

    def _eval(self, expr: _Expr, row: Row, parent: ParentLookup) -> bool:
        if isinstance(expr, _Bool):
            if expr.op == "AND":
                return all(self._eval(e, row, parent) for e in expr.items)
            if expr.op == "OR":
                return any(self._eval(e, row, parent) for e in expr.items)
            return not self._eval(expr.items[0], row, parent)
        path = self._resolved[expr.path.parts]
        actual = _comparable(path.field, self.value(path, row, parent))
        if isinstance(expr, _In):
            wanted = {_comparable(path.field, v) for v in expr.values}
            return (actual in wanted) != expr.negate
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


def _resolve(obj: ObjectDef, path: _Path, text: str) -> _Resolved:
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


def _invalid_field(text: str, path: _Path, obj: ObjectDef, name: str) -> None:
    pointer = " " * (path.column - 1) + "^"
    raise SoqlError(
        "INVALID_FIELD",
        f"\n{text}\n{pointer}\nERROR at Row:1:Column:{path.column}\n"
        f"No such column '{name}' on entity '{obj.name}'. If you are attempting to use a "
        "custom field, be sure to append the '__c' after the custom field name. Please "
        "reference your WSDL or the describe call for the appropriate names.",
    )


def _paths(expr: _Expr | None) -> list[_Path]:
    if expr is None:
        return []
    if isinstance(expr, _Bool):
        return [p for e in expr.items for p in _paths(e)]
    return [expr.path]


def parse_query(text: str) -> BoundQuery:
    """Parse ``text`` and check it against the simulated schema.

    Raises:
        SoqlError: ``MALFORMED_QUERY``, ``INVALID_TYPE`` or ``INVALID_FIELD`` with
            Salesforce's message layout (query, caret, row and column).
    """
    if not text.strip():
        raise SoqlError("MALFORMED_QUERY", "unexpected token: <EOF>")
    parsed = _Parser(text).parse()
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
    return BoundQuery(
        sobject=obj,
        count_only=parsed.count_only,
        fields=fields,
        where=parsed.where,
        order=[(resolved[p.parts], d, n) for p, d, n in parsed.order],
        limit=parsed.limit,
        offset=parsed.offset,
        _resolved=resolved,
    )


def _check_literals(
    expr: _Expr | None, resolved: Mapping[tuple[str, ...], _Resolved], text: str
) -> None:
    """Refuse comparisons Salesforce refuses: a quoted value against a datetime field."""
    if expr is None:
        return
    if isinstance(expr, _Bool):
        for e in expr.items:
            _check_literals(e, resolved, text)
        return
    f = resolved[expr.path.parts].field
    values = expr.values if isinstance(expr, _In) else (expr.value,)
    for v in values:
        if v is None:
            continue
        if f.type == "datetime" and not (isinstance(expr, _Compare) and expr.is_datetime):
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
