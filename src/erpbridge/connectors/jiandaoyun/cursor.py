"""Polling by modification stamp: the ``updateTime`` filter and the (stamp, id) order.

``data/list`` pages by ``_id``, not by time (reference §3), so a reader cannot hand out a
cursor until it has seen every record in its stamp window: :func:`change_pages` takes the
records of one window (from ``cursor.read_from``, inclusive) and cuts them into pages in
(stamp, id) order, each with the cursor after its last record. The overlap brings back
records the engine has already seen; its dedup on (record id, version) drops them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from erpbridge.connectors.jiandaoyun.values import format_stamp
from erpbridge.spi.records import ChangePage, Cursor, Record

__all__ = ["change_pages", "stamp_filter"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def stamp_filter(stamp_field: str, cursor: Cursor | None) -> dict[str, object] | None:
    """``{"rel":"and","cond":[<stamp_field> range [read_from, null]]}``; None from the start."""
    if cursor is None:
        return None
    cond = {
        "field": stamp_field,
        "type": "datetime",
        "method": "range",
        "value": [format_stamp(cursor.read_from), None],
    }
    return {"rel": "and", "cond": [cond]}


def _key(record: Record) -> tuple[datetime, str]:
    return (record.stamp or _EPOCH, record.id)


def change_pages(
    records: Sequence[Record], cursor: Cursor | None, page_size: int
) -> Iterator[ChangePage]:
    """Pages of ``records`` in (stamp, id) order with the cursor after each page.

    A window with no records yields one empty page that keeps ``cursor``.
    """
    ordered = sorted(records, key=_key)
    if not ordered:
        yield ChangePage(records=[], cursor=cursor, has_more=False)
        return
    base = cursor or Cursor(stamp=_EPOCH)
    for start in range(0, len(ordered), page_size):
        page = ordered[start : start + page_size]
        stamp, last_id = _key(page[-1])
        after = Cursor(stamp=stamp, last_id=last_id, overlap=base.overlap)
        yield ChangePage(
            records=page,
            cursor=after if base.is_after(stamp, last_id) else base,
            has_more=start + page_size < len(ordered),
        )
