"""Stamps and keyset filters for reading changes by ``FModifyDate`` (reference §3).

K/3 Cloud keeps and answers stamps in server local time without a zone; the connector
turns them into UTC with the connection's offset and back. Pages are read by keyset, not
by ``StartRow``: each next page asks for ``(stamp, id)`` strictly after the last record,
so a record edited while we page cannot shift the offsets and be skipped. The first page
starts at ``cursor.read_from`` (stamp minus overlap); the engine's dedup drops repeats.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

__all__ = ["after_filter", "and_filters", "from_server_text", "quote", "to_server_text"]

_FORMATS = (
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%d %H:%M:%S",
)


def _zone(offset_min: int) -> timezone:
    return timezone(timedelta(minutes=offset_min))


def from_server_text(text: object, offset_min: int) -> datetime | None:
    """A server stamp (``2026-11-02T08:00:00.123``) as aware UTC; None when absent/odd."""
    if not isinstance(text, str) or not text:
        return None
    for fmt in _FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=_zone(offset_min)).astimezone(UTC)
        except ValueError:
            continue
    return None


def to_server_text(stamp: datetime, offset_min: int) -> str:
    """Aware ``stamp`` as the server's local ``YYYY-MM-DD HH:MM:SS.fff`` for a filter."""
    local = stamp.astimezone(_zone(offset_min)).replace(tzinfo=None)
    return local.strftime("%Y-%m-%d %H:%M:%S.") + f"{local.microsecond // 1000:03d}"


def quote(value: object) -> str:
    """A FilterString literal: numbers bare, everything else quoted with '' doubling."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def after_filter(stamp_key: str, pk: str, stamp_text: str, last_id: object) -> str:
    """``(stamp, id)`` strictly after the given record, as a FilterString."""
    s, i = quote(stamp_text), quote(last_id)
    return f"({stamp_key} > {s} OR ({stamp_key} = {s} AND {pk} > {i}))"


def and_filters(*parts: str | None) -> str:
    """Join non-empty filters with AND, each in parentheses."""
    kept = [p.strip() for p in parts if p and p.strip()]
    return " AND ".join(f"({p})" for p in kept)
