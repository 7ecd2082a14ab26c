"""List queries: ``simpleVOs`` conditions, ``queryOrders``, ``pageIndex``/``pageSize``.

``simpleVOs`` is a list of ``{"field", "op", "value1", "value2"}`` (reference §B3); the
ops are the platform's: ``eq neq gt egt lt elt between in nin like isnull isnotnull``, and
the spellings of the 请购单列表查询 doc: ``is_null is_not_null``, ``leftlike`` (``%x``: ends
with) and ``rightlike`` (``x%``: starts with) [P: doc; their matching is U].
Values compare as numbers when both sides are numbers, else as text (``pubts`` and
``vouchdate`` texts sort as times). A condition on an unknown field or with an unknown op
is refused with code 999 and the field named. The conditions of a list are and-ed; those
that require ``pubts`` to reach a text (:func:`stamp_floor`) let the list read only the
records from there on (``BipState.rows_from``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from erpbridge.sims.yonbip.state import Row
from erpbridge.sims.yonbip.wire import ApiError, Code

__all__ = [
    "OPS",
    "Condition",
    "Page",
    "field_test",
    "page_of",
    "parse_conditions",
    "parse_orders",
    "positive_int",
    "stamp_floor",
    "voucher_rows",
]

_Test = Callable[[object], bool]


def _key(value: object) -> tuple[int, float, str]:
    if isinstance(value, bool):
        return (0, float(value), "")
    if isinstance(value, int) and abs(value) >= 10**300:
        return (0, math.inf if value > 0 else -math.inf, "")  # float() would overflow
    if isinstance(value, int | float):
        return (0, float(value), "")
    return (1, 0.0, "" if value is None else str(value))


def _cmp(a: object, b: object) -> int:
    ka, kb = _key(a), _key(b)
    if ka[0] != kb[0]:  # number vs text: compare both as text
        ka, kb = (1, 0.0, str(a)), (1, 0.0, str(b))
    return (ka > kb) - (ka < kb)


OPS: dict[str, Callable[[object, object, object], bool]] = {
    "eq": lambda v, a, _: v is not None and _cmp(v, a) == 0,
    "neq": lambda v, a, _: v is not None and _cmp(v, a) != 0,
    "gt": lambda v, a, _: v is not None and _cmp(v, a) > 0,
    "egt": lambda v, a, _: v is not None and _cmp(v, a) >= 0,
    "lt": lambda v, a, _: v is not None and _cmp(v, a) < 0,
    "elt": lambda v, a, _: v is not None and _cmp(v, a) <= 0,
    "between": lambda v, a, b: v is not None and _cmp(v, a) >= 0 and _cmp(v, b) <= 0,
    "in": lambda v, a, _: v is not None and any(_cmp(v, x) == 0 for x in _listed(a)),
    "nin": lambda v, a, _: v is None or all(_cmp(v, x) != 0 for x in _listed(a)),
    "like": lambda v, a, _: v is not None and str(a).strip("%") in str(v),
    "isnull": lambda v, _a, _b: v in (None, ""),
    "isnotnull": lambda v, _a, _b: v not in (None, ""),
    "is_null": lambda v, _a, _b: v in (None, ""),
    "is_not_null": lambda v, _a, _b: v not in (None, ""),
    "leftlike": lambda v, a, _: v is not None and str(v).endswith(str(a).strip("%")),
    "rightlike": lambda v, a, _: v is not None and str(v).startswith(str(a).strip("%")),
}


_NO_VALUE = ("isnull", "isnotnull", "is_null", "is_not_null")
#: ops a value can only pass at or above ``value1`` (``between``: its low end).
_FLOOR_OPS = frozenset({"eq", "gt", "egt", "between"})


def _listed(value: object) -> list[object]:
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return [p.strip() for p in value.split(",") if p.strip()]
    return [value]


def positive_int(body: Mapping[str, object], name: str, default: int, maximum: int) -> int:
    """An integer paging parameter in 1..maximum.

    Raises:
        ApiError: not a positive integer, or above ``maximum``.
    """
    value = body.get(name, default)
    if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ApiError(Code.PARAM_ERROR, f"参数[{name}]应为正整数")
    if value > maximum:
        raise ApiError(Code.PARAM_ERROR, f"参数[{name}]不能大于{maximum}")
    return value


def parse_conditions(raw: object, fields: Sequence[str]) -> list[Callable[[Row], bool]]:
    """``simpleVOs`` as row tests.

    Raises:
        ApiError: not a list of objects, unknown field or op, missing value.
    """
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ApiError(Code.BUSINESS, "simpleVOs 应为数组")
    tests: list[Callable[[Row], bool]] = []
    for n, cond in enumerate(raw):
        if not isinstance(cond, dict):
            raise ApiError(Code.BUSINESS, f"simpleVOs[{n}] 应为对象")
        field, op = cond.get("field"), str(cond.get("op", "eq")).lower()
        if field not in fields:
            raise ApiError(Code.BUSINESS, f"simpleVOs[{n}]: 查询字段[{field}]不存在")
        if op not in OPS:
            raise ApiError(Code.BUSINESS, f"simpleVOs[{n}]: 不支持的比较符[{op}]")
        a, b = cond.get("value1"), cond.get("value2")
        if op not in _NO_VALUE and a is None:
            raise ApiError(Code.BUSINESS, f"simpleVOs[{n}]: value1 不能为空")
        if op == "between" and b is None:
            raise ApiError(Code.BUSINESS, f"simpleVOs[{n}]: between 需要 value2")
        tests.append(Condition(str(field), op, a, b))
    return tests


@dataclass(frozen=True, slots=True)
class Condition:
    """A row test ``row[field] <op> value1 [value2]`` with one of :data:`OPS`.

    It keeps its parts so that :func:`stamp_floor` can tell what it requires of ``pubts``.
    """

    field: str
    op: str
    value1: object
    value2: object = None

    def __call__(self, row: Row) -> bool:
        return OPS[self.op](row.get(self.field), self.value1, self.value2)


def field_test(name: str, op: str, value: object) -> Callable[[Row], bool]:
    """A row test ``row[name] <op> value`` with one of :data:`OPS`."""
    return Condition(name, op, value)


def stamp_floor(tests: Sequence[Callable[[Row], bool]]) -> str | None:
    """The text every record passing all ``tests`` has ``pubts`` at or above, if any.

    A condition ``pubts eq|gt|egt|between <text>`` compares a record's ``pubts`` as text
    (:func:`_cmp`: text against anything but null is a text comparison), so a record whose
    ``pubts`` text is below ``<text>``, or null, fails it. The tests are and-ed: the
    greatest such text bounds them all. A number or a list as ``value1`` compares
    otherwise and bounds nothing; neither do the other ops.
    """
    floors = [
        t.value1
        for t in tests
        if isinstance(t, Condition)
        and t.field == "pubts"
        and t.op in _FLOOR_OPS
        and isinstance(t.value1, str)
    ]
    return max(floors, default=None)


def parse_orders(raw: object, fields: Sequence[str]) -> list[tuple[str, bool]]:
    """``queryOrders`` ``[{"field", "order": "asc"|"desc"}]`` as (field, descending).

    Raises:
        ApiError: not a list of objects, unknown field, unknown direction.
    """
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ApiError(Code.BUSINESS, "queryOrders 应为数组")
    out: list[tuple[str, bool]] = []
    for n, item in enumerate(raw):
        if not isinstance(item, dict) or item.get("field") not in fields:
            raise ApiError(Code.BUSINESS, f"queryOrders[{n}]: 排序字段不存在")
        direction = str(item.get("order", "asc")).lower()
        if direction not in ("asc", "desc"):
            raise ApiError(Code.BUSINESS, f"queryOrders[{n}]: order 应为 asc 或 desc")
        out.append((str(item["field"]), direction == "desc"))
    return out


def _sort_key(name: str) -> Callable[[Row], tuple[int, float, str]]:
    def key(row: Row) -> tuple[int, float, str]:
        return _key(row.get(name))

    return key


class Page:
    """One page of rows plus the totals the list APIs answer."""

    def __init__(self, rows: list[Row], index: int, size: int, total: int) -> None:
        self.rows = rows
        self.index = index
        self.size = size
        self.total = total

    @property
    def page_count(self) -> int:
        """How many pages the whole result has."""
        return (self.total + self.size - 1) // self.size

    def answer(self, **extra: object) -> dict[str, object]:
        """The ``data`` of a voucher list's answer: the paging figures, ``extra`` and the
        page's records last."""
        return {
            "pageIndex": self.index,
            "pageSize": self.size,
            "recordCount": self.total,
            "pageCount": self.page_count,
            "beginPageIndex": 1,
            "endPageIndex": max(1, self.page_count),
            **extra,
            "recordList": self.rows,
        }


def page_of(
    rows: list[Row],
    tests: Sequence[Callable[[Row], bool]],
    orders: Sequence[tuple[str, bool]],
    index: int,
    size: int,
) -> Page:
    """Filter, sort (stable, last key first; ``id`` as the final tie-break) and cut."""
    kept = [r for r in rows if all(t(r) for t in tests)]
    kept.sort(key=lambda r: _key(r.get("id")))
    for name, descending in reversed(orders):
        kept.sort(key=_sort_key(name), reverse=descending)
    start = (index - 1) * size
    return Page(kept[start : start + size], index, size, len(kept))


def voucher_rows(
    body: Mapping[str, object], stored: Sequence[Row], lines: str, prefix: str
) -> list[Row]:
    """A voucher list's records: with ``isSum`` true one header per voucher (its ``lines``
    left out), else one record per line, the line's fields as ``<prefix>_<field>``."""
    if body.get("isSum") is True or str(body.get("isSum")).lower() == "true":
        return [{k: v for k, v in r.items() if k != lines} for r in stored]
    out: list[Row] = []
    for row in stored:
        head = {k: v for k, v in row.items() if k != lines}
        items = row.get(lines)
        for line in items if isinstance(items, list) else []:
            if isinstance(line, dict):
                out.append({**head, **{f"{prefix}_{k}": v for k, v in line.items()}})
    return out
