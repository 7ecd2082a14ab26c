"""Values between records and columns: checked before a write, made portable after a read.

A value of the wrong type for its column is refused here, naming the column and why,
before any SQL runs; strict database modes are the second line. Naive date-times in the
database are in the connection's time zone; records carry aware UTC date-times.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

__all__ = [
    "UnfitValueError",
    "coerce",
    "digest",
    "from_db",
    "is_aware_column",
    "python_type",
    "to_db_stamp",
    "to_json_text",
]


class UnfitValueError(ValueError):
    """A value that does not fit its column; the message says why."""


def python_type(column: sa.Column[Any]) -> type | None:
    """The Python type the column holds, or None when the dialect does not say."""
    try:
        return column.type.python_type
    except NotImplementedError:
        return None


def is_aware_column(column: sa.Column[Any]) -> bool:
    """True for ``timestamp with time zone`` columns."""
    return isinstance(column.type, sa.DateTime) and bool(column.type.timezone)


def to_db_stamp(stamp: dt.datetime, column: sa.Column[Any], zone: ZoneInfo) -> dt.datetime:
    """An aware UTC stamp as the column compares it (naive local for naive columns)."""
    if is_aware_column(column):
        return stamp
    return stamp.astimezone(zone).replace(tzinfo=None)


def from_db(value: object, zone: ZoneInfo) -> object:
    """A column value as a record holds it: aware UTC date-times, hex for bytes."""
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=zone)
        return aware.astimezone(dt.UTC)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return value


def _integer(value: object) -> int:
    if isinstance(value, bool):
        raise UnfitValueError(f"expects an integer, got a boolean ({value})")
    if isinstance(value, int):
        return value
    if isinstance(value, decimal.Decimal | float) and value == int(value):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value.strip())
    raise UnfitValueError(f"expects an integer, got {value!r}")


def _decimal(value: object, column: sa.Column[Any]) -> decimal.Decimal | float:
    if isinstance(value, bool):
        raise UnfitValueError(f"expects a number, got a boolean ({value})")
    try:
        number = decimal.Decimal(str(value).strip()) if not isinstance(value, float) else value
    except (decimal.InvalidOperation, ValueError):
        raise UnfitValueError(f"expects a number, got {value!r}") from None
    if isinstance(number, decimal.Decimal) and not number.is_finite():
        raise UnfitValueError(f"expects a finite number, got {value!r}")
    kind = column.type
    if isinstance(kind, sa.Numeric) and not isinstance(kind, sa.Float) and kind.precision:
        whole = kind.precision - (kind.scale or 0)
        if abs(decimal.Decimal(str(number))) >= decimal.Decimal(10) ** whole:
            raise UnfitValueError(
                f"{value} does not fit NUMERIC({kind.precision},{kind.scale or 0}) "
                f"(at most {whole} digits before the point)"
            )
    return number


def _text(value: object, column: sa.Column[Any]) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | decimal.Decimal):
        raise UnfitValueError(f"expects text, got {type(value).__name__} {value!r}")
    text = str(value)
    length = getattr(column.type, "length", None)
    if isinstance(length, int) and len(text) > length:
        raise UnfitValueError(f"is {len(text)} characters long, the column holds at most {length}")
    return text


def _datetime(value: object, column: sa.Column[Any], zone: ZoneInfo) -> dt.datetime:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise UnfitValueError(f"expects an ISO date-time, got {value!r}") from None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    if not isinstance(value, dt.datetime):
        raise UnfitValueError(f"expects a date-time, got {value!r}")
    aware = value if value.tzinfo is not None else value.replace(tzinfo=zone)
    return to_db_stamp(aware.astimezone(dt.UTC), column, zone)


def _date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        if value.time() != dt.time():
            raise UnfitValueError(f"expects a date, got a date-time with a time ({value})")
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    raise UnfitValueError(f"expects a date (YYYY-MM-DD), got {value!r}")


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise UnfitValueError(f"expects true or false, got {value!r}")


def coerce(value: object, column: sa.Column[Any], zone: ZoneInfo) -> object:
    """``value`` as the column stores it.

    Raises:
        UnfitValueError: the value does not fit (wrong type, too long, too large, NULL in a
            NOT NULL column); the message says why.
    """
    if value is None:
        if not column.nullable:
            raise UnfitValueError("is required (the column is NOT NULL)")
        return None
    if isinstance(column.type, sa.Boolean):
        return _boolean(value)
    kind = python_type(column)
    if kind is bool:
        return _boolean(value)
    if kind is int:
        return _integer(value)
    if kind in (decimal.Decimal, float):
        return _decimal(value, column)
    if kind is str:
        return _text(value, column)
    if kind is dt.datetime:
        return _datetime(value, column, zone)
    if kind is dt.date:
        return _date(value)
    if kind is dt.time and isinstance(value, str):
        try:
            return dt.time.fromisoformat(value.strip())
        except ValueError:
            raise UnfitValueError(f"expects a time (HH:MM:SS), got {value!r}") from None
    if isinstance(value, Mapping | list):
        raise UnfitValueError(f"expects a single value, got {type(value).__name__}")
    return value


def _json_default(value: object) -> str:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"{type(value).__name__} is not JSON")


def to_json_text(fields: Mapping[str, object]) -> str:
    """Fields as JSON (dates ISO, decimals as strings), keys sorted, Chinese kept."""
    return json.dumps(fields, default=_json_default, ensure_ascii=False, sort_keys=True)


def digest(fields: Mapping[str, object]) -> str:
    """A short content hash of a record's fields (part of its version)."""
    return hashlib.sha256(to_json_text(fields).encode()).hexdigest()[:16]
