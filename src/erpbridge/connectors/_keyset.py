"""Change reads by keyset on a modification stamp, for list APIs paged by page number.

Used by connectors whose list API filters "changed since <stamp>" and pages by index
(YonBIP, U8 OpenAPI). After a full page the next query restarts at that page's last
stamp (records already passed are skipped by their (stamp, id) order key), so an edit
during the read cannot shift offsets and hide a record; only when a whole page shares one
stamp does the page index move on within that stamp. A server that answers the same page
again is an error, never an endless loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

from erpbridge.spi.errors import ConnectorError
from erpbridge.spi.records import ChangePage, Cursor, Record

__all__ = ["Row", "read_by_stamp_keyset"]

Row = Mapping[str, object]


async def read_by_stamp_keyset(
    *,
    fetch: Callable[[str | None, int, int], Awaitable[list[Any]]],
    start: str | None,
    size: int,
    order_key: Callable[[Any], Any],
    stamp_of: Callable[[Any], str],
    to_record: Callable[[Any], Record],
    cursor: Cursor | None,
    overlap: timedelta,
    system: str,
    object: str,
    enrich: Callable[[list[Any]], Awaitable[list[Any]]] | None = None,
) -> AsyncIterator[ChangePage]:
    """Pages of records changed from ``start`` (server stamp text), in ``order_key`` order.

    Args:
        fetch: (start stamp, page index from 1, page size) -> rows of that page.
        order_key: (stamp, id) of a row; orders rows and skips those already passed.
        stamp_of: a row's stamp text, as the server compares it.
        to_record: a row as a Record (its stamp in UTC).
        enrich: adds what the list does not carry (order lines) to the fresh rows.
        cursor: where the read starts; the pages' cursors move on from it.
        overlap: the overlap of a cursor made from scratch.

    Raises:
        ConnectorError: the server answered the same page twice (it ignores paging).
    """
    index, current = 1, cursor
    passed: Any = None
    while True:
        rows = sorted(await fetch(start, index, size), key=order_key)
        fresh = [r for r in rows if passed is None or order_key(r) > passed]
        if index > 1 and rows and not fresh:
            # Page 2+ of one stamp always holds records past the last one read; a server
            # that answers the same page again would otherwise keep us here forever.
            raise ConnectorError(
                f"列表第 {index} 页与上一页重复：服务器似乎忽略了分页参数",
                system=system,
                object=object,
            )
        if enrich is not None:
            fresh = await enrich(fresh)
        records = [to_record(r) for r in fresh]
        for record in records:
            if record.stamp is not None:
                current = (
                    current.advance(record.stamp, record.id)
                    if current is not None
                    else Cursor(record.stamp, record.id, overlap)
                )
        has_more = len(rows) == size
        if records or not has_more:
            yield ChangePage(records, current, has_more)
        if not has_more:
            return
        last = order_key(rows[-1])
        passed = last if passed is None else max(passed, last)
        last_stamp = stamp_of(rows[-1])
        # Move the keyset only forward: a server that ignored the filter cannot loop us.
        if start is None or last_stamp > start:
            start, index = last_stamp, 1
        else:
            index += 1
