"""YonBIP answers → spi errors, in one place: tables plus one classify function.

The gateway answers HTTP 200 for business, token and throttling errors; the class comes
from ``code`` (string or number, compared as text), then from the message for the
generic business code ``999``. Non-200 answers are classified by HTTP status (reference
§B2). Messages are Yonyou's own text, verbatim.
"""

from __future__ import annotations

import json
import re

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

__all__ = [
    "CODE_TABLE",
    "HTTP_STATUS_TABLE",
    "MESSAGE_TABLE",
    "OK_CODES",
    "SYSTEM",
    "TOKEN_INVALID_CODES",
    "classify_answer",
    "classify_http",
]

SYSTEM = "yonbip"
#: success; ``10004``/``100004`` are a repeated resubmitCheckKey after the cache (§B7).
OK_CODES = frozenset({"200", "00000"})
DUPLICATE_CODES = frozenset({"10004", "100004"})
#: a token the gateway no longer accepts: fetch a new one and repeat the call once.
TOKEN_INVALID_CODES = frozenset({"310036"})

#: ``code`` of an answer -> error class (reference §B2, [P] community notes of the table).
CODE_TABLE: dict[str, type[ConnectorError]] = {
    "310001": AuthError,  # missing token
    "310036": AuthError,  # invalid or expired token (after one refresh)
    "310037": AuthError,  # API not authorised for this app
    "10018": AuthError,  # unknown or disabled appKey
    "10016": AuthError,  # signature refused (simulator's choice, code [U])
    "310008": ValidationError,  # parameter errors
    "310015": ValidationError,
    "310023": ValidationError,
    "310032": RateLimitedError,  # system, app, product, API level quotas
    "310039": RateLimitedError,
    "310042": RateLimitedError,
    "310046": RateLimitedError,
    "310043": TransientError,  # circuit breaker
    "310504": TransientError,  # gateway timeout
    "202": TransientError,  # MDD idempotent request still processing: resend the same key
    "310404": NotFoundError,  # unregistered API path
    "310405": ConnectorError,  # wrong method: a connector bug, not the record's fault
    "999": ValidationError,  # business rule; refined by MESSAGE_TABLE
}

#: text in a ``999`` message -> error class (first match wins).
MESSAGE_TABLE: tuple[tuple[str, type[ConnectorError]], ...] = (
    ("不存在或已被删除", NotFoundError),  # the record itself is gone
    ("已存在", ConflictError),  # a concurrent create of the same code: look it up again
    ("并发", ConflictError),
    ("锁", ConflictError),
    ("超时", TransientError),
)

#: HTTP status of a non-200 answer -> error class.
HTTP_STATUS_TABLE: dict[int, type[ConnectorError]] = {
    400: ValidationError,
    401: AuthError,
    403: AuthError,
    404: NotFoundError,
    405: ConnectorError,
    408: TransientError,
    413: ValidationError,
    429: RateLimitedError,
    500: TransientError,
    502: TransientError,
    503: TransientError,
    504: TransientError,
}

#: a JSON value (an alias, because these functions take a parameter called ``object``).
_Value = object

# A field named in a message: ``客户[agentId]…``; YonBIP field names are lowerCamelCase.
_FIELD = re.compile(r"\[([a-z][A-Za-z0-9_!]*)\]")


def _new(
    cls: type[ConnectorError],
    message: str,
    *,
    object: str | None,
    raw: str | None,
    status: int | str | None,
    retry_after: float | None = None,
) -> ConnectorError:
    kw: dict[str, _Value] = {"system": SYSTEM, "object": object, "raw": raw, "status": status}
    if cls is ValidationError:
        match = _FIELD.search(message)
        return ValidationError(message, field=match.group(1) if match else None, **kw)
    if cls is RateLimitedError:
        return RateLimitedError(message, retry_after_s=retry_after, **kw)
    return cls(message, **kw)  # type: ignore[arg-type]  # the spi keywords


def classify_answer(
    code: str, message: str, *, object: str | None, raw: _Value = None
) -> ConnectorError:
    """The error for an answer whose ``code`` is not a success."""
    cls = CODE_TABLE.get(code)
    if cls is None or code == "999":
        cls = next((c for needle, c in MESSAGE_TABLE if needle in message), cls)
    cls = cls or ValidationError  # an unknown code on a well-formed answer: a person decides
    text = message or f"用友返回 code={code}，但没有 message"
    raw_text = json.dumps(raw, ensure_ascii=False)[:2000] if raw is not None else None
    return _new(cls, text, object=object, raw=raw_text, status=code)


def classify_http(
    response: httpx.Response, *, object: str | None, secrets: tuple[str, ...] = ()
) -> ConnectorError:
    """The error for a non-200 answer (gateway page, 404 for an unknown API, 5xx)."""
    excerpt = body_excerpt(response, secrets=secrets)
    cls = HTTP_STATUS_TABLE.get(response.status_code)
    if cls is None:
        cls = TransientError if response.status_code >= 500 else ValidationError
    message = (
        f"HTTP {response.status_code}: {excerpt}" if excerpt else f"HTTP {response.status_code}"
    )
    return _new(
        cls,
        message,
        object=object,
        raw=excerpt,
        status=response.status_code,
        retry_after=retry_after_s(response.headers.get("retry-after")),
    )
