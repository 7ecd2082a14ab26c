"""A real parser for the ``FilterString`` subset the simulator supports (never eval).

K/3 Cloud passes ``FilterString`` into the SQL it generates, so the real server accepts
nearly any T-SQL predicate. The simulator accepts the subset integrations use and refuses
the rest with Kingdee's error shape (the caller turns :class:`FilterError` into it):

    expr      := and_expr (OR and_expr)*
    and_expr  := not_expr (AND not_expr)*
    not_expr  := NOT not_expr | '(' expr ')' | predicate
    predicate := key op literal | key [NOT] IN '(' literal (',' literal)* ')'
               | key [NOT] LIKE string | key IS [NOT] NULL
               | key [NOT] BETWEEN literal AND literal
    op        := '=' | '<>' | '!=' | '>' | '>=' | '<' | '<='
    literal   := 'text' (quote doubled inside) | N'text' | number

Keys are field keys (``FDocumentStatus``), reference paths (``FCustId.FNumber``) or entry
row ids (``FSaleOrderEntry_FEntryID``); keywords are case-insensitive. Text compares
case-insensitively, like SQL Server's default Chinese_PRC_CI_AS collation. Dates are
written as text (``'2024-05-01'``, ``'2024-05-01 08:00:00'``) and compared as dates.
A lower bound on a date field (a poll's ``FModifyDate >= '…'``) also yields a :class:`Floor`,
and an ``IN`` list or ``=`` a :class:`Lookup` (a page's lines: ``FID IN (…)``), so the query
can read the records they name, or from the bound on, instead of every record.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from erpbridge.sims.kingdee.forms import FieldKind

__all__ = [
    "Filter",
    "FilterError",
    "Floor",
    "Lookup",
    "UnknownFieldError",
    "normalize_stamp",
    "parse_filter",
    "parse_stamp",
]

#: a longer FilterString is refused (the parser is recursive; keep it bounded).
MAX_FILTER_CHARS = 20_000
MAX_DEPTH = 64

Value = str | int | float | bool | None
Resolver = Callable[[str], Value]
Typer = Callable[[str], FieldKind | None]


class FilterError(ValueError):
    """A FilterString outside the supported subset; ``position`` is 0-based."""

    def __init__(self, message: str, position: int) -> None:
        self.message = message
        self.position = position
        super().__init__(f"{message}（位置 {position}）")


class UnknownFieldError(FilterError):
    """A key that is not a field of the form (Kingdee MsgCode 9)."""

    def __init__(self, key: str, position: int) -> None:
        self.key = key
        super().__init__(f"元数据中标识为{key}的字段不存在", position)


_TOKEN = re.compile(
    r"""\s*(?:
    (?P<string>N?'(?:[^']|'')*')
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<op><>|!=|>=|<=|=|>|<)
  | (?P<punct>[(),])
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "like", "is", "null", "between"}
_STAMP_FORMATS = (
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d",
)


def parse_stamp(text: str) -> datetime | None:
    """A naive datetime from Kingdee's date texts, or None when it is not one."""
    text = text.strip()
    for fmt in _STAMP_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def normalize_stamp(value: datetime | date) -> str:
    """The stored form of a date or datetime: ``YYYY-MM-DDTHH:MM:SS.ffffff`` (sortable)."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # string, number, op, punct, word, keyword, end
    text: str
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            start = pos + len(text[pos:]) - len(text[pos:].lstrip())
            raise FilterError(f"过滤条件中有不支持的内容“{text[start : start + 12]}”", start)
        kind = m.lastgroup or ""
        value = m.group(kind)
        start = m.start(kind)
        if kind == "word" and value.lower() in _KEYWORDS:
            kind = "keyword"
        tokens.append(_Tok(kind, value, start))
        pos = m.end()
    tokens.append(_Tok("end", "", len(text)))
    return tokens


# --- the tree: each node compiles to a predicate over a resolver ----------------------

Predicate = Callable[[Resolver], bool]


@dataclass(frozen=True, slots=True)
class Floor:
    """A condition that implies the date field ``key`` is at or after ``value``.

    ``FModifyDate >= '…'`` (or ``>``, ``=``, ``BETWEEN``), alone, ANDed with anything, or
    ORed with another bound on the same key (the connector's keyset page:
    ``(S > 'X' OR (S = 'X' AND FID > 7))``). ``value`` is the literal in the stored form,
    case-folded as :func:`_compare` folds both sides; a record whose field is null or not
    text fails every comparison with it, so it cannot match. The query reads the records
    from ``value`` on through a sorted index; the whole predicate still decides.
    """

    key: str  # lower-cased, as Filter.keys
    value: str


@dataclass(frozen=True, slots=True)
class Lookup:
    """A condition that implies ``key`` is one of ``values`` (coerced to the field's kind).

    ``FID IN (101, 102)`` or ``FID = 101``, alone, ANDed with anything, or ORed with another
    lookup of the same key. The query fetches those records by key when ``key`` is the
    form's primary key; the whole predicate still decides.
    """

    key: str  # lower-cased, as Filter.keys
    values: frozenset[Value]


@dataclass(frozen=True, slots=True)
class _Node:
    """A parsed (sub)expression: its predicate and what it implies of one key, if anything."""

    predicate: Predicate
    floor: Floor | None = None
    lookup: Lookup | None = None


@dataclass(frozen=True, slots=True)
class Filter:
    """A parsed FilterString: call :meth:`matches` with a key → stored value resolver."""

    predicate: Predicate
    keys: frozenset[str]  # every key it reads, lower-cased
    floor: Floor | None = None
    lookup: Lookup | None = None

    def matches(self, resolve: Resolver) -> bool:
        """True when the record/row that ``resolve`` reads satisfies the filter."""
        return self.predicate(resolve)


_ALWAYS = Filter(lambda _r: True, frozenset())


def _fold(value: Value) -> Value:
    return value.casefold() if isinstance(value, str) else value


def _compare(op: str, left: Value, right: Value) -> bool:
    if left is None or right is None:
        return False  # SQL: a comparison with NULL is never true
    a, b = _fold(left), _fold(right)
    try:
        if op == "=":
            return a == b
        if op in ("<>", "!="):
            return a != b
        if op == ">":
            return a > b  # type: ignore[operator]  # same kind after coercion
        if op == ">=":
            return a >= b  # type: ignore[operator]
        if op == "<":
            return a < b  # type: ignore[operator]
        return a <= b  # type: ignore[operator]
    except TypeError:
        return False


def _like_regex(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        elif ch == "[":
            end = pattern.find("]", i)
            if end == -1:
                out.append(re.escape(ch))
            else:
                out.append("[" + re.escape(pattern[i + 1 : end]) + "]")
                i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


class _Parser:
    def __init__(self, text: str, typer: Typer) -> None:
        self.tokens = _tokenize(text)
        self.i = 0
        self.typer = typer
        self.keys: set[str] = set()
        self.depth = 0

    @property
    def tok(self) -> _Tok:
        return self.tokens[self.i]

    def take(self) -> _Tok:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def is_kw(self, word: str) -> bool:
        return self.tok.kind == "keyword" and self.tok.text.lower() == word

    def expect_kw(self, word: str) -> None:
        if not self.is_kw(word):
            raise FilterError(f"此处应为 {word.upper()}，却是“{self.tok.text}”", self.tok.pos)
        self.take()

    def expect_punct(self, ch: str) -> None:
        if not (self.tok.kind == "punct" and self.tok.text == ch):
            found = self.tok.text or "结尾"
            raise FilterError(f"此处应为“{ch}”，却是“{found}”", self.tok.pos)
        self.take()

    def parse(self) -> _Node:
        node = self.expr()
        if self.tok.kind != "end":
            raise FilterError(f"多余的内容“{self.tok.text}”", self.tok.pos)
        return node

    def expr(self) -> _Node:
        nodes = [self.and_expr()]
        while self.is_kw("or"):
            self.take()
            nodes.append(self.and_expr())
        if len(nodes) == 1:
            return nodes[0]
        parts = [n.predicate for n in nodes]
        return _Node(lambda r: any(p(r) for p in parts), _lowest(nodes), _union(nodes))

    def and_expr(self) -> _Node:
        nodes = [self.not_expr()]
        while self.is_kw("and"):
            self.take()
            nodes.append(self.not_expr())
        if len(nodes) == 1:
            return nodes[0]
        parts = [n.predicate for n in nodes]
        lookup = next((n.lookup for n in nodes if n.lookup is not None), None)
        return _Node(lambda r: all(p(r) for p in parts), _highest(nodes), lookup)

    def not_expr(self) -> _Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FilterError("过滤条件嵌套过深", self.tok.pos)
        try:
            if self.is_kw("not"):
                self.take()
                inner = self.not_expr().predicate
                return _Node(lambda r: not inner(r))
            if self.tok.kind == "punct" and self.tok.text == "(":
                self.take()
                node = self.expr()
                self.expect_punct(")")
                return node
            return self.predicate()
        finally:
            self.depth -= 1

    def key(self) -> tuple[str, FieldKind]:
        tok = self.take()
        if tok.kind != "word":
            raise FilterError(f"此处应为字段标识，却是“{tok.text or '结尾'}”", tok.pos)
        kind = self.typer(tok.text)
        if kind is None:
            raise UnknownFieldError(tok.text, tok.pos)
        self.keys.add(tok.text.lower())
        return tok.text, kind

    def literal(self, kind: FieldKind) -> Value:
        tok = self.take()
        if tok.kind == "string":
            body = tok.text[2:-1] if tok.text.startswith("N") else tok.text[1:-1]
            return _coerce(body.replace("''", "'"), kind, tok.pos)
        if tok.kind == "number":
            return _coerce(tok.text, kind, tok.pos)
        if tok.kind == "word":
            raise FilterError(
                f"不支持的写法“{tok.text}”：右侧只能是常量（字符串或数字），不支持字段或函数",
                tok.pos,
            )
        raise FilterError(f"此处应为常量，却是“{tok.text or '结尾'}”", tok.pos)

    def predicate(self) -> _Node:
        key, kind = self.key()
        negate = False
        if self.is_kw("is"):
            self.take()
            if self.is_kw("not"):
                self.take()
                negate = True
            self.expect_kw("null")
            return _Node(lambda r: (r(key) is None) != negate)
        if self.is_kw("not"):
            self.take()
            negate = True
        if self.is_kw("in"):
            self.take()
            self.expect_punct("(")
            values = [self.literal(kind)]
            while self.tok.kind == "punct" and self.tok.text == ",":
                self.take()
                values.append(self.literal(kind))
            self.expect_punct(")")
            folded = {_fold(v) for v in values if v is not None}
            return _Node(
                lambda r: (v := r(key)) is not None and ((_fold(v) in folded) != negate),
                lookup=None if negate else Lookup(key.lower(), frozenset(folded)),
            )
        if self.is_kw("like"):
            self.take()
            tok = self.tok
            if tok.kind != "string":
                raise FilterError("LIKE 之后应为字符串常量", tok.pos)
            self.take()
            body = tok.text[2:-1] if tok.text.startswith("N") else tok.text[1:-1]
            regex = _like_regex(body.replace("''", "'"))
            return _Node(
                lambda r: (
                    (v := r(key)) is not None and ((regex.fullmatch(str(v)) is not None) != negate)
                )
            )
        if self.is_kw("between"):
            self.take()
            low = self.literal(kind)
            self.expect_kw("and")
            high = self.literal(kind)
            return _Node(
                lambda r: (_compare(">=", r(key), low) and _compare("<=", r(key), high)) != negate,
                None if negate else _floor(key, kind, ">=", low),
            )
        if negate:
            raise FilterError("NOT 之后应为 IN、LIKE 或 BETWEEN", self.tok.pos)
        tok = self.take()
        if tok.kind != "op":
            raise FilterError(f"此处应为比较运算符，却是“{tok.text or '结尾'}”", tok.pos)
        value = self.literal(kind)
        op = tok.text
        lookup = Lookup(key.lower(), frozenset([_fold(value)])) if op == "=" else None
        return _Node(lambda r: _compare(op, r(key), value), _floor(key, kind, op, value), lookup)


#: the comparisons that bound a field from below (``<>``, ``<``, ``<=`` do not).
_FLOOR_OPS = frozenset({"=", ">", ">="})


def _floor(key: str, kind: FieldKind, op: str, value: Value) -> Floor | None:
    """The lower bound ``key op value`` puts on a date field, if it puts one."""
    if op not in _FLOOR_OPS or kind not in (FieldKind.DATE, FieldKind.DATETIME):
        return None
    if not isinstance(value, str):
        return None
    return Floor(key.lower(), value.casefold())


def _highest(nodes: list[_Node]) -> Floor | None:
    """AND: any part's bound holds; of several on one key the highest (the first key's)."""
    floors = [n.floor for n in nodes if n.floor is not None]
    if not floors:
        return None
    same = [f for f in floors if f.key == floors[0].key]
    return max(same, key=lambda f: f.value)


def _lowest(nodes: list[_Node]) -> Floor | None:
    """OR: a bound holds only when every part bounds the same key; then the lowest."""
    floors = [n.floor for n in nodes]
    first = floors[0]
    if first is None or any(f is None or f.key != first.key for f in floors):
        return None
    return min((f for f in floors if f is not None), key=lambda f: f.value)


def _union(nodes: list[_Node]) -> Lookup | None:
    """OR: a lookup holds only when every part looks the same key up; then all values."""
    lookups = [n.lookup for n in nodes]
    first = lookups[0]
    if first is None or any(x is None or x.key != first.key for x in lookups):
        return None
    return Lookup(first.key, frozenset().union(*(x.values for x in lookups if x is not None)))


def _coerce(text: str, kind: FieldKind, pos: int) -> Value:
    if kind in (FieldKind.DATE, FieldKind.DATETIME):
        stamp = parse_stamp(text)
        if stamp is None:
            raise FilterError(f"“{text}”不是有效的日期", pos)
        return normalize_stamp(stamp)
    if kind in (FieldKind.DECIMAL, FieldKind.INT, FieldKind.REF):
        try:
            number = float(text)
        except ValueError:
            raise FilterError(f"“{text}”不是有效的数值", pos) from None
        return int(number) if kind is not FieldKind.DECIMAL and number.is_integer() else number
    if kind is FieldKind.BOOL:
        lowered = text.strip().lower()
        if lowered in ("1", "true"):
            return True
        if lowered in ("0", "false"):
            return False
        raise FilterError(f"“{text}”不是有效的布尔值（应为 0 或 1）", pos)
    return text


def parse_filter(text: object, typer: Typer) -> Filter:
    """Parse ``text``; an empty or missing filter matches everything.

    Args:
        text: the FilterString as sent (None, "" or a string).
        typer: key → field kind, or None for an unknown key.

    Raises:
        FilterError: outside the supported subset (message in Chinese, as Kingdee's).
        UnknownFieldError: a key the form does not have.
    """
    if text is None:
        return _ALWAYS
    if not isinstance(text, str):
        raise FilterError("FilterString 应为字符串", 0)
    if len(text) > MAX_FILTER_CHARS:
        raise FilterError(f"过滤条件过长（超过 {MAX_FILTER_CHARS} 个字符）", MAX_FILTER_CHARS)
    if not text.strip():
        return _ALWAYS
    parser = _Parser(text, typer)
    node = parser.parse()
    return Filter(node.predicate, frozenset(parser.keys), node.floor, node.lookup)
