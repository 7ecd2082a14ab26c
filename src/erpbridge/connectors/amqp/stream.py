"""Read a RabbitMQ stream (``x-queue-type: stream``) from an offset kept in the cursor.

A stream is a log, not a queue: consuming does not remove messages, and an ack only
grants the broker credit to deliver more. So the position is ours to keep: each page's
cursor carries the offset of its last message (RabbitMQ puts it in the
``x-stream-offset`` header of every delivery), the engine stores that cursor in the same
transaction as the page's jobs, and the next read (after a restart too) consumes with
``x-stream-offset`` = that offset + 1. A crash before the commit reads the page again
(the engine drops its records as duplicates); nothing committed is read twice.

Over AMQP 0-9-1 a stream consumer needs a prefetch (``basic.qos``) and manual acks;
delivery may start at the beginning of the chunk holding the asked offset, so messages
before it are skipped here. Poison messages are read errors on their page (the engine
stores them as dead letters) and the offset moves past them: a stream cannot take a
message back, and parking a copy elsewhere would add nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import structlog
from aio_pika.abc import AbstractIncomingMessage

from erpbridge.connectors.amqp.client import AmqpClient
from erpbridge.connectors.amqp.errors import map_errors
from erpbridge.connectors.amqp.messages import Delivery, decode_delivery
from erpbridge.connectors.amqp.reader import close_channel, fill_page
from erpbridge.connectors.amqp.settings import AmqpObject
from erpbridge.spi.records import ChangePage, Cursor, ReadError, Record

__all__ = ["STREAM_MARK", "read_stream", "stream_cursor", "stream_offset"]

STREAM_MARK = "amqp-stream/1"

_log = structlog.get_logger(__name__)


def stream_offset(cursor: Cursor | None) -> int | None:
    """The offset of the last committed message a stored cursor names (None: none)."""
    if cursor is None:
        return None
    try:
        data = json.loads(cursor.last_id)
    except ValueError:
        return None  # a queue cursor (the object was a classic queue before)
    if not isinstance(data, dict) or data.get("v") != STREAM_MARK:
        return None
    offset = data.get("offset")
    return offset if isinstance(offset, int) and not isinstance(offset, bool) else None


def stream_cursor(offset: int, stamp: datetime) -> Cursor:
    """The cursor after the message at ``offset``."""
    text = json.dumps({"v": STREAM_MARK, "offset": offset})
    return Cursor(stamp=stamp, last_id=text, overlap=timedelta(0))


async def read_stream(
    client: AmqpClient,
    object: str,
    spec: AmqpObject,
    cursor: Cursor | None,
    page_size: int,
) -> AsyncIterator[ChangePage]:
    """Pages of the stream after the cursor's offset (from ``stream_start`` without one).

    Raises:
        NotFoundError: the stream does not exist (``declare`` off).
        TransientError: the broker went away; the next read resumes at the stored offset.
    """
    settings = client.settings
    name = spec.queue or ""
    last = stream_offset(cursor)
    start: int | str = last + 1 if last is not None else spec.stream_start
    with map_errors(object=object, doing=f"consume stream {name}"):
        channel = await client.open_channel(prefetch=page_size)
    try:
        arrivals: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        with map_errors(object=object, doing=f"consume stream {name}"):
            queue = await channel.get_queue(name, ensure=True)
            await queue.consume(arrivals.put, no_ack=False, arguments={"x-stream-offset": start})
        consumed = 0
        previous = cursor
        while consumed < settings.read_limit:
            want = min(page_size, settings.read_limit - consumed)
            inbox = await fill_page(arrivals, want, settings)
            if not inbox:
                return
            with map_errors(object=object, doing=f"acknowledge stream {name}"):
                # Credit only: the stored cursor, not the ack, is the position.
                await inbox[-1].ack(multiple=True)
            fresh = [m for m in inbox if isinstance(start, str) or _offset(m) >= start]
            consumed += len(inbox)
            if isinstance(start, int) and fresh and _offset(fresh[0]) > start:
                _log.warning(
                    "amqp.stream_gap",
                    object=object,
                    stream=name,
                    wanted=start,
                    first=_offset(fresh[0]),
                )  # retention removed messages we had not read
            is_full = len(inbox) == want and consumed < settings.read_limit
            if fresh:
                page = _page(object, spec, name, fresh, previous, is_full)
                previous = page.cursor
                start = _offset(fresh[-1]) + 1
                yield page
            if len(inbox) < want:
                return
    finally:
        await close_channel(channel, object)


def _offset(message: AbstractIncomingMessage) -> int:
    value = (message.headers or {}).get("x-stream-offset")
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def _page(
    object: str,
    spec: AmqpObject,
    stream: str,
    messages: Sequence[AbstractIncomingMessage],
    previous: Cursor | None,
    is_full: bool,
) -> ChangePage:
    records: list[Record] = []
    errors: list[ReadError] = []
    for message in messages:
        mid = message.message_id or "(none)"
        delivery = Delivery(
            body=message.body,
            position=f"stream {stream}, offset {_offset(message)}, message id {mid}",
            routing_key=message.routing_key or "",
            message_id=message.message_id,
            timestamp=message.timestamp,
        )
        decoded = decode_delivery(object, spec, delivery)
        if isinstance(decoded, ReadError):
            errors.append(decoded)
        else:
            records.append(decoded)
    stamps = [r.stamp for r in records if r.stamp is not None]
    fallback = previous.stamp if previous is not None else datetime.now(UTC)
    stamp = max(stamps) if stamps else fallback
    cursor = stream_cursor(_offset(messages[-1]), stamp)
    return ChangePage(records=records, cursor=cursor, has_more=is_full, errors=errors)
