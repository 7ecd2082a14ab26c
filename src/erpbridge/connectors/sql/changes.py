"""One page of changes per change source (blocking; the connector runs them in a thread).

- stamp: a modification-time column, read by (stamp, id). Rows whose stamp is NULL are
  read once, by id, at the start of a read from the beginning (``cursor=None``); an
  incremental read cannot see them, and the docs say so.
- sequence: a rowversion / identity / version counter, read by (sequence, id) from the
  cursor's sequence inclusive (the cursor's ``last_id`` holds it).
- captured: the trigger-fed change table, read by ``change_id`` and, within the overlap,
  by ``changed_at`` (late commits); deletes come back as tombstones.
- whole: no change source; every row by id, each call (a snapshot; pages carry no cursor).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from erpbridge.connectors.sql.database import TableInfo
from erpbridge.connectors.sql.dialects import is_rowversion
from erpbridge.connectors.sql.reader import after_clause, lookup, records_of, select_page
from erpbridge.connectors.sql.values import from_db, python_type, to_db_stamp
from erpbridge.spi.records import Record

__all__ = [
    "UTC_ZONE",
    "Page",
    "captured_page",
    "null_stamp_page",
    "sequence_number",
    "sequence_page",
    "stamp_page",
    "whole_page",
]

#: the change table's ``changed_at`` is UTC (the triggers write UTC_TIMESTAMP / now()).
UTC_ZONE = ZoneInfo("UTC")


@dataclass(frozen=True, slots=True)
class Page:
    """Records of one page, the keyset values after it, and whether it was full."""

    records: list[Record]
    last: tuple[object, ...] | None
    full: bool
    last_stamp: datetime | None = None


def _page(
    conn: sa.Connection,
    info: TableInfo,
    order: list[sa.Column[Any]],
    conditions: list[sa.ColumnElement[bool]],
    limit: int,
    zone: ZoneInfo,
) -> Page:
    rows = select_page(conn, info, order, conditions, limit)
    last = tuple(rows[-1]._mapping[c] for c in order) if rows else None
    return Page(records_of(conn, info, rows, zone), last, len(rows) == limit)


def null_stamp_page(
    conn: sa.Connection, info: TableInfo, zone: ZoneInfo, last: object, limit: int
) -> Page:
    """Rows whose stamp is NULL, by id, after ``last`` (an id, or None for the first)."""
    assert info.stamp_column is not None  # noqa: S101  # the connector picked this mode
    conditions: list[sa.ColumnElement[bool]] = [info.stamp_column.is_(None)]
    if last is not None:
        conditions.append(info.id_column > last)
    return _page(conn, info, [info.id_column], conditions, limit, zone)


def stamp_page(
    conn: sa.Connection,
    info: TableInfo,
    zone: ZoneInfo,
    read_from: datetime | None,
    last: tuple[object, ...] | None,
    limit: int,
) -> Page:
    """Rows at or after ``read_from`` and strictly after ``last``, by (stamp, id)."""
    stamp = info.stamp_column
    assert stamp is not None  # noqa: S101  # the connector picked this mode
    conditions: list[sa.ColumnElement[bool]] = [stamp.is_not(None)]
    if read_from is not None:
        conditions.append(stamp >= to_db_stamp(read_from, stamp, zone))
    if last is not None:
        conditions.append(after_clause([stamp, info.id_column], last))
    return _page(conn, info, [stamp, info.id_column], conditions, limit, zone)


def sequence_page(
    conn: sa.Connection,
    info: TableInfo,
    zone: ZoneInfo,
    start: int | None,
    last: tuple[object, ...] | None,
    limit: int,
) -> Page:
    """Rows whose sequence is at least ``start`` and strictly after ``last``."""
    sequence = info.sequence_column
    assert sequence is not None  # noqa: S101  # the connector picked this mode
    conditions: list[sa.ColumnElement[bool]] = [sequence.is_not(None)]
    if conn.dialect.name == "mssql" and is_rowversion(sequence):
        # Rows of transactions still in flight may hold lower rowversions than rows
        # already committed; reading only below the lowest active one never skips them.
        conditions.append(sequence < sa.func.MIN_ACTIVE_ROWVERSION())
    if start is not None:
        conditions.append(sequence >= _sequence_param(sequence, start))
    if last is not None:
        conditions.append(after_clause([sequence, info.id_column], last))
    return _page(conn, info, [sequence, info.id_column], conditions, limit, zone)


def _sequence_param(column: sa.Column[Any], value: int) -> object:
    """A SQL Server ``rowversion`` is 8 bytes (big-endian); other sequences are integers."""
    if python_type(column) is bytes:
        return value.to_bytes(8, "big")
    return value


def sequence_number(value: object) -> int:
    """A sequence value as an integer (rowversion bytes read big-endian)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return int.from_bytes(bytes(value), "big")
    if isinstance(value, int):
        return value
    return int(str(value))


def whole_page(
    conn: sa.Connection, info: TableInfo, zone: ZoneInfo, last: object, limit: int
) -> Page:
    """Every row by id, after ``last`` (an id, or None for the first page)."""
    conditions = [] if last is None else [info.id_column > last]
    return _page(conn, info, [info.id_column], conditions, limit, zone)


def captured_page(
    conn: sa.Connection,
    info: TableInfo,
    changes: sa.Table,
    zone: ZoneInfo,
    since: tuple[int, datetime] | None,
    last: int | None,
    limit: int,
) -> Page:
    """Changes recorded by the triggers, as records (or tombstones), by ``change_id``.

    Args:
        since: (change id, read_from) of the cursor: changes after that id, or at or after
            that time (the overlap catches late commits); None reads every change.
        last: the last change id of the previous page of this call.
    """
    c = changes.c
    conditions: list[sa.ColumnElement[bool]] = [c.table_name == info.table.name]
    if since is not None:
        read_from = to_db_stamp(since[1], c.changed_at, UTC_ZONE)
        conditions.append(sa.or_(c.change_id > since[0], c.changed_at >= read_from))
    if last is not None:
        conditions.append(c.change_id > last)
    query = (
        sa.select(c.change_id, c.record_id, c.op, c.changed_at)
        .where(*conditions)
        .order_by(c.change_id)
        .limit(limit)
    )
    rows = list(conn.execute(query))
    latest: dict[str, tuple[int, datetime | None]] = {}
    for row in rows:
        changed_at = from_db(row.changed_at, UTC_ZONE)
        latest.pop(row.record_id, None)  # keep each record once, at its latest change
        latest[row.record_id] = (
            row.change_id,
            changed_at if isinstance(changed_at, datetime) else None,
        )
    found = {r.id: r for r in lookup(conn, info, info.id_column, list(latest), zone)}
    records = []
    for record_id, (change_id, changed_at) in latest.items():
        record = found.get(record_id)
        if record is None:
            record = Record(info.name, record_id, {}, f"deleted#{change_id}", changed_at, True)
        records.append(replace(record, stamp=changed_at))
    if not rows:
        return Page([], None, False)
    return Page(records, (rows[-1].change_id,), len(rows) == limit, latest_stamp(rows))


def latest_stamp(rows: list[sa.Row[Any]]) -> datetime | None:
    """The ``changed_at`` of the last change row, as aware UTC."""
    value = from_db(rows[-1].changed_at, UTC_ZONE)
    return value if isinstance(value, datetime) else None
