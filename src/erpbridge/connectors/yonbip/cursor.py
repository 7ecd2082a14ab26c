"""``pubts`` stamps: server local time text <-> aware UTC (reference §B4).

YonBIP answers and filters ``pubts`` as ``yyyy-MM-dd HH:mm:ss`` in the tenant's local
time (China) without a zone, at one-second resolution: many records share a stamp, so
readers order by (pubts, id) and keep an overlap window.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

__all__ = ["from_server_text", "to_server_text"]

_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S")


def _zone(offset_min: int) -> timezone:
    return timezone(timedelta(minutes=offset_min))


def from_server_text(text: object, offset_min: int) -> datetime | None:
    """A server stamp as aware UTC; None when absent or not a stamp."""
    if not isinstance(text, str) or not text:
        return None
    for fmt in _FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=_zone(offset_min)).astimezone(UTC)
        except ValueError:
            continue
    return None


def to_server_text(stamp: datetime, offset_min: int) -> str:
    """Aware ``stamp`` as server local ``yyyy-MM-dd HH:mm:ss`` (rounded down to the second)."""
    return stamp.astimezone(_zone(offset_min)).strftime("%Y-%m-%d %H:%M:%S")
