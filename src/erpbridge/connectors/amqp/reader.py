"""Consume a queue page by page; acknowledge a page only when the engine asks for the next.

The engine commits a page's jobs (and its dead letters) before it asks for the next page
(docs/engine.md, "Nothing is lost"), so resuming the generator *is* the commit signal:
only then are the page's poison messages parked on the dead-letter queue (with publisher
confirms) and the page acknowledged (one ``basic.ack multiple`` when its delivery tags are
exactly the next unacknowledged ones, else one ack per message). If the engine stops
early, fails to commit, or the process dies, the read's channel closes with the page
unacknowledged and RabbitMQ redelivers it; the engine drops the redelivered messages as
duplicates on (flow, record id, version). At-least-once delivery, exactly-once jobs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import aio_pika
import structlog
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from erpbridge.connectors.amqp.client import AmqpClient
from erpbridge.connectors.amqp.errors import map_errors
from erpbridge.connectors.amqp.messages import Delivery, decode_delivery
from erpbridge.connectors.amqp.settings import AmqpObject, AmqpSettings
from erpbridge.spi.records import ChangePage, Cursor, ReadError, Record

__all__ = ["close_channel", "fill_page", "read_queue"]

_log = structlog.get_logger(__name__)


async def read_queue(
    client: AmqpClient,
    object: str,
    spec: AmqpObject,
    cursor: Cursor | None,
    page_size: int,
) -> AsyncIterator[ChangePage]:
    """Pages of the records waiting on ``spec.queue``, acked after the next page is asked for.

    The cursor is informational (the queue itself is the position): its stamp is the
    newest message's stamp, so the engine's cursor-lag metric shows the queue's age.

    Raises:
        NotFoundError: the queue does not exist (``declare`` off).
        TransientError: the broker went away; the unacknowledged page is redelivered.
    """
    settings = client.settings
    queue_name = spec.queue or ""  # the connector refuses objects without a queue
    inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
    with map_errors(object=object, doing=f"consume queue {spec.queue}"):
        channel = await client.open_channel(prefetch=page_size)
    try:
        with map_errors(object=object, doing=f"consume queue {queue_name}"):
            queue = await channel.get_queue(queue_name, ensure=True)
            await queue.consume(inbox.put, no_ack=False)
        consumed = 0
        acked_through = 0  # the highest delivery tag acknowledged on this channel
        while consumed < settings.read_limit:
            want = min(page_size, settings.read_limit - consumed)
            messages = await fill_page(inbox, want, settings)
            if not messages:
                return
            consumed += len(messages)
            is_full = len(messages) == page_size and consumed < settings.read_limit
            page, poison = _page(object, spec, queue_name, messages, cursor, is_full)
            cursor = page.cursor
            yield page
            # Resumed: the engine has committed this page's jobs and dead letters.
            await _settle(channel, settings, object, queue_name, messages, poison, acked_through)
            acked_through = max(acked_through, *(m.delivery_tag or 0 for m in messages))
            if len(messages) < page_size:
                return
    finally:
        await close_channel(channel, object)


async def fill_page(
    inbox: asyncio.Queue[AbstractIncomingMessage], want: int, settings: AmqpSettings
) -> list[AbstractIncomingMessage]:
    """Up to ``want`` messages: until full, ``wait_s`` without a message, or ``page_time_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.page_time_s
    messages: list[AbstractIncomingMessage] = []
    while len(messages) < want:
        while len(messages) < want and not inbox.empty():
            messages.append(inbox.get_nowait())
        if len(messages) >= want:
            break
        timeout = min(settings.wait_s, deadline - loop.time())
        if timeout <= 0:
            break
        try:
            messages.append(await asyncio.wait_for(inbox.get(), timeout))
        except TimeoutError:
            break
    return messages


def _page(
    object: str,
    spec: AmqpObject,
    queue: str,
    messages: Sequence[AbstractIncomingMessage],
    cursor: Cursor | None,
    is_full: bool,
) -> tuple[ChangePage, list[tuple[AbstractIncomingMessage, ReadError]]]:
    """The page of ``messages`` and the poison messages among them with their errors."""
    records: list[Record] = []
    poison: list[tuple[AbstractIncomingMessage, ReadError]] = []
    for message in messages:
        decoded = decode_delivery(object, spec, _delivery(queue, message))
        if isinstance(decoded, ReadError):
            _log.warning(
                "amqp.message_refused",
                object=object,
                position=decoded.position,
                reason=decoded.error.message,
            )
            poison.append((message, decoded))
        else:
            records.append(decoded)
    stamps = [r.stamp for r in records if r.stamp is not None]
    stamp = max(stamps) if stamps else datetime.now(UTC)
    last_id = records[-1].id if records else ""
    overlap = cursor.overlap if cursor is not None else timedelta(0)
    page = ChangePage(
        records=records,
        cursor=Cursor(stamp=stamp, last_id=last_id, overlap=overlap),
        has_more=is_full,
        errors=[error for _, error in poison],
    )
    return page, poison


def _delivery(queue: str, message: AbstractIncomingMessage) -> Delivery:
    mid = message.message_id or "(none)"
    return Delivery(
        body=message.body,
        position=f"queue {queue}, message id {mid}, delivery tag {message.delivery_tag}",
        routing_key=message.routing_key or "",
        message_id=message.message_id,
        timestamp=message.timestamp,
    )


async def _settle(
    channel: AbstractChannel,
    settings: AmqpSettings,
    object: str,
    queue: str,
    messages: Sequence[AbstractIncomingMessage],
    poison: Sequence[tuple[AbstractIncomingMessage, ReadError]],
    acked_through: int,
) -> None:
    """Park the poison messages on the dead-letter queue (confirmed), then ack the page."""
    with map_errors(object=object, doing=f"acknowledge a page of queue {queue}"):
        # Parked concurrently: one confirm round trip for all of the page's poison.
        await asyncio.gather(*(_park(channel, settings, queue, m, e) for m, e in poison))
        await _ack(messages, acked_through)


async def _ack(messages: Sequence[AbstractIncomingMessage], acked_through: int) -> None:
    """Ack the page: one ``multiple`` ack when its tags are exactly the next ones, else each.

    Delivery tags count every delivery on the channel. A multiple ack up to the page's
    last tag is only safe when every lower unacked tag is in this page; if one is not
    (a delivery that never reached the page), acking it would lose that message.
    """
    tags = [m.delivery_tag or 0 for m in messages]
    if tags == list(range(acked_through + 1, acked_through + 1 + len(tags))):
        await messages[-1].ack(multiple=True)
        return
    _log.warning("amqp.page_tags_not_contiguous", first=tags[0], after=acked_through)
    for message in messages:
        await message.ack()


async def _park(
    channel: AbstractChannel,
    settings: AmqpSettings,
    queue: str,
    message: AbstractIncomingMessage,
    error: ReadError,
) -> None:
    headers = dict(message.headers or {})
    headers.update(
        {
            "x-erpbridge-error": error.error.message[:1000],
            "x-erpbridge-position": error.position,
            "x-erpbridge-queue": queue,
            "x-erpbridge-routing-key": message.routing_key or "",
        }
    )
    parked = aio_pika.Message(
        body=message.body,
        headers=headers,
        content_type=message.content_type,
        message_id=message.message_id,
        timestamp=message.timestamp,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )
    await channel.default_exchange.publish(
        parked, routing_key=settings.dead_letter_queue, timeout=settings.confirm_timeout_s
    )


async def close_channel(channel: AbstractChannel, object: str) -> None:
    """Close the read's channel; RabbitMQ requeues whatever it still holds unacked."""
    if channel.is_closed:
        return
    try:
        await channel.close()
    except (aio_pika.exceptions.AMQPError, OSError, RuntimeError) as exc:
        # The connection is already gone: the broker requeues the messages itself.
        _log.warning("amqp.channel_close_failed", object=object, error=repr(exc))
