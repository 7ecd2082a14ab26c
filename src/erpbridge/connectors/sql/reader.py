"""Reading records: keyset pages by (stamp, id) or (sequence, id), lookups by id or key.

Pages are read by keyset, never by OFFSET: each next page asks for rows strictly after
the last row's own database values, so a row edited while we page cannot shift offsets
and be skipped, and no stamp is rounded on its way back into SQL. The first page of a
call starts at ``cursor.read_from`` (stamp minus overlap), inclusive; the engine's dedup
drops what the overlap brings back. All functions here are blocking (run in a thread).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from erpbridge.connectors.sql.database import TableInfo
from erpbridge.connectors.sql.dialects import selected_columns
from erpbridge.connectors.sql.values import UnfitValueError, coerce, digest, from_db
from erpbridge.spi.records import Record

__all__ = [
    "IN_CHUNK",
    "Row",
    "after_clause",
    "lookup",
    "records_of",
    "select_page",
    "typed_values",
]

#: values per ``IN (...)`` list (bound parameters; well under every driver's limit).
IN_CHUNK = 500

Row = sa.Row[Any]


def after_clause(order: Sequence[sa.Column[Any]], last: Sequence[object]) -> sa.ColumnElement[bool]:
    """Rows strictly after ``last`` in ``order``: ``(a > x) OR (a = x AND b > y)``."""
    first, second = order
    return sa.or_(first > last[0], sa.and_(first == last[0], second > last[1]))


def select_page(
    conn: sa.Connection,
    info: TableInfo,
    order: Sequence[sa.Column[Any]],
    conditions: Sequence[sa.ColumnElement[bool]],
    limit: int,
) -> list[Row]:
    """One page of the object's rows matching ``conditions``, sorted by ``order``."""
    columns = selected_columns(info.table, info.sequence_column)
    query = sa.select(*columns).where(*conditions).order_by(*order).limit(limit)
    return list(conn.execute(query))


def typed_values(column: sa.Column[Any], values: Sequence[object], zone: ZoneInfo) -> list[object]:
    """``values`` as the column holds them; values that cannot be are left out (no match)."""
    out: list[object] = []
    for value in values:
        if value is None:
            continue
        try:
            out.append(coerce(value, column, zone))
        except UnfitValueError:
            continue
    return list(dict.fromkeys(out))


def lookup(
    conn: sa.Connection,
    info: TableInfo,
    column: sa.Column[Any],
    values: Sequence[object],
    zone: ZoneInfo,
) -> list[Record]:
    """Records whose ``column`` is one of ``values`` (in id order per chunk)."""
    wanted = typed_values(column, values, zone)
    rows: list[Row] = []
    for start in range(0, len(wanted), IN_CHUNK):
        chunk = wanted[start : start + IN_CHUNK]
        query = (
            sa.select(*selected_columns(info.table, info.sequence_column))
            .where(column.in_(chunk))
            .order_by(info.id_column)
        )
        rows += list(conn.execute(query))
    return records_of(conn, info, rows, zone)


def _lines(
    conn: sa.Connection, info: TableInfo, rows: Sequence[Row], zone: ZoneInfo
) -> dict[str, dict[object, list[dict[str, object]]]]:
    out: dict[str, dict[object, list[dict[str, object]]]] = {}
    for name, lines in info.lines.items():
        keys = list(dict.fromkeys(r._mapping[lines.parent_key] for r in rows))
        keys = [k for k in keys if k is not None]
        grouped: dict[object, list[dict[str, object]]] = {}
        for start in range(0, len(keys), IN_CHUNK):
            query = (
                sa.select(lines.table)
                .where(lines.parent_column.in_(keys[start : start + IN_CHUNK]))
                .order_by(lines.parent_column, lines.order_by, lines.id_column)
            )
            for line in conn.execute(query):
                fields = {c.name: from_db(line._mapping[c], zone) for c in lines.table.columns}
                grouped.setdefault(line._mapping[lines.parent_column], []).append(fields)
        out[name] = grouped
    return out


def records_of(
    conn: sa.Connection, info: TableInfo, rows: Sequence[Row], zone: ZoneInfo
) -> list[Record]:
    """Rows as records, with their lines attached (one query per lines entry)."""
    lines = _lines(conn, info, rows, zone) if info.lines and rows else {}
    records = []
    for row in rows:
        mapping = row._mapping
        fields: dict[str, object] = {c.name: from_db(mapping[c], zone) for c in info.table.columns}
        for name, grouped in lines.items():
            fields[name] = grouped.get(mapping[info.lines[name].parent_key], [])
        stamp: datetime | None = None
        marker = ""
        if info.stamp_column is not None:
            value = from_db(mapping[info.stamp_column], zone)
            stamp = value if isinstance(value, datetime) else None
            marker = stamp.isoformat() if stamp else ""
        elif info.sequence_column is not None:
            marker = str(from_db(mapping[info.sequence_column], zone))
        version = f"{marker}#{digest(fields)}" if marker else digest(fields)
        records.append(Record(info.name, str(mapping[info.id_column]), fields, version, stamp))
    return records
