"""NATS and JetStream failures -> spi errors, in one place: a table plus ``map_errors``.

nats-py raises one class per failure; JetStream API errors carry the server's HTTP-like
``code`` (400, 404, 503) and its ``err_code`` and description, kept verbatim.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager

import nats.errors
import nats.js.errors

from erpbridge.spi.errors import (
    AuthError,
    ConnectorError,
    NotFoundError,
    TransientError,
    ValidationError,
)

__all__ = ["ERROR_TABLE", "SYSTEM", "classify_error", "map_errors"]

SYSTEM = "nats"

#: exception type -> spi class; the first matching row wins, so subclasses come first.
ERROR_TABLE: tuple[tuple[type[BaseException], type[ConnectorError]], ...] = (
    (nats.errors.AuthorizationError, AuthError),
    (nats.errors.InvalidUserCredentialsError, AuthError),
    # The server's certificate is not trusted (wrong CA, wrong name): not transient.
    (ssl.SSLCertVerificationError, AuthError),
    # A TLS or key file that cannot be read or parsed, a malformed NKEY seed or
    # credentials file: settings to fix, not something a retry mends.
    (ssl.SSLError, AuthError),
    (FileNotFoundError, AuthError),
    (PermissionError, AuthError),
    (ValueError, AuthError),
    # 404: stream or consumer missing (declare off, or deleted).
    (nats.js.errors.NotFoundError, NotFoundError),
    # 503: JetStream not enabled or no quorum; may come back.
    (nats.js.errors.ServiceUnavailableError, TransientError),
    (nats.js.errors.ServerError, TransientError),
    # 400: a stream exists with another configuration, a bad subject.
    (nats.js.errors.BadRequestError, ValidationError),
    # No stream captures the subject: like an unroutable mandatory AMQP publish.
    (nats.js.errors.NoStreamResponseError, TransientError),
    # Other API errors on publish: limits with discard=new ("maximum messages exceeded").
    (nats.js.errors.APIError, TransientError),
    (nats.errors.NoServersError, TransientError),
    (nats.errors.TimeoutError, TransientError),
    (nats.errors.Error, TransientError),
    (TimeoutError, TransientError),
    (OSError, TransientError),
)


#: the server's ``-ERR`` texts for a refused login. nats-py raises some of them as a plain
#: ``nats.errors.Error`` (a JWT user of an unknown account, for one), not as
#: ``AuthorizationError``, so they are recognised by text.
_AUTH_TEXTS = (
    "authorization violation",
    "user authentication expired",
    "user authentication revoked",
    "account authentication expired",
)


def classify_error(
    exc: BaseException, *, object: str | None = None, doing: str = ""
) -> ConnectorError:
    """The spi error for ``exc`` (a plain ConnectorError when no table row matches)."""
    if isinstance(exc, ConnectorError):
        return exc
    raw = _text(exc)
    message = f"{doing}: {raw}" if doing else raw
    if isinstance(exc, nats.errors.Error) and any(t in raw.lower() for t in _AUTH_TEXTS):
        return AuthError(message, system=SYSTEM, object=object, raw=raw)
    for kind, error_class in ERROR_TABLE:
        if isinstance(exc, kind):
            return error_class(message, system=SYSTEM, object=object, raw=raw)
    return ConnectorError(message, system=SYSTEM, object=object, raw=raw)


@contextmanager
def map_errors(*, object: str | None = None, doing: str = "") -> Iterator[None]:
    """Turn NATS, socket and timeout failures inside the block into spi errors.

    Raises:
        ConnectorError: the classified error, chained to the original.
    """
    try:
        yield
    except ConnectorError:
        raise
    except (nats.errors.Error, TimeoutError, OSError) as exc:
        raise classify_error(exc, object=object, doing=doing) from exc


def _text(exc: BaseException) -> str:
    if isinstance(exc, nats.js.errors.APIError):
        return f"{exc.code} {exc.err_code}: {exc.description}"
    if isinstance(exc, nats.js.errors.NoStreamResponseError):
        return "no stream captures this subject (no responders)"
    if isinstance(exc, TimeoutError):
        return "no answer from the server in time"
    return str(exc) or type(exc).__name__
