"""The ``filter`` of ``data/list``: checked once, compiled into a predicate over records.

Reference §2 (hc.jiandaoyun.com/open/14220)::

    {"rel": "and" | "or", "cond": [{"field", "type"?, "method", "value"?: [...]}]}

Which methods a field supports depends on its type (text-like: eq ne in nin empty
not_empty, plus ``like``; number and datetime: eq ne range empty not_empty; ``flowState``:
eq ne; everything else: empty not_empty; subforms: nothing). ``value`` is always an array;
``in``/``nin`` take at most 200 values; ``range`` is inclusive with ``null`` for an open end
(unsure in the reference; that reading is implemented). Filtering on the system fields
``createTime``/``updateTime`` (datetime) and ``_id`` (text) is supported here; the reference
marks it unsure on a real tenant. A lower bound on a datetime field (a poll's ``updateTime``
range) also yields a :class:`Floor`, so the list can read the records from it on through an
index instead of every record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from erpbridge.sims.jiandaoyun.errors import INVALID_REQUEST, JdyError
from erpbridge.sims.jiandaoyun.values import format_time, parse_time
from erpbridge.sims.jiandaoyun.widgets import Entry

__all__ = ["MAX_IN_VALUES", "FilterPlan", "Floor", "Predicate", "compile_filter"]

MAX_IN_VALUES = 200

Predicate = Callable[[Mapping[str, object]], bool]

_TEXT_TYPES = frozenset({"text", "textarea", "combo", "radiogroup", "sn"})
_ORDERED_TYPES = frozenset({"number", "datetime"})
_METHODS = {
    "text": frozenset({"eq", "ne", "in", "nin", "empty", "not_empty", "like"}),
    "ordered": frozenset({"eq", "ne", "range", "empty", "not_empty"}),
    "flowstate": frozenset({"eq", "ne"}),
    "other": frozenset({"empty", "not_empty"}),
}
_SYSTEM_TYPES = {"_id": "text", "createTime": "datetime", "updateTime": "datetime"}


@dataclass(frozen=True, slots=True)
class Floor:
    """A filter that implies the datetime ``field`` is text at or after ``value``.

    ``range [low, …]`` or ``eq`` on the field, under ``rel: and`` with any other conditions,
    or under ``rel: or`` when every condition bounds the same field. ``value`` is in the
    stored form (``2024-05-01T02:03:04.000Z``), compared as text as the conditions compare
    it; a record whose field is null or not text fails them all. The list reads the records
    from ``value`` on through a sorted index; the whole predicate still decides.
    """

    field: str
    value: str


@dataclass(frozen=True, slots=True)
class FilterPlan:
    """A compiled ``filter``: the predicate (None: every record) and its lower bound."""

    predicate: Predicate | None
    floor: Floor | None = None


_EVERYTHING = FilterPlan(None)


def _field_type(entry: Entry, field: str) -> str:
    if field in _SYSTEM_TYPES:
        return _SYSTEM_TYPES[field]
    if field == "flowState":
        if not entry.is_workflow:
            raise JdyError(INVALID_REQUEST, f"表单「{entry.name}」不是流程表单，无 flowState")
        return "flowstate"
    if field in ("creator", "updater"):
        return "user"
    widget = entry.widget(field)
    if widget is None:
        raise JdyError(INVALID_REQUEST, f"filter 字段 {field} 在表单「{entry.name}」中不存在")
    if widget.type == "subform":
        raise JdyError(INVALID_REQUEST, f"filter 不支持子表单字段 {field}")
    return widget.type


def _family(type_: str) -> str:
    if type_ in _TEXT_TYPES:
        return "text"
    if type_ in _ORDERED_TYPES:
        return "ordered"
    return "flowstate" if type_ == "flowstate" else "other"


def _is_empty(value: object) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _scalar(type_: str, value: object, where: str) -> object:
    """A filter operand in the stored representation (datetimes as the stored strings)."""
    if type_ == "datetime":
        return format_time(parse_time(value, where))
    if type_ in ("number", "flowstate"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise JdyError(INVALID_REQUEST, f"{where}: 需要数字，收到 {value!r}")
        return value
    if not isinstance(value, str):
        raise JdyError(INVALID_REQUEST, f"{where}: 需要文本，收到 {value!r}")
    return value


def _compile_cond(entry: Entry, cond: object, index: int) -> tuple[Predicate, Floor | None]:
    where = f"filter.cond[{index}]"
    if not isinstance(cond, Mapping):
        raise JdyError(INVALID_REQUEST, f"{where} 必须是对象")
    field, method = cond.get("field"), cond.get("method")
    if not isinstance(field, str) or not isinstance(method, str):
        raise JdyError(INVALID_REQUEST, f"{where} 需要 field 和 method")
    type_ = _field_type(entry, field)
    if method not in _METHODS[_family(type_)]:
        raise JdyError(INVALID_REQUEST, f"{where}: 字段 {field}（{type_}）不支持 {method}")
    if method in ("empty", "not_empty"):
        want_empty = method == "empty"
        return (lambda r: _is_empty(r.get(field)) == want_empty), None
    raw = cond.get("value")
    if not isinstance(raw, list):
        raise JdyError(INVALID_REQUEST, f"{where}.value 必须是数组")
    if method == "range":
        if len(raw) != 2:
            raise JdyError(INVALID_REQUEST, f"{where}: range 需要 [下限, 上限]")
        low = None if raw[0] is None else _scalar(type_, raw[0], where)
        high = None if raw[1] is None else _scalar(type_, raw[1], where)
        return _range(field, low, high), _floor(type_, field, low)
    if method in ("in", "nin"):
        if len(raw) > MAX_IN_VALUES:
            raise JdyError(INVALID_REQUEST, f"{where}: {method} 最多 {MAX_IN_VALUES} 个值")
        wanted = {_scalar(type_, v, where) for v in raw}
        is_in = method == "in"
        return (lambda r: (r.get(field) in wanted) == is_in), None
    if len(raw) != 1:
        raise JdyError(INVALID_REQUEST, f"{where}: {method} 需要恰好一个值")
    operand = _scalar(type_, raw[0], where)
    if method == "like":
        text = str(operand)
        return (lambda r: isinstance(r.get(field), str) and text in str(r.get(field))), None
    is_eq = method == "eq"
    floor = _floor(type_, field, operand) if is_eq else None
    return (lambda r: (r.get(field) == operand) == is_eq), floor


def _floor(type_: str, field: str, low: object) -> Floor | None:
    """The lower bound ``range [low, …]`` or ``eq low`` puts on a datetime field, if any."""
    if type_ != "datetime" or not isinstance(low, str):
        return None
    return Floor(field, low)


def _range(field: str, low: object, high: object) -> Predicate:
    def check(record: Mapping[str, object]) -> bool:
        value = record.get(field)
        if value is None or isinstance(value, bool):
            return False
        try:
            return (low is None or value >= low) and (high is None or value <= high)  # type: ignore[operator]
        except TypeError:
            return False

    return check


def compile_filter(entry: Entry, spec: object) -> FilterPlan:
    """The plan for a request's ``filter`` (its predicate None when there is none).

    Raises:
        JdyError: code 1 with the condition and the reason.
    """
    if spec is None:
        return _EVERYTHING
    if not isinstance(spec, Mapping):
        raise JdyError(INVALID_REQUEST, "filter 必须是对象")
    rel = spec.get("rel", "and")
    if rel not in ("and", "or"):
        raise JdyError(INVALID_REQUEST, f"filter.rel 只能是 and 或 or，收到 {rel!r}")
    conds = spec.get("cond", [])
    if not isinstance(conds, Sequence) or isinstance(conds, str):
        raise JdyError(INVALID_REQUEST, "filter.cond 必须是数组")
    compiled = [_compile_cond(entry, c, i) for i, c in enumerate(conds)]
    if not compiled:
        return _EVERYTHING
    preds = [p for p, _ in compiled]
    floors = [f for _, f in compiled]
    if rel == "and":
        return FilterPlan(lambda r: all(p(r) for p in preds), _highest(floors))
    return FilterPlan(lambda r: any(p(r) for p in preds), _lowest(floors))


def _highest(floors: list[Floor | None]) -> Floor | None:
    """``and``: any condition's bound holds; of several on one field the highest (the
    first bounded field's)."""
    known = [f for f in floors if f is not None]
    if not known:
        return None
    return max((f for f in known if f.field == known[0].field), key=lambda f: f.value)


def _lowest(floors: list[Floor | None]) -> Floor | None:
    """``or``: a bound holds only when every condition bounds the same field; the lowest."""
    known = [f for f in floors if f is not None]
    if len(known) < len(floors) or any(f.field != known[0].field for f in known):
        return None
    return min(known, key=lambda f: f.value)
