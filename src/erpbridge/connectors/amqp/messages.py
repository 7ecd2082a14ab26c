"""The message format: change events we publish, and messages we read back into records.

A change event (what ``write`` publishes, routing key ``<system>.<object>.<event>``)::

    {"system": "crm", "object": "Account", "event": "updated", "id": "001",
     "version": "<message id>", "stamp": "2026-11-25T14:00:00+00:00",
     "fields": {"Name": "华北机械", ...}}

A consumed message is either such an envelope (``id`` and an object ``fields``) or a flat
JSON object whose id sits in the object's ``id_field`` (a command from OA or WMS). A
message that is not UTF-8 JSON, not an object, or lacks an id is a :class:`ReadError`
with its position, never an exception that would stop the page.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Protocol

from erpbridge.connectors.amqp.errors import SYSTEM
from erpbridge.spi.errors import ValidationError
from erpbridge.spi.records import ReadError, Record, WriteMode, WriteOp, WriteOutcome

__all__ = [
    "BodyFields",
    "Delivery",
    "Event",
    "decode_delivery",
    "encode_event",
    "event_of",
]

#: a JSON value (an alias: the spi methods take a parameter called ``object``).
_Value = object

#: how much of a poison body is kept in the error (the whole body goes to the dead-letter queue).
_EXCERPT = 500


@dataclasses.dataclass(frozen=True, slots=True)
class Delivery:
    """What a reader needs of one delivered broker message (library-neutral).

    Attributes:
        body: the raw body.
        position: where the message was, for people (queue or stream, message id, tag).
        routing_key: its routing key or subject (a last word ``deleted`` marks a delete).
        message_id: the producer's message id, if any.
        timestamp: when the broker or producer stamped it, if known.
        fallback_version: a version stable across redeliveries when the body and the
            message id give none (a stream sequence); default: a hash of the body.
    """

    body: bytes
    position: str
    routing_key: str = ""
    message_id: str | None = None
    timestamp: datetime | None = None
    fallback_version: str | None = None


class BodyFields(Protocol):
    """Where a flat body keeps its id, version and stamp (an object's settings)."""

    @property
    def id_field(self) -> str: ...
    @property
    def version_field(self) -> str | None: ...
    @property
    def stamp_field(self) -> str | None: ...


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """One change event ready to publish."""

    routing_key: str
    message_id: str
    target_id: str
    outcome: WriteOutcome
    body: bytes


def event_of(
    system: str, object: str, op: WriteOp, spec: BodyFields | None, now: datetime
) -> Event:
    """The change event for ``op``.

    The message id is the op's idempotency key (the engine's ``flow:record:version``), so
    a re-published event after a crash carries the same id and subscribers can dedup.

    Raises:
        ValidationError: a delete without an id, or a field value JSON cannot carry.
    """
    id_field = spec.id_field if spec else "id"
    target_id = _target_id(op, id_field)
    if op.mode is WriteMode.DELETE:
        if target_id is None:
            raise ValidationError("a delete needs the record id", system=SYSTEM, object=object)
        outcome, event = WriteOutcome.DELETED, "deleted"
    elif op.mode is WriteMode.UPDATE or (op.mode is WriteMode.UPSERT and op.target_id):
        outcome, event = WriteOutcome.UPDATED, "updated"
    else:
        outcome, event = WriteOutcome.CREATED, "created"
    message_id = op.idempotency_key or uuid.uuid4().hex
    if target_id is None:
        # A stable id per job, so a retried create names the same record.
        target_id = str(uuid.uuid5(uuid.NAMESPACE_URL, message_id))
    document = {
        "system": system,
        "object": object,
        "event": event,
        "id": target_id,
        "version": message_id,
        "stamp": now.astimezone(UTC).isoformat(),
        "fields": dict(op.fields),
    }
    body = encode_event(document, object)
    return Event(f"{system}.{object}.{event}", message_id, target_id, outcome, body)


def encode_event(document: Mapping[str, object], object: str) -> bytes:
    """UTF-8 JSON of ``document``; dates as ISO 8601, decimals as strings (exact).

    Raises:
        ValidationError: a value JSON cannot carry (the field is named when known).
    """
    try:
        return json.dumps(document, ensure_ascii=False, default=_json_default).encode()
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"cannot encode the event as JSON: {exc}", system=SYSTEM, object=object
        ) from exc


def _json_default(value: object) -> object:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        raise TypeError("bytes values are not carried in events (encode them first)")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _target_id(op: WriteOp, id_field: str) -> str | None:
    for value in (op.target_id, op.fields.get(id_field), op.key_value):
        if value not in (None, "") and not isinstance(value, bool):
            return str(value)
    return None


def decode_delivery(
    object: str, spec: BodyFields, delivery: Delivery, system: str = SYSTEM
) -> Record | ReadError:
    """The record a message carries, or a :class:`ReadError` naming its position.

    ``system`` names the connector in the error (default ``amqp``).
    """
    try:
        return _record(object, spec, delivery)
    except ValidationError as exc:
        exc.system = system
        return ReadError(position=delivery.position, error=exc, object=object)


def _refuse(
    object: str, delivery: Delivery, reason: str, field: str | None = None
) -> ValidationError:
    """A ValidationError naming the message's position, with a body excerpt as ``raw``."""
    return ValidationError(
        f"{delivery.position}: {reason}",
        field=field,
        system=SYSTEM,
        object=object,
        raw=delivery.body[:_EXCERPT].decode("utf-8", errors="replace"),
    )


def _record(object: str, spec: BodyFields, delivery: Delivery) -> Record:
    def refuse(reason: str, field: str | None = None) -> ValidationError:
        return _refuse(object, delivery, reason, field)

    try:
        document = json.loads(delivery.body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise refuse(f"the body is not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise refuse(
            f"the body is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from exc
    if not isinstance(document, dict):
        raise refuse(f"the body is JSON {type(document).__name__}, not an object")
    envelope = isinstance(document.get("fields"), dict) and "id" in document
    fields: dict[str, _Value] = document["fields"] if envelope else document
    id_key = "id" if envelope else spec.id_field
    record_id = document.get(id_key)
    if record_id in (None, "") or isinstance(record_id, bool | dict | list | float):
        raise refuse(f"no record id in {id_key!r}", field=id_key)
    version = _version(document, envelope, spec, delivery)
    stamp = _stamp(object, document, envelope, spec, delivery)
    deleted = delivery.routing_key.endswith(".deleted") or (
        envelope and (document.get("event") == "deleted" or document.get("deleted") is True)
    )
    return Record(
        object=object,
        id=str(record_id),
        fields=fields,
        version=version,
        stamp=stamp,
        deleted=bool(deleted),
    )


def _version(
    document: dict[str, object], envelope: bool, spec: BodyFields, delivery: Delivery
) -> str:
    key = "version" if envelope else spec.version_field
    if key is not None and document.get(key) not in (None, ""):
        return str(document[key])
    if delivery.message_id:
        return delivery.message_id
    if delivery.fallback_version:
        return delivery.fallback_version
    # Stable across redeliveries, so the engine's dedup recognises a redelivered message.
    return "sha256:" + hashlib.sha256(delivery.body).hexdigest()[:32]


def _stamp(
    object: str,
    document: dict[str, object],
    envelope: bool,
    spec: BodyFields,
    delivery: Delivery,
) -> datetime | None:
    key = "stamp" if envelope else spec.stamp_field
    value = document.get(key) if key is not None else None
    if value in (None, ""):
        return delivery.timestamp.astimezone(UTC) if delivery.timestamp else None
    if not isinstance(value, str):
        raise _refuse(object, delivery, f"{key!r} is not an ISO 8601 text", key)
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _refuse(object, delivery, f"{key!r} is not ISO 8601: {value[:40]!r}", key) from exc
    if stamp.tzinfo is None:
        raise _refuse(object, delivery, f"{key!r} has no time zone: {value[:40]!r}", key)
    return stamp.astimezone(UTC)
