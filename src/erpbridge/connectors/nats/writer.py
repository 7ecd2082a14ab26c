"""Publish change events to JetStream: a result is a success only once the stream stored it.

Every op of a batch is published at once and the stream's PubAcks awaited together.
The message id (``Nats-Msg-Id``) is the job's idempotency key, so JetStream itself drops a
re-published event inside the stream's duplicate window (two minutes by default) and
answers with ``duplicate: true``, which counts as stored. No PubAck in time, no stream for
the subject, or a stream refusing the message (limits with discard ``new``) is a
``failed`` result with a :class:`TransientError`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import nats.errors
from nats.js import JetStreamContext

from erpbridge.connectors.amqp.messages import Event, event_of
from erpbridge.connectors.nats.client import NatsClient
from erpbridge.connectors.nats.errors import SYSTEM, classify_error
from erpbridge.spi.errors import ConnectorError
from erpbridge.spi.records import WriteOp, WriteOutcome, WriteResult

__all__ = ["publish_ops"]


async def publish_ops(client: NatsClient, object: str, ops: Sequence[WriteOp]) -> list[WriteResult]:
    """Publish one event per op and wait for the stream's acks; one result per op.

    Raises:
        ConnectorError: the server cannot be reached at all (nothing was published).
    """
    settings = client.settings
    now = datetime.now(UTC)
    events: list[Event | ConnectorError] = []
    spec = settings.objects.get(object)
    for op in ops:
        try:
            events.append(event_of(settings.system, object, op, spec, now))
        except ConnectorError as exc:
            exc.system = SYSTEM
            events.append(exc)
    js = await client.jetstream()
    outcomes = await asyncio.gather(
        *(
            _publish(js, object, e, settings.confirm_timeout_s)
            for e in events
            if isinstance(e, Event)
        )
    )
    stored = iter(outcomes)
    results: list[WriteResult] = []
    for op, event in zip(ops, events, strict=True):
        if isinstance(event, ConnectorError):
            results.append(WriteResult(op.ref, WriteOutcome.FAILED, error=event))
        elif (error := next(stored)) is not None:
            results.append(WriteResult(op.ref, WriteOutcome.FAILED, error=error))
        else:
            results.append(WriteResult(op.ref, event.outcome, event.target_id, event.message_id))
    return results


async def _publish(
    js: JetStreamContext, object: str, event: Event, timeout_s: float
) -> ConnectorError | None:
    """None once the stream stored ``event``; otherwise the classified failure."""
    headers = {"Nats-Msg-Id": event.message_id, "Content-Type": "application/json"}
    try:
        await js.publish(event.routing_key, event.body, timeout=timeout_s, headers=headers)
    except (nats.errors.Error, TimeoutError, OSError) as exc:
        return classify_error(exc, object=object, doing=f"publish {event.routing_key}")
    return None
