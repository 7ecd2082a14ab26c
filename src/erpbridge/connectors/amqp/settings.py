"""The settings of an ``amqp`` connection (RabbitMQ; pydantic, validated at load)."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from erpbridge.spi.schema import FieldType
from erpbridge.spi.secrets import Secret
from erpbridge.spi.settings import ConnectionSettings, Limits

__all__ = ["AmqpObject", "AmqpSettings"]

#: a routing-key word: letters, digits, ``_`` and ``-`` (``.`` separates words, and the
#: topic wildcards ``*`` ``#`` would make a published key match the wrong bindings).
_WORD = re.compile(r"^[A-Za-z0-9_\-]+$")


class AmqpObject(BaseModel):
    """One object carried on the bus.

    Attributes:
        queue: the queue ``read_changes`` consumes for this object (commands or changes
            from other systems). None: the object is only published.
        bindings: routing-key patterns bound from the exchange to ``queue`` when
            ``declare`` is on (``wms.Shipment.*``). Default none.
        id_field: where a flat message body holds the record id. Default ``id``.
        version_field: where a flat body holds the version; default: the envelope's
            ``version``, else the message id, else a hash of the body.
        stamp_field: where a flat body holds the change time (ISO 8601 with a zone);
            default: the envelope's ``stamp``, else the message's AMQP timestamp.
        fields: the fields ``describe()`` reports (name -> portable type). Default none.
        queue_type: ``classic`` (default), ``quorum`` or ``stream`` (RabbitMQ 3.9+): the
            ``x-queue-type`` the queue is declared with. A stream is read from an offset
            kept in the flow's cursor (stream.py), so a restart resumes after the last
            committed page and other consumers still see every message.
        stream_start: where a stream is first read when the flow has no cursor yet:
            ``first`` (default: everything the stream retains) or ``next`` (only what
            arrives from now on).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    queue: str | None = Field(default=None, min_length=1, max_length=255)
    queue_type: Literal["classic", "quorum", "stream"] = "classic"
    stream_start: Literal["first", "next"] = "first"
    bindings: tuple[str, ...] = ()
    id_field: str = Field(default="id", min_length=1)
    version_field: str | None = None
    stamp_field: str | None = None
    fields: dict[str, FieldType] = Field(default_factory=dict)


class AmqpSettings(ConnectionSettings):
    """One RabbitMQ virtual host as one user.

    Attributes:
        url: ``amqp://user@host:5672/vhost`` or ``amqps://…``; the password never goes
            in the URL (it is refused there), it goes in ``password``.
        password: a secret reference (``${env:AMQP_PASSWORD}``); None for no password.
        exchange: the topic exchange change events are published to.
            Default ``erpbridge.events``.
        system: the first word of the routing keys we publish
            (``<system>.<object>.<created|updated|deleted>``). Default ``erpbridge``.
        declare: declare the exchange (durable topic), each object's queue (durable, with
            its bindings) and the dead-letter queue when missing. Default on; turn it off
            where the broker's topology is owned by someone else (then the entities must
            exist and check() says which one does not).
        dead_letter_queue: where poison messages (not JSON, no id) are parked, with the
            reason in their headers, after their page is committed. Default
            ``erpbridge.dead_letter``.
        mandatory: publish as mandatory: an event no queue is bound for is a failed
            write (transient, retried, then a dead letter) instead of being dropped by
            the broker. Default off (an event nobody subscribed to is not an error).
        confirm_timeout_s: how long a publish waits for the broker's confirm before it is
            a transient failure. Default 10 s.
        wait_s: a page closes when no message arrived for this long. Default 0.2 s.
        page_time_s: a page closes at the latest this long after it started filling,
            so a trickle of messages cannot hold a page open. Default 5 s.
        read_limit: the most messages one ``read_changes`` call consumes, so a poll
            ends even while producers keep the queue full. Default 10 000.
        objects: the objects on the bus, by name.
    """

    url: str
    password: Secret | None = None
    exchange: str = Field(default="erpbridge.events", min_length=1, max_length=255)
    system: str = "erpbridge"
    declare: bool = True
    dead_letter_queue: str = Field(default="erpbridge.dead_letter", min_length=1, max_length=255)
    mandatory: bool = False
    confirm_timeout_s: float = Field(default=10.0, gt=0)
    wait_s: float = Field(default=0.2, gt=0, le=60)
    page_time_s: float = Field(default=5.0, gt=0, le=60)
    read_limit: int = Field(default=10_000, ge=1)
    objects: dict[str, AmqpObject] = Field(default_factory=dict)
    limits: Limits = Field(default_factory=lambda: Limits(batch_size=500, timeout_s=30.0))

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme not in ("amqp", "amqps"):
            raise ValueError("url must start with amqp:// or amqps://")
        if not parts.hostname:
            raise ValueError("url has no host")
        if parts.password is not None:
            # Never echo the URL: it holds the password we are refusing.
            raise ValueError("url must not hold a password; put a reference in `password`")
        return value

    @field_validator("system")
    @classmethod
    def _system(cls, value: str) -> str:
        if not _WORD.match(value):
            raise ValueError("system must be one routing-key word (letters, digits, _ or -)")
        return value

    @model_validator(mode="after")
    def _objects(self) -> AmqpSettings:
        for name in self.objects:
            if not _WORD.match(name):
                raise ValueError(
                    f"object {name!r} must be one routing-key word (letters, digits, _ or -)"
                )
        return self
