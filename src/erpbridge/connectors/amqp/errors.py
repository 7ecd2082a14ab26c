"""AMQP failures -> spi errors, in one place: a table of exception types plus ``map_errors``.

aiormq raises one exception class per AMQP reply code (403 ACCESS_REFUSED,
404 NOT_FOUND, 406 PRECONDITION_FAILED, ...) and per connection failure; the table maps
each to an spi class, most specific first. The broker's own reply text is kept verbatim.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from aiormq import exceptions as amqp

from erpbridge.spi.errors import (
    AuthError,
    ConnectorError,
    NotFoundError,
    TransientError,
    ValidationError,
)

__all__ = ["ERROR_TABLE", "SYSTEM", "classify_error", "map_errors"]

SYSTEM = "amqp"

#: exception type -> spi class; the first matching row wins, so subclasses come first.
ERROR_TABLE: tuple[tuple[type[BaseException], type[ConnectorError]], ...] = (
    # 403 on a channel: the user may not use that exchange or queue.
    (amqp.ChannelAccessRefused, AuthError),
    # 404: exchange or queue missing (declare is off, or someone deleted it).
    (amqp.ChannelNotFoundEntity, NotFoundError),
    # 406: an entity exists with other arguments (a direct exchange where we want topic).
    (amqp.ChannelPreconditionFailed, ValidationError),
    # 405 RESOURCE_LOCKED: an exclusive queue held by another connection; may free up.
    (amqp.ChannelLockedResource, TransientError),
    # Broker nack (reject-publish overflow, internal error) or unroutable mandatory publish.
    (amqp.DeliveryError, TransientError),
    # Login refused: RabbitMQ closes the socket during the handshake (ACCESS_REFUSED).
    (amqp.ProbableAuthenticationError, AuthError),
    (amqp.AuthenticationError, AuthError),
    # 530 NOT_ALLOWED at connection level: typically the user has no access to the vhost.
    (amqp.ConnectionNotAllowed, AuthError),
    (amqp.ChannelInvalidStateError, TransientError),
    (amqp.ChannelClosed, TransientError),
    (amqp.AMQPConnectionError, TransientError),
    (asyncio.TimeoutError, TransientError),
    (ConnectionError, TransientError),
    (OSError, TransientError),
)


def classify_error(
    exc: BaseException, *, object: str | None = None, doing: str = ""
) -> ConnectorError:
    """The spi error for ``exc`` (a plain ConnectorError when no table row matches)."""
    if isinstance(exc, ConnectorError):
        return exc
    raw = _text(exc)
    message = f"{doing}: {raw}" if doing else raw
    for kind, error_class in ERROR_TABLE:
        if isinstance(exc, kind):
            return error_class(message, system=SYSTEM, object=object, raw=raw)
    return ConnectorError(message, system=SYSTEM, object=object, raw=raw)


@contextmanager
def map_errors(*, object: str | None = None, doing: str = "") -> Iterator[None]:
    """Turn AMQP, socket and timeout failures inside the block into spi errors.

    Raises:
        ConnectorError: the classified error, chained to the original.
    """
    try:
        yield
    except ConnectorError:
        raise
    except (TimeoutError, amqp.AMQPError, amqp.ChannelInvalidStateError, OSError) as exc:
        raise classify_error(exc, object=object, doing=doing) from exc


def _text(exc: BaseException) -> str:
    """The broker's reply text when it gave one, else the exception's own text."""
    if isinstance(exc, asyncio.TimeoutError):
        return "no answer from the broker in time"
    text = str(exc) or repr(exc)
    # aiormq puts (reply code, reply text) in args for channel closes.
    if isinstance(exc, amqp.ChannelClosed) and len(exc.args) >= 2:
        text = f"{exc.args[0]} {exc.args[1]}"
    return text
