"""Incremental reads by ``LastUpdateDate``: ``q`` literals and keyset filters (reference §3).

Pages are read by keyset, not by ``offset`` (offset paging over a moving set skips records,
§3): the first page asks for ``LastUpdateDate >= read_from``, each next page for records
strictly after the last one read, ``(LastUpdateDate > S or (LastUpdateDate = S and Id > I))``,
ordered ``LastUpdateDate:asc,Id:asc``. The cursor's overlap re-reads its window on the next
run; the engine drops the repeats by version. Objects without an id attribute (opaque hash
keys) are read with ``offset`` inside one query, and rely on the overlap.
"""

from __future__ import annotations

from datetime import UTC, datetime

from erpbridge.connectors.oracle.objects import STAMP_FIELD

__all__ = ["after_filter", "format_stamp", "literal", "parse_stamp", "start_filter"]


def format_stamp(value: datetime) -> str:
    """A UTC date-time literal body with milliseconds (``2026-01-05T09:12:44.123+00:00``)."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+00:00"


def parse_stamp(value: object) -> datetime | None:
    """An Oracle date-time string as aware UTC; None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp.astimezone(UTC) if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def literal(value: object) -> str:
    """A ``q`` literal: numbers bare, booleans bare, everything else quoted ('' escapes ').

    The doubled quote is the SQL-style escape; Oracle's pages do not show one [U].
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime):
        return f"'{format_stamp(value)}'"
    return "'" + str(value).replace("'", "''") + "'"


def _id_literal(last_id: str) -> str:
    return last_id if last_id.isascii() and last_id.isdigit() else literal(last_id)


def start_filter(read_from: datetime) -> str:
    """The first page: every record changed at or after ``read_from``."""
    return f"{STAMP_FIELD} >= {literal(read_from)}"


def after_filter(stamp: str, id_field: str, last_id: str) -> str:
    """The next page: strictly after (stamp, id) in read order (stamp as the server wrote it)."""
    s = literal(stamp)
    return f"({STAMP_FIELD} > {s} or ({STAMP_FIELD} = {s} and {id_field} > {_id_literal(last_id)}))"
