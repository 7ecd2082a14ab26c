"""The ``q=`` filter language (reference §1.3).

Two readings of ``q``, chosen by ``REST-Framework-Version`` as Oracle does:

- version 1 (the default without the header): query-by-example, ``Attr=value;Attr2>value``;
  the conditions are and-ed, values are unquoted.
- version 2 and later: expressions. This parser accepts the subset below and refuses
  anything else with a position, never evaluating text as code::

      expr    := term (OR term)*
      term    := factor (AND factor)*
      factor  := '(' expr ')' | cond
      cond    := Attr op literal | Attr [NOT] LIKE 'pattern' | Attr [NOT] IN (literal, ...)
               | Attr BETWEEN literal AND literal | Attr IS [NOT] NULL
      op      := = | != | <> | > | >= | < | <=
      literal := 'text' ('' is a quote) | number | true | false

Keywords are case-insensitive. A literal compared with a ``datetime`` attribute must be an
ISO-8601 date-time (``'2026-01-01T00:00:00Z'``, ``'…+08:00'``) or a date (``'2026-01-01'``,
midnight UTC); it is normalised to UTC, as the stored values are, so comparisons are exact.
In ``LIKE``, ``%`` (and ``*``, accepted too) matches any run of characters, ``_`` one.

Besides its predicate, a filter is planned (:func:`plan_q`): the one ``=``/``IN`` an index
can answer, and the :class:`Floor` a ``datetime`` attribute must reach to match, so that a
read of the changes since a stamp takes only the records from there on
(``OracleState.rows_from``).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from erpbridge.sims.oracle.model import Attr
from erpbridge.sims.oracle.query import AttrLookup, QueryError, format_stamp, parse_stamp

__all__ = ["Floor", "Predicate", "QueryPlan", "parse_q", "plan_q"]

Row = Mapping[str, object]
Predicate = Callable[[Row], bool]
#: (attribute, values) when the whole filter is one ``=`` or ``IN``: an index hint.
Hint = tuple[str, list[object]]


@dataclass(frozen=True, slots=True)
class Floor:
    """A filter's requirement that the ``datetime`` attribute ``attr`` is at or after ``value``.

    A literal compared with a ``datetime`` attribute is a normalised stamp text, and the
    comparison is Python's on the stored value (:func:`_compare`): only a stored text can be
    ``=``, ``>``, ``>=`` or ``BETWEEN`` it (null, a number or a list never is), and then as
    text. So a record matching the filter has a text ``attr`` of at least ``value``; the
    state reads those records through a sorted index and the predicate still decides.
    From ``attr = | > | >= literal`` and ``BETWEEN literal AND …``; ``AND`` keeps a side's
    floor (the greater of two on one attribute), ``OR`` only one every side has on the same
    attribute (the least: the connector's keyset page ``(S > x or (S = x and Id > i))``).
    """

    attr: str
    value: str


@dataclass(frozen=True, slots=True)
class QueryPlan:
    """A parsed ``q``: its predicate and what an index can narrow the records with."""

    predicate: Predicate
    hint: Hint | None = None
    floor: Floor | None = None


#: a parsed piece of the expression: its predicate and the floor it puts on a stamp.
_Node = tuple[Predicate, Floor | None]


# --- tokens -------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>'(?:[^']|'')*')
    | (?P<num>-?\d+(?:\.\d+)?(?![A-Za-z_]))
    | (?P<op>!=|<>|>=|<=|=|>|<)
    | (?P<punct>[(),])
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "like", "in", "between", "is", "not", "null", "true", "false"}


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # str | num | op | punct | word | kw | end
    text: str
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            start = len(text) - len(text[pos:].lstrip())
            raise QueryError(f"unexpected character {text[start]!r} at position {start + 1}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        start = match.start(kind)
        if kind == "word" and value.lower() in _KEYWORDS:
            tokens.append(_Tok("kw", value.lower(), start))
        else:
            tokens.append(_Tok(kind, value, start))
        pos = match.end()
    tokens.append(_Tok("end", "", len(text)))
    return tokens


# --- values --------------------------------------------------------------------------------


def _coerce(attr: Attr, tok: _Tok) -> object:
    """The literal ``tok`` as a value comparable with ``attr``'s stored values."""
    where = f"at position {tok.pos + 1}"
    if tok.kind == "kw" and tok.text in ("true", "false"):
        if attr.type != "boolean":
            raise QueryError(f"{attr.name} is {attr.type}, not boolean ({where})")
        return tok.text == "true"
    if tok.kind == "num":
        if attr.type in ("integer", "number"):
            return float(tok.text)
        if attr.type == "string":
            return tok.text
        raise QueryError(f"{attr.name} is {attr.type}; {tok.text} is a number ({where})")
    if tok.kind == "str":
        text = tok.text[1:-1].replace("''", "'")
        return _coerce_text(attr, text, where)
    raise QueryError(f"expected a value for {attr.name} {where}, found {tok.text or 'the end'!r}")


def _coerce_text(attr: Attr, text: str, where: str) -> object:
    if attr.type == "datetime":
        try:
            return format_stamp(parse_stamp(text))
        except ValueError as exc:
            raise QueryError(f"{attr.name}: {exc} ({where})") from None
    if attr.type in ("integer", "number"):
        try:
            return float(text)
        except ValueError:
            raise QueryError(f"{attr.name} is a number; {text!r} is not ({where})") from None
    if attr.type == "boolean":
        if text.lower() in ("true", "y"):
            return True
        if text.lower() in ("false", "n"):
            return False
        raise QueryError(f"{attr.name} is boolean; {text!r} is not ({where})")
    return text


def _stored(attr: Attr, value: object) -> object:
    if value is None or attr.type not in ("integer", "number"):
        return value
    return float(value) if isinstance(value, int | float) else value


def _compare(op: str, left: object, right: object) -> bool:
    if left is None:
        return False
    if op == "=":
        return left == right
    if op in ("!=", "<>"):
        return left != right
    try:
        ordered = _ORDER[op](left, right)
    except TypeError:
        return False
    return bool(ordered)


_ORDER: dict[str, Callable[[Any, Any], object]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def _floor(attr: Attr, op: str, value: object) -> Floor | None:
    """The floor ``attr op value`` puts on a ``datetime`` attribute, if it puts one."""
    if attr.type != "datetime" or op not in ("=", ">", ">=") or not isinstance(value, str):
        return None
    return Floor(attr.name, value)


def _both(floors: list[Floor | None]) -> Floor | None:
    """The floor of and-ed parts: any part's (the greatest of those on the first's attribute)."""
    found = [f for f in floors if f is not None]
    if not found:
        return None
    return max((f for f in found if f.attr == found[0].attr), key=lambda f: f.value)


def _either(floors: list[Floor | None]) -> Floor | None:
    """The floor of or-ed parts: the least, when every part has one on the same attribute."""
    found = [f for f in floors if f is not None]
    if len(found) < len(floors) or any(f.attr != found[0].attr for f in found):
        return None
    return min(found, key=lambda f: f.value)


def _like(pattern: str) -> re.Pattern[str]:
    out = []
    for ch in pattern:
        if ch in "%*":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.DOTALL)


# --- the expression parser -----------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, lookup: AttrLookup) -> None:
        self.tokens = _tokenize(text)
        self.i = 0
        self.lookup = lookup
        self.depth = 0
        self.conds = 0
        #: (attribute, values) when the whole filter is one ``=`` or ``IN``: an index hint.
        self.hint: Hint | None = None

    def peek(self) -> _Tok:
        return self.tokens[self.i]

    def take(self) -> _Tok:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect_kw(self, word: str) -> None:
        tok = self.take()
        if tok.kind != "kw" or tok.text != word:
            raise QueryError(f"expected {word.upper()} at position {tok.pos + 1}")

    def parse(self) -> _Node:
        if self.peek().kind == "end":
            raise QueryError("the filter is empty")
        node = self.expr()
        tok = self.peek()
        if tok.kind != "end":
            raise QueryError(f"unexpected {tok.text!r} at position {tok.pos + 1}")
        return node

    def expr(self) -> _Node:
        nodes = [self.term()]
        while self.peek().kind == "kw" and self.peek().text == "or":
            self.take()
            nodes.append(self.term())
        if len(nodes) == 1:
            return nodes[0]
        parts = [pred for pred, _ in nodes]
        return (lambda row: any(p(row) for p in parts)), _either([f for _, f in nodes])

    def term(self) -> _Node:
        nodes = [self.factor()]
        while self.peek().kind == "kw" and self.peek().text == "and":
            self.take()
            nodes.append(self.factor())
        if len(nodes) == 1:
            return nodes[0]
        parts = [pred for pred, _ in nodes]
        return (lambda row: all(p(row) for p in parts)), _both([f for _, f in nodes])

    def factor(self) -> _Node:
        tok = self.peek()
        if tok.kind == "punct" and tok.text == "(":
            self.take()
            self.depth += 1
            if self.depth > 32:
                raise QueryError(f"parentheses nested too deep at position {tok.pos + 1}")
            inner = self.expr()
            close = self.take()
            if close.kind != "punct" or close.text != ")":
                raise QueryError(f"expected ')' at position {close.pos + 1}")
            self.depth -= 1
            return inner
        return self.cond()

    def attr(self) -> Attr:
        tok = self.take()
        if tok.kind != "word":
            found = tok.text or "the end"
            raise QueryError(f"expected an attribute name at position {tok.pos + 1}, not {found!r}")
        attr = self.lookup(tok.text)
        if attr is None:
            raise QueryError(f"unknown attribute {tok.text!r} at position {tok.pos + 1}")
        if attr.type == "array":
            raise QueryError(f"attribute {tok.text!r} cannot be queried")
        return attr

    def cond(self) -> _Node:
        self.conds += 1
        attr = self.attr()
        name = attr.name
        tok = self.take()
        if tok.kind == "op":
            value = _coerce(attr, self.take())
            op = tok.text
            if op == "=":
                self.hint = (name, [value])
            return _comparison(op, attr, value), _floor(attr, op, value)
        negate = False
        if tok.kind == "kw" and tok.text == "not":
            negate = True
            tok = self.take()
        if tok.kind == "kw" and tok.text == "like":
            pat_tok = self.take()
            if pat_tok.kind != "str":
                raise QueryError(f"LIKE needs a quoted pattern at position {pat_tok.pos + 1}")
            regex = _like(pat_tok.text[1:-1].replace("''", "'"))

            def like(row: Row) -> bool:
                value = row.get(name)
                hit = value is not None and regex.fullmatch(str(value)) is not None
                return hit != negate

            return like, None
        if tok.kind == "kw" and tok.text == "in":
            values = self.value_list(attr)
            if not negate:
                self.hint = (name, values)
            return (
                lambda row: (
                    row.get(name) is not None and (_stored(attr, row.get(name)) in values) != negate
                ),
                None,
            )
        if negate:
            raise QueryError(f"NOT must be followed by LIKE or IN at position {tok.pos + 1}")
        if tok.kind == "kw" and tok.text == "between":
            low = _coerce(attr, self.take())
            self.expect_kw("and")
            high = _coerce(attr, self.take())
            return (
                lambda row: (
                    _compare(">=", _stored(attr, row.get(name)), low)
                    and _compare("<=", _stored(attr, row.get(name)), high)
                ),
                _floor(attr, ">=", low),
            )
        if tok.kind == "kw" and tok.text == "is":
            want_null = True
            if self.peek().kind == "kw" and self.peek().text == "not":
                self.take()
                want_null = False
            self.expect_kw("null")
            return (lambda row: (row.get(name) is None) == want_null), None
        found = tok.text or "the end"
        raise QueryError(
            f"expected an operator after {name} at position {tok.pos + 1}, not {found!r}"
        )

    def value_list(self, attr: Attr) -> list[object]:
        open_ = self.take()
        if open_.kind != "punct" or open_.text != "(":
            raise QueryError(f"IN needs '(' at position {open_.pos + 1}")
        values = [_coerce(attr, self.take())]
        while True:
            tok = self.take()
            if tok.kind == "punct" and tok.text == ")":
                return values
            if tok.kind != "punct" or tok.text != ",":
                raise QueryError(f"expected ',' or ')' at position {tok.pos + 1}")
            if len(values) >= 500:
                raise QueryError("IN takes at most 500 values")
            values.append(_coerce(attr, self.take()))


def _comparison(op: str, attr: Attr, value: object) -> Predicate:
    name = attr.name

    def compare(row: Row) -> bool:
        return _compare(op, _stored(attr, row.get(name)), value)

    return compare


_QBE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|!=|=|>|<)(.*)$", re.DOTALL)


def _plan_qbe(text: str, lookup: AttrLookup) -> QueryPlan:
    """Framework version 1: ``Attr=value;Attr2>value`` (and-ed, values unquoted)."""
    parts: list[Predicate] = []
    floors: list[Floor | None] = []
    for number, cond in enumerate(text.split(";"), start=1):
        match = _QBE.match(cond)
        if match is None:
            raise QueryError(f"condition {number} ({cond!r}) is not Attribute<op>value")
        attr = lookup(match[1])
        if attr is None:
            raise QueryError(f"unknown attribute {match[1]!r} in condition {number}")
        raw = match[3].strip()
        if len(raw) >= 2 and raw[0] == raw[-1] == "'":
            raw = raw[1:-1]
        value = _coerce_text(attr, raw, f"in condition {number}")
        parts.append(_comparison(match[2], attr, value))
        floors.append(_floor(attr, match[2], value))
    return QueryPlan(lambda row: all(p(row) for p in parts), floor=_both(floors))


def plan_q(text: str, lookup: AttrLookup, *, framework_version: int) -> QueryPlan:
    """The predicate of a ``q`` value under the given framework version, planned.

    The hint is (attribute, values) when the whole filter is one ``=`` or ``IN``: only
    records with one of those values can match (the caller may look them up by index).
    The floor is the stamp a ``datetime`` attribute of every match reaches (:class:`Floor`).

    Raises:
        QueryError: syntax, unknown attribute or a literal of the wrong type; the message
            says where.
    """
    if len(text) > 8000:
        raise QueryError("the filter is longer than 8000 characters")
    if framework_version < 2:
        return _plan_qbe(text, lookup)
    parser = _Parser(text, lookup)
    pred, floor = parser.parse()
    return QueryPlan(pred, parser.hint if parser.conds == 1 else None, floor)


def parse_q(
    text: str, lookup: AttrLookup, *, framework_version: int
) -> tuple[Predicate, Hint | None]:
    """The predicate of a ``q`` value and its index hint (:func:`plan_q` without the floor).

    Raises:
        QueryError: as :func:`plan_q`.
    """
    plan = plan_q(text, lookup, framework_version=framework_version)
    return plan.predicate, plan.hint
