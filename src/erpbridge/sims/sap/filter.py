"""OData V2 ``$filter``: a small recursive-descent parser compiled into Python predicates.

The grammar covers what the reference §3 lists: ``eq ne gt ge lt le and or not``,
parentheses, ``substringof startswith endswith length tolower toupper trim``, and the literals
``'str'`` (quotes doubled inside), integers, ``1.5M``/``1.5d``/``10L``, ``datetime'…'``,
``datetimeoffset'…'``, ``time'PT…'``, ``guid'…'``, ``true``/``false``/``null``. ``gte``/``lte``
are accepted too, because pyodata's ``__range`` filter emits them. A bad expression is a 400
with SAP's "invalid filter" message, never a crash. String equalities also yield a
:class:`Lookup`, and lower bounds on a date property (a poll's ``LastChangeDateTime ge …``) a
:class:`Floor`, so the service can narrow candidates through an index.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from erpbridge.sims.sap.errors import ODataError
from erpbridge.sims.sap.model import EntitySetDef, PropDef
from erpbridge.sims.sap.wire import Value, parse_datetime_text, parse_time_text

__all__ = ["FilterPlan", "Floor", "Lookup", "Predicate", "parse_filter", "plan_filter"]

Row = dict[str, Value]
Predicate = Callable[[Row], bool]
_Expr = Callable[[Row], object]

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<typed>(?:datetimeoffset|datetime|time|guid|binary|X)'[^']*')
    | (?P<string>'(?:[^']|'')*')
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[MmDdLlFf]?)
    | (?P<punct>[(),/])
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
    "gte": operator.ge,  # pyodata's __range bug (reference §3)
    "lte": operator.le,
}
_NUMERIC = {"Edm.Decimal", "Edm.Double", "Edm.Single", "Edm.Int16", "Edm.Int32", "Edm.Int64"}


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str
    text: str


#: the ``value`` of an operand that is not a literal.
_NOT_LITERAL = object()


@dataclass(frozen=True, slots=True)
class _Operand:
    """A compiled operand: how to evaluate it and its EDM type when known."""

    fn: _Expr
    edm: str | None
    prop: PropDef | None = None
    #: a string constant (for index lookups)
    const: str | None = None
    #: rows matching this condition all have ``prop`` in ``values`` (an index can find them)
    lookup: Lookup | None = None
    #: rows matching this condition all have a date ``prop`` at or after a value
    floor: Floor | None = None
    #: the literal's value (a comparison with it skips a call per row)
    value: object = _NOT_LITERAL
    #: ``fn`` returns True or False only (it is its own predicate)
    is_bool: bool = False


@dataclass(frozen=True, slots=True)
class Lookup:
    """A condition that implies ``prop`` is one of ``values`` (string equality terms).

    The service uses it to fetch candidates from an index instead of scanning the table,
    as a real database would; the full predicate still decides.
    """

    prop: str
    values: frozenset[str]


@dataclass(frozen=True, slots=True)
class Floor:
    """A condition that implies the date property ``prop`` is at or after ``value``.

    ``LastChangeDateTime ge datetimeoffset'…'``, alone, ANDed with anything, or ORed with
    another bound on the same property (a keyset page: ``S gt X or (S eq X and K gt I)``).
    A row whose ``prop`` is null or earlier cannot match, so the service reads the rows from
    ``value`` on through a sorted index; the full predicate still decides.
    """

    prop: str
    value: datetime


@dataclass(frozen=True, slots=True)
class FilterPlan:
    """A compiled ``$filter``: the predicate and what an index can narrow it with."""

    predicate: Predicate
    lookup: Lookup | None = None
    floor: Floor | None = None


def _filter_error(text: str, why: str) -> ODataError:
    return ODataError(400, "/IWBEP/CM_MGW_RT/004", f"Invalid filter expression: '{text}' ({why})")


class _Parser:
    def __init__(self, entity_set: EntitySetDef, text: str) -> None:
        self.set = entity_set
        self.text = text
        self.toks = self._tokenize(text)
        self.pos = 0

    def _tokenize(self, text: str) -> list[_Tok]:
        toks: list[_Tok] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            match = _TOKEN.match(text, pos)
            if not match or match.end() == pos:
                raise _filter_error(text, f"unexpected character at position {pos + 1}")
            kind = match.lastgroup or ""
            toks.append(_Tok(kind, match[kind]))
            pos = match.end()
        return toks

    def peek(self) -> _Tok | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise _filter_error(self.text, "unexpected end of expression")
        self.pos += 1
        return tok

    def expect(self, text: str) -> None:
        tok = self.take()
        if tok.text != text:
            raise _filter_error(self.text, f"expected '{text}' but found '{tok.text}'")

    def is_word(self, word: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "name" and tok.text.lower() == word

    def parse(self) -> FilterPlan:
        if not self.toks:
            raise _filter_error(self.text, "empty expression")
        expr = self.or_expr()
        if self.peek() is not None:
            raise _filter_error(self.text, f"unexpected '{self.take().text}'")
        return FilterPlan(_as_predicate(expr, self.text), expr.lookup, expr.floor)

    def or_expr(self) -> _Operand:
        left = self.and_expr()
        while self.is_word("or"):
            self.take()
            right = self.and_expr()
            lf, rf = _as_predicate(left, self.text), _as_predicate(right, self.text)
            lookup = floor = None
            if left.lookup and right.lookup and left.lookup.prop == right.lookup.prop:
                lookup = Lookup(left.lookup.prop, left.lookup.values | right.lookup.values)
            if left.floor and right.floor and left.floor.prop == right.floor.prop:
                floor = min(left.floor, right.floor, key=lambda f: f.value)
            left = _Operand(
                _either(lf, rf), "Edm.Boolean", lookup=lookup, floor=floor, is_bool=True
            )
        return left

    def and_expr(self) -> _Operand:
        left = self.not_expr()
        while self.is_word("and"):
            self.take()
            right = self.not_expr()
            lf, rf = _as_predicate(left, self.text), _as_predicate(right, self.text)
            floor = left.floor or right.floor
            if left.floor and right.floor and left.floor.prop == right.floor.prop:
                floor = max(left.floor, right.floor, key=lambda f: f.value)
            left = _Operand(
                _both(lf, rf),
                "Edm.Boolean",
                lookup=left.lookup or right.lookup,
                floor=floor,
                is_bool=True,
            )
        return left

    def not_expr(self) -> _Operand:
        if self.is_word("not"):
            self.take()
            inner = _as_predicate(self.not_expr(), self.text)
            return _Operand(lambda r: not inner(r), "Edm.Boolean", is_bool=True)
        return self.comparison()

    def comparison(self) -> _Operand:
        left = self.primary()
        tok = self.peek()
        if tok is None or tok.kind != "name" or tok.text.lower() not in _COMPARE:
            return left
        op_name = self.take().text.lower()
        right = self.primary()
        result = _compare(op_name, left, right, self.text)
        prop, const = (left.prop, right.const) if left.prop else (right.prop, left.const)
        if op_name == "eq" and prop is not None and prop.type == "Edm.String" and const:
            result = _Operand(
                result.fn, result.edm, lookup=Lookup(prop.name, frozenset([const])), is_bool=True
            )
        floor = _floor(op_name, left, right)
        if floor is not None:
            result = _Operand(result.fn, result.edm, floor=floor, is_bool=True)
        return result

    def primary(self) -> _Operand:
        tok = self.take()
        if tok.text == "(":
            inner = self.or_expr()
            self.expect(")")
            return inner
        if tok.kind == "string":
            value = tok.text[1:-1].replace("''", "'")
            return _Operand(lambda r: value, "Edm.String", const=value, value=value)
        if tok.kind == "number":
            return _number(tok.text, self.text)
        if tok.kind == "typed":
            return _typed(tok.text, self.text)
        if tok.kind == "name":
            word = tok.text
            nxt = self.peek()
            if nxt is not None and nxt.text == "(":
                return self.function(word)
            if word in ("true", "false"):
                flag = word == "true"
                return _Operand(lambda r: flag, "Edm.Boolean", value=flag)
            if word == "null":
                return _Operand(lambda r: None, None, value=None)
            prop = self.set.prop_by_name.get(word)
            if prop is None:
                raise ODataError(
                    400,
                    "/IWBEP/CM_MGW_RT/004",
                    f"Property '{word}' not found in type '{self.set.type_name}'",
                )
            return _Operand(_getter(word), prop.type, prop)
        raise _filter_error(self.text, f"unexpected '{tok.text}'")

    def function(self, name: str) -> _Operand:
        self.expect("(")
        args: list[_Operand] = []
        if self.peek() is not None and self.peek().text != ")":  # type: ignore[union-attr]  # checked
            args.append(self.or_expr())
            while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]  # checked
                self.take()
                args.append(self.or_expr())
        self.expect(")")
        return _function(name.lower(), args, self.text)


#: the comparisons that bound the property from below, with the property on the left;
#: mirrored when the literal is on the left (``datetime'…' le S`` is ``S ge datetime'…'``)
_FLOOR_OPS = frozenset({"eq", "ge", "gt", "gte"})
_MIRROR = {"eq": "eq", "le": "ge", "lt": "gt", "lte": "ge"}


def _floor(op_name: str, left: _Operand, right: _Operand) -> Floor | None:
    """The lower bound ``prop op literal`` puts on a date property, if it puts one."""
    if left.prop is None and right.prop is not None:
        left, right, op_name = right, left, _MIRROR.get(op_name, "")
    prop, value = left.prop, right.value
    if prop is None or op_name not in _FLOOR_OPS or not isinstance(value, datetime):
        return None
    if prop.type not in ("Edm.DateTime", "Edm.DateTimeOffset") or value.tzinfo is None:
        return None
    return Floor(prop.name, value)


def _either(a: Predicate, b: Predicate) -> _Expr:
    return lambda r: a(r) or b(r)


def _both(a: Predicate, b: Predicate) -> _Expr:
    return lambda r: a(r) and b(r)


def _getter(name: str) -> _Expr:
    return lambda r: r.get(name)


def _as_predicate(operand: _Operand, text: str) -> Predicate:
    if operand.edm not in ("Edm.Boolean", None):
        raise _filter_error(text, f"a {operand.edm} operand is not a condition")
    fn = operand.fn
    if operand.is_bool:
        return fn  # type: ignore[return-value]  # returns only True or False
    return lambda r: fn(r) is True


def _number(raw: str, text: str) -> _Operand:
    suffix = raw[-1].lower() if raw[-1].isalpha() else ""
    body = raw[:-1] if suffix else raw
    try:
        if suffix in ("m", "d", "f") or "." in body or "e" in body.lower():
            number: Value = Decimal(body)
            edm = "Edm.Decimal"
        else:
            number = int(body)
            edm = "Edm.Int64" if suffix == "l" else "Edm.Int32"
    except (ValueError, InvalidOperation) as exc:
        raise _filter_error(text, f"bad number {raw}") from exc
    return _Operand(lambda r: number, edm, value=number)


def _typed(raw: str, text: str) -> _Operand:
    prefix, _, rest = raw.partition("'")
    body = rest[:-1]
    prefix = prefix.lower()
    try:
        if prefix in ("datetime", "datetimeoffset"):
            stamp = parse_datetime_text(body)
            return _Operand(lambda r: stamp, "Edm.DateTimeOffset", value=stamp)
        if prefix == "time":
            clock = parse_time_text(body)
            return _Operand(lambda r: clock, "Edm.Time", value=clock)
    except ValueError as exc:
        raise _filter_error(text, f"bad literal {raw}") from exc
    return _Operand(lambda r: body, "Edm.String", value=body)


def _family(edm: str | None) -> str | None:
    if edm in _NUMERIC:
        return "number"
    if edm in ("Edm.DateTime", "Edm.DateTimeOffset"):
        return "datetime"
    if edm == "Edm.Guid":
        return "Edm.String"
    return edm


def _compare(op_name: str, left: _Operand, right: _Operand, text: str) -> _Operand:
    lf, rf = _family(left.edm), _family(right.edm)
    if lf is not None and rf is not None and lf != rf:
        raise ODataError(
            400,
            "/IWBEP/CM_MGW_RT/004",
            f"Invalid filter expression: '{text}' (operator '{op_name}' is not defined "
            f"for operands {left.edm} and {right.edm})",
        )
    op = _COMPARE[op_name]
    lfn, rfn = left.fn, right.fn
    is_equality = op_name in ("eq", "ne")
    if left.prop is not None and right.value is not _NOT_LITERAL and right.value is not None:
        # property op literal (a poll's stamp filter, a key lookup): the same result as
        # evaluate() below, with the property read and the literal taken directly.
        name, b = left.prop.name, right.value

        def against_literal(row: Row) -> bool:
            a = row.get(name)
            if a is None:
                return bool(op(a, b)) if is_equality else False
            try:
                return bool(op(a, b))
            except TypeError:
                return False

        return _Operand(against_literal, "Edm.Boolean", is_bool=True)

    def evaluate(row: Row) -> bool:
        a, b = lfn(row), rfn(row)
        if a is None or b is None:
            return bool(op(a, b)) if is_equality else False
        try:
            return bool(op(a, b))
        except TypeError:
            return False

    return _Operand(evaluate, "Edm.Boolean", is_bool=True)


def _str_arg(args: list[_Operand], index: int, name: str, text: str) -> _Expr:
    if _family(args[index].edm) not in ("Edm.String", None):
        raise _filter_error(text, f"{name}() expects string arguments")
    fn = args[index].fn
    return lambda r: fn(r) or ""


def _function(name: str, args: list[_Operand], text: str) -> _Operand:
    arity = {
        "substringof": 2,
        "startswith": 2,
        "endswith": 2,
        "length": 1,
        "tolower": 1,
        "toupper": 1,
        "trim": 1,
    }
    if name not in arity:
        raise _filter_error(text, f"function {name}() is not supported")
    if len(args) != arity[name]:
        raise _filter_error(text, f"{name}() takes {arity[name]} argument(s)")
    a = _str_arg(args, 0, name, text)
    if name in ("substringof", "startswith", "endswith"):
        b = _str_arg(args, 1, name, text)
        if name == "substringof":  # substringof(needle, haystack)
            return _Operand(lambda r: str(a(r)) in str(b(r)), "Edm.Boolean")
        if name == "startswith":
            return _Operand(lambda r: str(a(r)).startswith(str(b(r))), "Edm.Boolean")
        return _Operand(lambda r: str(a(r)).endswith(str(b(r))), "Edm.Boolean")
    if name == "length":
        return _Operand(lambda r: len(str(a(r))), "Edm.Int32")
    if name == "tolower":
        return _Operand(lambda r: str(a(r)).lower(), "Edm.String")
    if name == "toupper":
        return _Operand(lambda r: str(a(r)).upper(), "Edm.String")
    return _Operand(lambda r: str(a(r)).strip(), "Edm.String")


def parse_filter(entity_set: EntitySetDef, text: str) -> Predicate:
    """Compile a ``$filter`` expression into a predicate over stored records.

    Raises:
        ODataError: 400 for a syntax error, an unknown property or mismatched types.
    """
    return _Parser(entity_set, text).parse().predicate


def plan_filter(entity_set: EntitySetDef, text: str) -> FilterPlan:
    """The predicate and what an index can narrow it with (:class:`FilterPlan`).

    Raises:
        ODataError: as :func:`parse_filter`.
    """
    return _Parser(entity_set, text).parse()
