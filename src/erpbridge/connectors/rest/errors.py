"""HTTP answers -> spi errors, in one place: the status table and ``classify_response``.

A generic API has no vendor codes we know, so the status decides the class; the body
excerpt (secrets blanked) is kept verbatim as the message and ``raw``. A 400/422 body
that names a field (``{"field": …}``, ``{"errors": [{"field": …}]}``, or
``{"errors": {"email": [...]}}``) sets ``ValidationError.field``.
"""

from __future__ import annotations

import json

import httpx

from erpbridge.connectors._http import body_excerpt, retry_after_s
from erpbridge.spi.errors import (
    AuthError,
    ConflictError,
    ConnectorError,
    NotFoundError,
    RateLimitedError,
    TransientError,
    ValidationError,
)

__all__ = ["ERROR_TABLE", "SYSTEM", "classify_response"]

SYSTEM = "rest"

#: HTTP status -> spi class; other 4xx are validation errors, other 5xx transient.
ERROR_TABLE: dict[int, type[ConnectorError]] = {
    400: ValidationError,
    401: AuthError,
    403: AuthError,
    404: NotFoundError,
    408: TransientError,
    409: ConflictError,
    412: ConflictError,
    422: ValidationError,
    423: TransientError,  # locked (WebDAV, some ERPs): retry later
    429: RateLimitedError,
}


def classify_response(
    response: httpx.Response, *, object: str | None = None, doing: str = ""
) -> ConnectorError:
    """The spi error for a non-2xx ``response``."""
    status = response.status_code
    excerpt = body_excerpt(response)
    message = f"{doing}: HTTP {status}: {excerpt}" if doing else f"HTTP {status}: {excerpt}"
    error_class = ERROR_TABLE.get(status)
    if error_class is None:
        error_class = TransientError if status >= 500 else ValidationError
    common = {"system": SYSTEM, "object": object, "raw": excerpt, "status": status}
    if error_class is RateLimitedError:
        retry = retry_after_s(response.headers.get("retry-after"))
        return RateLimitedError(message, retry_after_s=retry, **common)
    if error_class is ValidationError:
        return ValidationError(message, field=_field(response), **common)
    return error_class(message, **common)  # type: ignore[arg-type]  # same keywords for all


def _field(response: httpx.Response) -> str | None:
    """The field a validation error names, when the body says so in a common shape."""
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("field"), str):
        return str(body["field"])
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        field = errors[0].get("field") or errors[0].get("path")
        return str(field) if field else None
    if isinstance(errors, dict) and errors:
        return str(next(iter(errors)))
    return None


def classify_result(
    status: int | None, text: str, *, object: str | None = None, field: str | None = None
) -> ConnectorError:
    """The spi error for one failed record of a batch answer (its own status, if any).

    Without a status the record was refused for its content: a validation error.
    """
    excerpt = text[:500]
    message = f"HTTP {status}: {excerpt}" if status else excerpt
    error_class = ERROR_TABLE.get(status or 400)
    if error_class is None:
        error_class = TransientError if (status or 0) >= 500 else ValidationError
    common = {"system": SYSTEM, "object": object, "raw": excerpt, "status": status}
    if error_class is RateLimitedError:
        return RateLimitedError(message, retry_after_s=None, **common)
    if error_class is ValidationError:
        return ValidationError(message, field=field, **common)
    return error_class(message, **common)  # type: ignore[arg-type]  # same keywords for all
