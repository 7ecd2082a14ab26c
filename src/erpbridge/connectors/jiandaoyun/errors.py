"""Jiandaoyun's error answers turned into spi errors, in one place.

Every API error is HTTP 400 with ``{"code": <int>, "msg": "<text>"}`` (developer guide,
hc.jiandaoyun.com/open/11261); the gateway also answers 429 (too many concurrent calls),
502 and 579 (file upload). Code 1 (invalid request) and 8303 (超出请求频率限制) are
documented; the others in :data:`CODE_TABLE` are the simulator's choices for answers the
public docs do not number, so an unknown code falls back on the status table. The
product's own ``msg`` (often Chinese) is kept verbatim in the error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import httpx

from erpbridge.connectors._http import body_excerpt, map_transport_errors, retry_after_s
from erpbridge.spi.errors import (
    AuthError,
    ConnectorError,
    NotFoundError,
    RateLimitedError,
    TransientError,
    ValidationError,
)

__all__ = [
    "CODE_TABLE",
    "RATE_LIMIT_RETRY_S",
    "STATUS_TABLE",
    "SYSTEM",
    "classify_error",
    "classify_response",
    "map_errors",
]

SYSTEM = "jiandaoyun"

#: the official demo waits before retrying an 8303; one second is the limit's window.
RATE_LIMIT_RETRY_S = 1.0

#: vendor code -> spi class (for HTTP 400 answers).
CODE_TABLE: Mapping[int, type[ConnectorError]] = {
    1: ValidationError,  # documented: invalid request (missing or bad parameter)
    8303: RateLimitedError,  # documented: 超出请求频率限制
    8301: AuthError,  # bad or missing API key (simulated code)
    8302: AuthError,  # key not allowed for this app (simulated code)
    3000: NotFoundError,  # app not found (simulated code)
    3001: NotFoundError,  # form not found (simulated code)
    4000: NotFoundError,  # record not found (simulated code)
    4001: ValidationError,  # widget value refused (simulated code)
}

#: HTTP status -> spi class, when the body carries no known code.
STATUS_TABLE: Mapping[int, type[ConnectorError]] = {
    400: ValidationError,
    401: AuthError,
    403: AuthError,
    404: ConnectorError,  # no API at this URL: a wrong base_url, not a missing record
    408: TransientError,
    429: RateLimitedError,
    500: TransientError,
    502: TransientError,
    503: TransientError,
    504: TransientError,
    579: TransientError,
}

_WIDGET = re.compile(r"\b(_widget_\w+)")


def classify_error(
    status: int,
    code: int | None,
    msg: str,
    *,
    object: str | None = None,
    raw: str | None = None,
    retry_after: float | None = None,
) -> ConnectorError:
    """The spi error for one error answer (code first, then status, then 4xx/5xx).

    Args:
        status: the HTTP status.
        code: the body's ``code``, when the body had one.
        msg: the body's ``msg`` (kept verbatim) or a description of the odd answer.
        object: the object concerned.
        raw: the body excerpt for the dead letter (already free of secrets).
        retry_after: the ``Retry-After`` header in seconds, when given.
    """
    cls = CODE_TABLE.get(code) if code is not None else None
    if cls is None:
        cls = STATUS_TABLE.get(status)
    if cls is None:
        cls = TransientError if status >= 500 else ValidationError
    message = f"{msg} (code {code})" if code is not None else f"HTTP {status}: {msg}"
    shown: int | str = code if code is not None else status
    if cls is RateLimitedError:
        wait = retry_after if retry_after is not None else RATE_LIMIT_RETRY_S
        return RateLimitedError(
            message, retry_after_s=wait, system=SYSTEM, object=object, raw=raw, status=shown
        )
    if cls is ValidationError:
        match = _WIDGET.search(msg)
        return ValidationError(
            message,
            field=match.group(1) if match else None,
            system=SYSTEM,
            object=object,
            raw=raw,
            status=shown,
        )
    return cls(message, system=SYSTEM, object=object, raw=raw, status=shown)


def classify_response(response: httpx.Response, *, object: str | None = None) -> ConnectorError:
    """The spi error for a non-2xx response (or a 2xx carrying an error body)."""
    raw = body_excerpt(response)
    code: int | None = None
    msg = raw or "(empty body)"
    try:
        body = json.loads(response.content)
    except (UnicodeDecodeError, json.JSONDecodeError):
        body = None
    if isinstance(body, dict):
        if isinstance(body.get("code"), int) and not isinstance(body.get("code"), bool):
            code = body["code"]
        if isinstance(body.get("msg"), str):
            msg = body["msg"]
    return classify_error(
        response.status_code,
        code,
        msg,
        object=object,
        raw=raw,
        retry_after=retry_after_s(response.headers.get("retry-after")),
    )


@contextmanager
def map_errors(object: str | None = None) -> Iterator[None]:
    """Transport failures (timeouts, refused or dropped connections) -> TransientError."""
    with map_transport_errors(SYSTEM, object):
        yield
