"""Oracle answers -> spi errors, in one place: a status table and one classify function.

Reference §5: 400 validation, 401 credentials, 403 role or data security, 404 key not visible,
405 method, 406/415 media type, 409 duplicate or locked row, 412 stale ``If-Match``, 429 and
503 throttling, 5xx and gateway timeouts. Error bodies are plain text (framework versions
below 4) or JSON ``{"title", "status", "o:errorDetails": [{"detail", "o:errorCode",
"o:errorPath"}]}``; the first detail is the message a person needs, the path names the field.
Our credentials never appear: we never echo request headers, and excerpts are redacted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from erpbridge.connectors._http import map_transport_errors, redact, retry_after_s
from erpbridge.spi.errors import (
    AuthError,
    ConflictError,
    ConnectorError,
    NotFoundError,
    RateLimitedError,
    TransientError,
    ValidationError,
)

__all__ = [
    "STATUS_TABLE",
    "SYSTEM",
    "classify",
    "classify_response",
    "error_text",
    "map_errors",
]

SYSTEM = "oracle"

#: HTTP status -> error class (Airbyte habit: a table, not a chain of ifs).
STATUS_TABLE: dict[int, type[ConnectorError]] = {
    400: ValidationError,
    401: AuthError,
    403: AuthError,
    404: NotFoundError,
    405: ValidationError,
    406: ValidationError,
    408: TransientError,
    409: ConflictError,
    412: ConflictError,
    413: ValidationError,
    415: ValidationError,
    429: RateLimitedError,
    500: TransientError,
    502: TransientError,
    503: RateLimitedError,  # pods busy (reference §5): slow down, honour Retry-After
    504: TransientError,
}
_RAW_LIMIT = 2000
#: any parsed JSON value (an alias: functions here take a parameter named ``object``).
JsonValue = object


def error_text(body: object) -> tuple[str, str | None, str | None]:
    """(message, Oracle error code, field) from a parsed error body or a text."""
    if isinstance(body, dict):
        details = body.get("o:errorDetails")
        if isinstance(details, list) and details and isinstance(details[0], dict):
            first = details[0]
            message = str(first.get("detail") or body.get("title") or "error")
            if len(details) > 1:
                message += f" (and {len(details) - 1} more)"
            code = first.get("o:errorCode")
            path = first.get("o:errorPath")
            field = str(path).rstrip("/").rsplit("/", 1)[-1] if path else None
            return message, str(code) if code else None, field or None
        return str(body.get("detail") or body.get("title") or json.dumps(body)[:200]), None, None
    text = " ".join(str(body).split())
    return (text[:300] or "empty answer body"), None, None


def classify(
    status: int,
    body: object,
    *,
    object: str | None = None,
    retry_after: float | None = None,
    raw: str | None = None,
) -> ConnectorError:
    """The spi error for an Oracle error answer (HTTP or batch part)."""
    message, code, field = error_text(body)
    cls = STATUS_TABLE.get(status) or (TransientError if status >= 500 else ValidationError)
    shown = f"HTTP {status}" + (f" {code}" if code else "") + f": {redact(message)}"
    if cls is RateLimitedError:
        return RateLimitedError(
            shown, retry_after_s=retry_after, system=SYSTEM, object=object, raw=raw, status=status
        )
    if cls is ValidationError:
        return ValidationError(
            shown, field=field, system=SYSTEM, object=object, raw=raw, status=status
        )
    return cls(shown, system=SYSTEM, object=object, raw=raw, status=status)


def classify_response(response: httpx.Response, object: str | None = None) -> ConnectorError:
    """The spi error for an unsuccessful HTTP answer (status >= 400)."""
    text = response.text
    body: JsonValue = text
    if "json" in response.headers.get("content-type", "") or text.lstrip().startswith("{"):
        try:
            body = json.loads(text)
        except json.JSONDecodeError:
            body = text
    if response.status_code == 401 and not text.strip():
        body = "the user name or password was refused (HTTP Basic)"
    return classify(
        response.status_code,
        body,
        object=object,
        retry_after=retry_after_s(response.headers.get("retry-after")),
        raw=redact(text[:_RAW_LIMIT]),
    )


@contextmanager
def map_errors(object: str | None = None) -> Iterator[None]:
    """Transport failures (timeouts, refused connections) -> TransientError."""
    with map_transport_errors(SYSTEM, object):
        yield
