"""Publish change events with publisher confirms: a result is a success only once confirmed.

Every op of a batch is published at once on the shared confirm channel and awaited
together, so a batch costs about one round trip. Per op: the broker's ``basic.ack`` makes
it ``created``/``updated``/``deleted``; a ``basic.nack`` (a queue in ``reject-publish``
overflow, an internal error), a ``basic.return`` of a mandatory event nobody is bound
for, or no confirm within ``confirm_timeout_s`` makes it ``failed`` with a
:class:`TransientError` (the engine retries, then dead-letters). A lost confirm does not
mean the event was dropped, so a retry may publish it twice: subscribers dedup on the
message id, which is the job's idempotency key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import aio_pika
import structlog
from aio_pika.abc import AbstractExchange
from aiormq import exceptions as amqp

from erpbridge.connectors.amqp.client import AmqpClient
from erpbridge.connectors.amqp.errors import classify_error, map_errors
from erpbridge.connectors.amqp.messages import Event, event_of
from erpbridge.spi.errors import ConnectorError, TransientError
from erpbridge.spi.records import WriteOp, WriteOutcome, WriteResult

__all__ = ["publish_ops"]

_log = structlog.get_logger(__name__)


async def publish_ops(client: AmqpClient, object: str, ops: Sequence[WriteOp]) -> list[WriteResult]:
    """Publish one event per op and wait for the broker's confirms; one result per op.

    Raises:
        ConnectorError: the exchange cannot be reached at all (nothing was published).
    """
    settings = client.settings
    now = datetime.now(UTC)
    events: list[Event | ConnectorError] = []
    for op in ops:
        try:
            events.append(event_of(settings.system, object, op, settings.objects.get(object), now))
        except ConnectorError as exc:
            events.append(exc)
    with map_errors(object=object, doing=f"open exchange {settings.exchange}"):
        exchange = await client.exchange()
    outcomes = await asyncio.gather(
        *(_publish(client, exchange, object, e) for e in events if isinstance(e, Event))
    )
    confirmed = iter(outcomes)
    results: list[WriteResult] = []
    for op, event in zip(ops, events, strict=True):
        if isinstance(event, ConnectorError):
            results.append(WriteResult(op.ref, WriteOutcome.FAILED, error=event))
        elif (error := next(confirmed)) is not None:
            results.append(WriteResult(op.ref, WriteOutcome.FAILED, error=error))
        else:
            version = event.message_id
            results.append(WriteResult(op.ref, event.outcome, event.target_id, version))
    return results


async def _publish(
    client: AmqpClient, exchange: AbstractExchange, object: str, event: Event
) -> ConnectorError | None:
    """None once the broker confirmed ``event``; otherwise the classified failure."""
    settings = client.settings
    message = aio_pika.Message(
        body=event.body,
        content_type="application/json",
        content_encoding="utf-8",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=event.message_id,
        timestamp=datetime.now(UTC),
        type=event.routing_key,
        app_id="erpbridge",
    )
    try:
        await exchange.publish(
            message,
            routing_key=event.routing_key,
            mandatory=settings.mandatory,
            timeout=settings.confirm_timeout_s,
        )
    except amqp.PublishError as exc:
        # basic.return: mandatory and no queue is bound for this key (yet).
        return TransientError(
            f"no queue is bound for routing key {event.routing_key} (mandatory publish)",
            system="amqp",
            object=object,
            raw=str(exc),
        )
    except amqp.DeliveryError as exc:
        return classify_error(exc, object=object, doing=f"broker refused {event.routing_key}")
    except TimeoutError as exc:
        return TransientError(
            f"no publisher confirm for {event.routing_key} within {settings.confirm_timeout_s:g}s",
            system="amqp",
            object=object,
            raw=repr(exc),
        )
    except (amqp.AMQPError, amqp.ChannelInvalidStateError, OSError) as exc:
        # The channel or connection broke: open a new one on the next call.
        client.forget_channel()
        _log.warning("amqp.publish_failed", object=object, error=repr(exc))
        return classify_error(exc, object=object, doing=f"publish {event.routing_key}")
    return None
