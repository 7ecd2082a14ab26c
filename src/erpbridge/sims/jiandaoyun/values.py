"""Widget values: the write format (``{"w": {"value": v}}``) checked and turned into the
read format (plain values, member objects, sub-records with ``_id``), per widget type.

Reference §2.2. The product does not check required fields or duplicates, and neither does
this module; it refuses only values of the wrong *shape* (a string in a number widget), and
widgets the form does not have, with the widget named in the message. Whether the real API
refuses or silently drops an unknown widget is not documented; refusing is the safer copy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone

from erpbridge.sims.jiandaoyun.errors import INVALID_REQUEST, INVALID_VALUE, JdyError
from erpbridge.sims.jiandaoyun.widgets import MEMBERS, READ_ONLY_TYPES, SYSTEM_FIELDS, Entry, Widget

__all__ = ["format_time", "member", "parse_time", "read_data"]

#: China Standard Time: the product's zone for dates written without one.
_CST = timezone(timedelta(hours=8))

#: a new sub-row id, given by the state (ObjectIds increase).
NewId = Callable[[], str]


def format_time(stamp: datetime) -> str:
    """ISO-8601 UTC with milliseconds and ``Z``: ``2024-05-01T02:03:04.000Z``."""
    stamp = stamp.astimezone(UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def parse_time(value: object, where: str) -> datetime:
    """A datetime written as an ISO string or as epoch milliseconds.

    Epoch milliseconds are accepted too because clients in the wild send them; the
    reference marks that as unsure, so both readings work here.

    Raises:
        JdyError: a value that is neither.
    """
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        try:
            return datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            pass
    elif isinstance(value, str):
        try:
            stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            # A date without a zone is Beijing time, as the product's UI shows dates.
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=_CST)
            return stamp.astimezone(UTC)
    raise JdyError(INVALID_VALUE, f"字段 {where} 的值不是有效的日期时间: {value!r}")


def member(username: str) -> dict[str, object]:
    """The member object a ``user`` widget reads back as."""
    return {"username": username, "name": MEMBERS[username], "status": 1, "type": 0}


def _text(value: object, where: str) -> object:
    if isinstance(value, str):
        return value
    raise JdyError(INVALID_VALUE, f"字段 {where} 需要文本值，收到 {type(value).__name__}")


def _number(value: object, where: str) -> object:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return value
    raise JdyError(INVALID_VALUE, f"字段 {where} 需要数字值，收到 {value!r}")


def _datetime(value: object, where: str) -> object:
    return format_time(parse_time(value, where))


def _texts(value: object, where: str) -> object:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise JdyError(INVALID_VALUE, f"字段 {where} 需要文本数组")


def _user(value: object, where: str) -> object:
    if isinstance(value, str) and value in MEMBERS:
        return member(value)
    raise JdyError(INVALID_VALUE, f"字段 {where} 的成员不存在: {value!r}")


def _users(value: object, where: str) -> object:
    if isinstance(value, list):
        return [_user(v, where) for v in value]
    raise JdyError(INVALID_VALUE, f"字段 {where} 需要成员数组")


def _phone(value: object, where: str) -> object:
    if isinstance(value, Mapping) and isinstance(value.get("phone"), str):
        return {"phone": value["phone"], "verified": False}
    raise JdyError(INVALID_VALUE, f'字段 {where} 需要 {{"phone": "…"}}')


_ADDRESS_KEYS = ("province", "city", "district", "detail")


def _address(value: object, where: str) -> object:
    if (
        isinstance(value, Mapping)
        and set(value) <= {*_ADDRESS_KEYS, "lnglatXY"}
        and all(isinstance(value.get(k, ""), str) for k in _ADDRESS_KEYS)
    ):
        return {k: value.get(k, "") for k in _ADDRESS_KEYS}
    raise JdyError(INVALID_VALUE, f"字段 {where} 需要地址对象 (province, city, district, detail)")


_CONVERTERS: dict[str, Callable[[object, str], object]] = {
    "text": _text,
    "textarea": _text,
    "combo": _text,
    "radiogroup": _text,
    "number": _number,
    "datetime": _datetime,
    "checkboxgroup": _texts,
    "combocheck": _texts,
    "user": _user,
    "usergroup": _users,
    "phone": _phone,
    "address": _address,
}


def read_data(
    entry: Entry,
    data: object,
    new_id: NewId,
    *,
    current: Mapping[str, object] | None = None,
    allow_subform: bool = True,
) -> dict[str, object]:
    """Check a write-format ``data`` object and return its widgets in read format.

    Args:
        entry: the form written to.
        data: the request's ``data`` (``{"<widget>": {"value": v}}``).
        new_id: makes a sub-row ``_id``.
        current: the stored record on update (sub-rows keep their ``_id``).
        allow_subform: False for ``batch_update``, which does not support subforms.

    Raises:
        JdyError: ``data`` is not an object, names an unknown or read-only widget, or a
            value has the wrong shape; the message names the widget.
    """
    if not isinstance(data, Mapping):
        raise JdyError(INVALID_REQUEST, "data 必须是对象")
    out: dict[str, object] = {}
    for name, wrapped in data.items():
        widget = entry.widget(name)
        if widget is None:
            if name in SYSTEM_FIELDS:
                raise JdyError(INVALID_VALUE, f"系统字段 {name} 不能通过接口写入")
            raise JdyError(INVALID_VALUE, f"表单「{entry.name}」中不存在字段 {name}")
        if widget.type in READ_ONLY_TYPES:
            raise JdyError(INVALID_VALUE, f"字段 {name}（{widget.label}）不支持通过接口写入")
        if not isinstance(wrapped, Mapping) or "value" not in wrapped:
            raise JdyError(INVALID_REQUEST, f'字段 {name} 的格式应为 {{"value": …}}')
        value = wrapped["value"]
        if widget.type == "subform":
            if not allow_subform:
                raise JdyError(INVALID_REQUEST, f"批量修改不支持子表单字段 {name}")
            rows = current.get(name) if current else None
            out[name] = _subform(widget, value, new_id, rows if isinstance(rows, list) else [])
        elif value is None:
            out[name] = None  # clears the widget
        else:
            out[name] = _CONVERTERS[widget.type](value, f"{name}（{widget.label}）")
    return out


def _subform(widget: Widget, value: object, new_id: NewId, current: list[object]) -> object:
    """A whole new subform: rows keep a known ``_id`` (reference: sub-row ids, unsure)."""
    if value is None:
        return []
    where = f"{widget.name}（{widget.label}）"
    if not isinstance(value, list):
        raise JdyError(INVALID_VALUE, f"子表单 {where} 需要数组")
    known = {r.get("_id") for r in current if isinstance(r, Mapping)}
    items = {w.name: w for w in widget.items}
    rows: list[object] = []
    for index, row in enumerate(value):
        if not isinstance(row, Mapping):
            raise JdyError(INVALID_VALUE, f"子表单 {where} 第 {index + 1} 行需要对象")
        row_id = row.get("_id")
        if isinstance(row_id, Mapping):
            row_id = row_id.get("value")
        out: dict[str, object] = {"_id": row_id if row_id in known else new_id()}
        for name, wrapped in row.items():
            if name == "_id":
                continue
            item = items.get(name)
            if item is None:
                raise JdyError(INVALID_VALUE, f"子表单 {where} 中不存在字段 {name}")
            if not isinstance(wrapped, Mapping) or "value" not in wrapped:
                raise JdyError(INVALID_REQUEST, f'子表单字段 {name} 的格式应为 {{"value": …}}')
            inner = wrapped["value"]
            sub_where = f"{where}.{name}（{item.label}）"
            out[name] = None if inner is None else _CONVERTERS[item.type](inner, sub_where)
        rows.append(out)
    return rows
