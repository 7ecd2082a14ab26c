"""Consume a durable pull consumer page by page; ack a page when the engine asks for the next.

As with AMQP (see ``connectors/amqp/reader.py``), resuming the generator is the commit
signal: only then are the page's poison messages parked on the dead-letter subject (stored
by its stream, PubAck awaited) and terminated, and the rest acknowledged, then flushed. If
the engine stops early or fails, the page is nak'ed (and flushed) so JetStream redelivers
it at once; if the process dies, JetStream redelivers it after the consumer's
``ack_wait``. The engine drops redelivered messages as duplicates on (flow, record id,
version).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import nats.errors
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from erpbridge.connectors.amqp.messages import Delivery, decode_delivery
from erpbridge.connectors.nats.client import NatsClient, durable_of
from erpbridge.connectors.nats.errors import SYSTEM, map_errors
from erpbridge.connectors.nats.settings import NatsObject, NatsSettings
from erpbridge.spi.records import ChangePage, Cursor, ReadError, Record

__all__ = ["read_stream"]

_log = structlog.get_logger(__name__)


async def read_stream(
    client: NatsClient,
    object: str,
    spec: NatsObject,
    cursor: Cursor | None,
    page_size: int,
) -> AsyncIterator[ChangePage]:
    """Pages of the records waiting for the object's durable consumer.

    Raises:
        NotFoundError: the stream or the consumer does not exist (``declare`` off).
        TransientError: the server went away; the page is redelivered after ``ack_wait``.
    """
    settings = client.settings
    stream = spec.stream or ""
    js = await client.jetstream()
    durable = durable_of(object, spec)
    with map_errors(object=object, doing=f"consume {durable} on stream {stream}"):
        # Binding does not look the consumer up; a fetch from a missing one just times out.
        await js.consumer_info(stream, durable)
        sub = await js.pull_subscribe_bind(durable=durable, stream=stream)
    held: Sequence[Msg] = ()
    try:
        consumed = 0
        while consumed < settings.read_limit:
            want = min(page_size, settings.read_limit - consumed)
            messages = await _fetch(sub, want, settings, object, stream)
            if not messages:
                return
            held = messages
            consumed += len(messages)
            is_full = len(messages) == page_size and consumed < settings.read_limit
            page, poison = _page(object, spec, stream, messages, cursor, is_full)
            cursor = page.cursor
            yield page
            # Resumed: the engine has committed this page's jobs and dead letters.
            await _settle(client, js, settings, object, messages, poison)
            held = ()
            if len(messages) < page_size:
                return
    finally:
        await _release(client, held, object)
        await _unsubscribe(sub, object)


async def _fetch(
    sub: JetStreamContext.PullSubscription,
    want: int,
    settings: NatsSettings,
    object: str,
    stream: str,
) -> list[Msg]:
    with map_errors(object=object, doing=f"fetch from stream {stream}"):
        try:
            return await sub.fetch(want, timeout=settings.wait_s)
        except TimeoutError:
            # Nothing waiting. nats-py raises its own TimeoutError, or the plain
            # asyncio one when the deadline ran out between its two pull requests
            # (a busy machine); both mean the same here.
            return []


def _page(
    object: str,
    spec: NatsObject,
    stream: str,
    messages: Sequence[Msg],
    cursor: Cursor | None,
    is_full: bool,
) -> tuple[ChangePage, list[tuple[Msg, ReadError]]]:
    records: list[Record] = []
    poison: list[tuple[Msg, ReadError]] = []
    for message in messages:
        decoded = decode_delivery(object, spec, _delivery(stream, message), system=SYSTEM)
        if isinstance(decoded, ReadError):
            _log.warning(
                "nats.message_refused",
                object=object,
                position=decoded.position,
                reason=decoded.error.message,
            )
            poison.append((message, decoded))
        else:
            records.append(decoded)
    stamps = [r.stamp for r in records if r.stamp is not None]
    stamp = max(stamps) if stamps else datetime.now(UTC)
    overlap = cursor.overlap if cursor is not None else timedelta(0)
    page = ChangePage(
        records=records,
        cursor=Cursor(stamp=stamp, last_id=records[-1].id if records else "", overlap=overlap),
        has_more=is_full,
        errors=[error for _, error in poison],
    )
    return page, poison


def _delivery(stream: str, message: Msg) -> Delivery:
    metadata = message.metadata
    sequence = metadata.sequence.stream
    mid = (message.headers or {}).get("Nats-Msg-Id")
    return Delivery(
        body=message.data,
        position=f"stream {stream}, sequence {sequence}, message id {mid or '(none)'}",
        routing_key=message.subject,
        message_id=mid,
        timestamp=metadata.timestamp,
        fallback_version=f"seq:{sequence}",
    )


async def _settle(
    client: NatsClient,
    js: JetStreamContext,
    settings: NatsSettings,
    object: str,
    messages: Sequence[Msg],
    poison: Sequence[tuple[Msg, ReadError]],
) -> None:
    """Park and terminate the poison messages, ack the others, then flush."""
    parked = {id(m) for m, _ in poison}
    with map_errors(object=object, doing="acknowledge a page"):
        await asyncio.gather(*(_park(js, settings, m, e) for m, e in poison))
        for message in messages:
            if id(message) in parked:
                await message.term()  # never redelivered: it is on the dead-letter subject
            else:
                await message.ack()
        await client.flush()


async def _park(
    js: JetStreamContext, settings: NatsSettings, message: Msg, error: ReadError
) -> None:
    headers = dict(message.headers or {})
    headers.update(
        {
            "X-Erpbridge-Error": error.error.message[:1000].replace("\n", " "),
            "X-Erpbridge-Position": error.position,
            "X-Erpbridge-Subject": message.subject,
        }
    )
    # A new message id: the original's would be dropped as a duplicate if it were ours.
    headers.pop("Nats-Msg-Id", None)
    await js.publish(
        settings.dead_letter_subject,
        message.data,
        timeout=settings.confirm_timeout_s,
        headers=headers,
    )


async def _release(client: NatsClient, held: Sequence[Msg], object: str) -> None:
    """Nak a page the engine did not confirm, so JetStream redelivers it now.

    Then flush (a round trip): the server has taken the naks before the next read's pull
    request, which would otherwise find only what came after the page and end there.
    """
    if not held:
        return
    try:
        for message in held:
            await message.nak()
        await client.flush()
    except (nats.errors.Error, OSError) as exc:
        # The connection is gone: JetStream redelivers after ack_wait anyway.
        _log.warning("nats.nak_failed", object=object, error=repr(exc))


async def _unsubscribe(sub: JetStreamContext.PullSubscription, object: str) -> None:
    """Drop the pull subscription (the durable consumer stays on the server)."""
    try:
        await sub.unsubscribe()
    except (nats.errors.Error, OSError) as exc:
        # The connection is gone, and the subscription with it; nothing left to undo.
        _log.warning("nats.unsubscribe_failed", object=object, error=repr(exc))
