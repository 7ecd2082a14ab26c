"""SAP answers -> spi errors, in one place: a status table, a message-code table, one classify.

Reference §5: 400 business/validation error, 401 auth, 403 CSRF or authorisation, 404 not
found, 405 method not allowed, 412 ETag mismatch, 423/409 lock, 429 API Management quota,
5xx server trouble (503 is SAP's throttling answer; with ``Retry-After`` it is a rate limit).
SAP Gateway sends a JSON error body whose ``error.message.value`` is the text a person needs;
the Web Dispatcher and proxies send HTML pages. Either way the system's own text is kept
verbatim on the error (``message`` and ``raw``); our credentials never are: we never echo
request headers, and any known secret value or Basic/Bearer token in a body is blanked
(``connectors._http.redact``) in case a proxy page echoes one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from erpbridge.connectors._http import redact
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
    "CODE_TABLE",
    "STATUS_TABLE",
    "SYSTEM",
    "classify_response",
    "malformed_answer",
    "map_errors",
    "sap_error_text",
]

SYSTEM = "sap"

#: HTTP status -> error class (Airbyte habit: a table, not a chain of ifs).
STATUS_TABLE: dict[int, type[ConnectorError]] = {
    400: ValidationError,
    401: AuthError,
    403: AuthError,
    404: NotFoundError,
    405: ValidationError,
    408: TransientError,
    409: ConflictError,
    412: ConflictError,
    415: ValidationError,
    423: TransientError,
    428: ConflictError,
    429: RateLimitedError,
    500: TransientError,
    502: TransientError,
    503: TransientError,
    504: TransientError,
}

#: SAP message class/number -> error class; wins over the status (SAP reports locks as 400).
CODE_TABLE: dict[str, type[ConnectorError]] = {
    "V1/042": TransientError,  # "Sales document ... is currently being processed by ..." (lock)
    "MC/601": TransientError,  # generic enqueue lock: "Object requested is currently locked"
    "/IWBEP/CM_MGW_RT/020": NotFoundError,  # resource not found for segment
    "/IWFND/MED/170": NotFoundError,  # no service found for namespace/name/version
    "/IWBEP/CM_MGW_RT/010": ConflictError,  # ETag mismatch
}

_TITLE = re.compile(r"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")
_RAW_LIMIT = 2000


def _excerpt(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def sap_error_text(body: bytes, content_type: str) -> tuple[str, str | None, str | None]:
    """(message, SAP code, target field) from an error body of any shape.

    JSON: ``error.message.value``, ``error.code`` and the first errordetail's target.
    HTML: the page title (or its text). Plain text: the text. Empty: a note saying so.
    """
    text = body.decode("utf-8", "replace")
    if not text.strip():
        return "empty answer body", None, None
    if "json" in content_type or text.lstrip().startswith("{"):
        try:
            error = json.loads(text).get("error", {})
            message = error.get("message", {})
            value = message.get("value") if isinstance(message, dict) else message
            details = (error.get("innererror") or {}).get("errordetails") or []
            target = None
            for detail in details:
                target = detail.get("target") or detail.get("propertyref") or None
                if target:
                    break
            if value:
                return redact(str(value)), error.get("code"), target
        except (json.JSONDecodeError, AttributeError):
            pass  # not SAP's JSON error body: fall through to plain text
    if "html" in content_type or text.lstrip().startswith("<"):
        title = _TITLE.search(text)
        shown = title[1] if title and title[1].strip() else _TAGS.sub(" ", text)
        return redact(_excerpt(shown)), None, None
    return redact(_excerpt(text)), None, None


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    try:
        return max(float(raw), 0.0) if raw is not None else None
    except ValueError:
        return None


def classify_response(response: httpx.Response, object: str | None = None) -> ConnectorError:
    """The spi error for an unsuccessful SAP answer (status >= 400)."""
    content_type = response.headers.get("content-type", "")
    message, code, target = sap_error_text(response.content, content_type)
    status = response.status_code
    if status == 403 and response.headers.get("x-csrf-token", "").lower() == "required":
        message = f"CSRF token refused after a fresh fetch: {message}"
    cls = CODE_TABLE.get(code or "") or STATUS_TABLE.get(status)
    if cls is None:
        cls = TransientError if status >= 500 else ValidationError
    retry_after = _retry_after(response)
    if status == 503 and retry_after is not None:
        cls = RateLimitedError  # SAP throttles with 503 + Retry-After
    shown = f"HTTP {status}" + (f" {code}" if code else "") + f": {message}"
    raw = redact(response.text[:_RAW_LIMIT])
    if cls is RateLimitedError:
        return RateLimitedError(
            shown, retry_after_s=retry_after, system=SYSTEM, object=object, raw=raw, status=status
        )
    if cls is ValidationError:
        return ValidationError(
            shown, field=target, system=SYSTEM, object=object, raw=raw, status=status
        )
    return cls(shown, system=SYSTEM, object=object, raw=raw, status=status)


def malformed_answer(
    response: httpx.Response, why: str, object: str | None = None
) -> TransientError:
    """A success status whose body is not what OData promises (HTML, empty, truncated JSON)."""
    content_type = response.headers.get("content-type", "") or "no content type"
    message, _, _ = sap_error_text(response.content, content_type)
    return TransientError(
        f"HTTP {response.status_code} with {content_type}: {why} ({message})",
        system=SYSTEM,
        object=object,
        raw=redact(response.text[:_RAW_LIMIT]),
        status=response.status_code,
    )


@contextmanager
def map_errors(object: str | None = None) -> Iterator[None]:
    """Turn httpx transport errors into spi errors (httpx's own ``map_exceptions`` habit)."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise TransientError(
            f"timed out talking to SAP ({type(exc).__name__})", system=SYSTEM, object=object
        ) from exc
    except httpx.TransportError as exc:
        raise TransientError(
            f"cannot reach SAP: {type(exc).__name__}: {exc}", system=SYSTEM, object=object
        ) from exc
