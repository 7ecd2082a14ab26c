"""SOQL text -> syntax tree (the parser half of :mod:`.soql`).

Tokens, literals and a recursive-descent parser for the subset :mod:`.soql` documents,
including one level of child sub-queries in the SELECT list. Errors are
``MALFORMED_QUERY`` with Salesforce's layout (the query, a caret, row and column).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

__all__ = [
    "Bool",
    "Compare",
    "DateLiteral",
    "Expr",
    "In",
    "Parsed",
    "Parser",
    "Path",
    "SoqlError",
    "SubQuery",
    "format_datetime",
]


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
class Path:
    """A dotted field path (``Account.Name``) and where it stands in the query."""

    parts: tuple[str, ...]
    column: int


@dataclass(frozen=True, slots=True)
class Compare:
    """``path op value`` (``=``, ``!=``, ``<`` …, ``LIKE``)."""

    path: Path
    op: str
    value: object
    is_datetime: bool = False


@dataclass(frozen=True, slots=True)
class DateLiteral:
    """``TODAY``, ``YESTERDAY``, ``TOMORROW``, ``LAST_N_DAYS:n``, ``NEXT_N_DAYS:n``."""

    name: str
    n: int = 0


_DATE_LITERAL = re.compile(
    r"^(TODAY|YESTERDAY|TOMORROW|(?:LAST|NEXT)_N_DAYS:(\d+))$", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class In:
    """``path [NOT] IN (values)``."""

    path: Path
    values: tuple[object, ...]
    negate: bool


@dataclass(frozen=True, slots=True)
class Bool:
    """``AND`` / ``OR`` of several conditions, or ``NOT`` of one."""

    op: str  # AND | OR | NOT
    items: tuple[Expr, ...]


Expr = Compare | In | Bool


@dataclass(slots=True)
class Parsed:
    """One SELECT: fields, child sub-queries, object, filter, order, limit, offset."""

    fields: list[Path] = field(default_factory=list)
    subqueries: list[SubQuery] = field(default_factory=list)
    count_only: bool = False
    object: str = ""
    object_column: int = 0
    where: Expr | None = None
    order: list[tuple[Path, bool, bool]] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0


@dataclass(slots=True)
class SubQuery:
    """``(SELECT … FROM <child relationship> …)`` inside a SELECT list."""

    relationship: str
    column: int
    query: Parsed


class Parser:
    """Recursive-descent parser over the token list of one query."""

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
        """The next token, not consumed (None at the end)."""
        return self.toks[self.i] if self.i < len(self.toks) else None

    def is_kw(self, *words: str) -> bool:
        """True when the next token is one of these keywords (any case)."""
        tok = self.peek()
        return tok is not None and tok.kind == "ident" and tok.text.upper() in words

    def take(self) -> _Tok:
        """Consume the next token (MALFORMED_QUERY at the end)."""
        tok = self.peek()
        if tok is None:
            self._fail()
            raise AssertionError  # unreachable: _fail raises
        self.i += 1
        return tok

    def expect_kw(self, word: str) -> None:
        """Consume keyword ``word`` or fail."""
        if not self.is_kw(word):
            self._fail()
        self.i += 1

    def expect(self, text: str) -> None:
        """Consume the punctuation ``text`` or fail."""
        tok = self.peek()
        if tok is None or tok.text != text:
            self._fail()
        self.i += 1

    def path(self) -> Path:
        """A field path."""
        tok = self.take()
        if tok.kind != "ident" or ":" in tok.text:
            self.i -= 1
            self._fail()
        return Path(tuple(tok.text.split(".")), tok.column)

    def parse(self) -> Parsed:
        """The whole query; anything after it is an error."""
        q = self.select(nested=False)
        if self.peek() is not None:
            self._fail()
        return q

    def select(self, *, nested: bool) -> Parsed:
        """One SELECT (a child sub-query when ``nested``: ends before its ``)``)."""
        q = Parsed()
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
                if nested:
                    self._fail("sub-queries can be nested one level only")
                column = self.take().column
                sub = self.select(nested=True)
                self.expect(")")
                q.subqueries.append(SubQuery(sub.object, column, sub))
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
        return q

    def _int(self) -> int:
        tok = self.take()
        if tok.kind != "number" or not tok.text.isdigit():
            self.i -= 1
            self._fail()
        return int(tok.text)

    def or_expr(self) -> Expr:
        """Conditions joined by OR (lowest precedence)."""
        items = [self.and_expr()]
        while self.is_kw("OR"):
            self.take()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Bool("OR", tuple(items))

    def and_expr(self) -> Expr:
        """Conditions joined by AND."""
        items = [self.not_expr()]
        while self.is_kw("AND"):
            self.take()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else Bool("AND", tuple(items))

    def not_expr(self) -> Expr:
        """NOT, a parenthesised group, or one condition."""
        if self.is_kw("NOT"):
            self.take()
            return Bool("NOT", (self.not_expr(),))
        tok = self.peek()
        if tok is not None and tok.text == "(":
            self.take()
            inner = self.or_expr()
            self.expect(")")
            return inner
        return self.condition()

    def condition(self) -> Expr:
        """``path op literal`` or ``path [NOT] IN (...)``."""
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
            return In(p, tuple(values), negate)
        if self.is_kw("LIKE"):
            self.take()
            value, _ = self.literal()
            return Compare(p, "LIKE", value)
        tok = self.take()
        if tok.kind != "op":
            self.i -= 1
            self._fail()
        value, is_dt = self.literal()
        return Compare(p, "!=" if tok.text == "<>" else tok.text, value, is_dt)

    def literal(self) -> tuple[object, bool]:
        """A literal value and whether it was written as a datetime."""
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
        date_literal = _DATE_LITERAL.match(tok.text) if tok.kind == "ident" else None
        if date_literal is not None:
            name = tok.text.split(":")[0].upper()
            return DateLiteral(name, int(date_literal[2] or 0)), False
        if tok.kind == "ident":
            self.i -= 1
            self._fail(
                f"date literal or bind variable '{tok.text}' is not supported by the simulator"
            )
        self.i -= 1
        self._fail()
        raise AssertionError  # unreachable: _fail raises
