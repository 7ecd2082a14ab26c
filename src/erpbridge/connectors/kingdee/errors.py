"""Kingdee answers → spi errors, in one place: tables plus one classify function each.

K/3 Cloud answers HTTP 200 with ``IsSuccess: false`` for business errors (reference §5);
the class then comes from the message (lock/mutex texts first), then from ``MsgCode``,
then from whether the error names a field. Non-200 answers are IIS or gateway pages,
classified by status; an unknown data centre is the one non-200 that means "credentials".
Messages are Kingdee's own text, verbatim (Chinese when the server answers in Chinese).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

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
    "HTTP_STATUS_TABLE",
    "MESSAGE_TABLE",
    "MSG_CODE_TABLE",
    "SESSION_LOST_CODE",
    "classify_http",
    "classify_items",
    "is_session_lost",
]

SYSTEM = "kingdee"
#: MsgCode 1: the session is lost or the signature was refused (re-login once, then auth).
SESSION_LOST_CODE = 1

#: HTTP status of a non-200 answer -> error class.
HTTP_STATUS_TABLE: dict[int, type[ConnectorError]] = {
    400: ValidationError,
    401: AuthError,
    403: AuthError,
    404: NotFoundError,
    408: TransientError,
    413: ValidationError,
    429: RateLimitedError,
    500: TransientError,
    502: TransientError,
    503: TransientError,
    504: TransientError,
}

#: MsgCode of an IsSuccess=false answer -> error class (observed codes, reference §5).
MSG_CODE_TABLE: dict[int, type[ConnectorError]] = {
    SESSION_LOST_CODE: AuthError,
    4: ValidationError,  # unknown form, bad FilterString, malformed package
    8: ValidationError,  # empty FieldKeys
    9: ValidationError,  # unknown field
    11: ValidationError,  # wrong bill state (audited bill cannot be saved): a person decides
}

#: text in a message -> error class; checked before MsgCode (first match wins).
MESSAGE_TABLE: tuple[tuple[str, type[ConnectorError]], ...] = (
    ("Fail to verify thirty passport", AuthError),
    ("会话信息已丢失", AuthError),
    ("网络控制", ConflictError),  # network mutex: another user is editing the bill
    ("网络互斥", ConflictError),
    ("正在被", ConflictError),
    ("锁定", ConflictError),
    ("超时", TransientError),
)


def _by_message(message: str) -> type[ConnectorError] | None:
    for needle, cls in MESSAGE_TABLE:
        if needle in message:
            return cls
    return None


def _new(
    cls: type[ConnectorError],
    message: str,
    *,
    form: str | None,
    raw: str | None,
    status: int | str | None,
    field: str | None = None,
    retry_after: float | None = None,
) -> ConnectorError:
    kw: dict[str, object] = {"system": SYSTEM, "object": form, "raw": raw, "status": status}
    if cls is ValidationError:
        return ValidationError(message, field=field, **kw)
    if cls is RateLimitedError:
        return RateLimitedError(message, retry_after_s=retry_after, **kw)
    return cls(message, **kw)  # type: ignore[arg-type]  # the spi keywords


def classify_items(
    items: Sequence[Mapping[str, object]], msg_code: object, *, form: str | None
) -> ConnectorError:
    """The error for the ``Errors`` items of one record (or one call).

    The message joins every item's ``Message``; a ``FieldName`` makes a validation error
    name that field; "不存在" without a field is a missing record (not found).
    """
    messages = [str(i.get("Message") or "").strip() for i in items]
    message = "；".join(m for m in messages if m) or "金蝶返回 IsSuccess=false，但没有错误信息"
    field = next((str(i["FieldName"]) for i in items if i.get("FieldName")), None)
    code = msg_code if isinstance(msg_code, int) else None
    cls = _by_message(message)
    if cls is None and not field and "不存在" in message and code != SESSION_LOST_CODE:
        cls = NotFoundError  # the record itself is missing (a missing reference names a field)
    cls = cls or MSG_CODE_TABLE.get(code or 0) or ValidationError
    raw = json.dumps(list(items), ensure_ascii=False)[:2000]
    return _new(cls, message, form=form, raw=raw, status=code, field=field)


def is_session_lost(status: Mapping[str, object]) -> bool:
    """True when a ResponseStatus says the session is gone (re-login once)."""
    return status.get("MsgCode") == SESSION_LOST_CODE


def classify_http(response: httpx.Response, *, form: str | None) -> ConnectorError:
    """The error for a non-200 answer (IIS page, gateway, unknown data centre)."""
    excerpt = body_excerpt(response)
    cls = _by_message(excerpt) or HTTP_STATUS_TABLE.get(response.status_code)
    if cls is None:
        cls = TransientError if response.status_code >= 500 else ValidationError
    retry_after = retry_after_s(response.headers.get("retry-after"))
    if cls is TransientError and response.status_code == 503 and retry_after is not None:
        cls = RateLimitedError
    message = (
        f"HTTP {response.status_code}: {excerpt}" if excerpt else f"HTTP {response.status_code}"
    )
    return _new(
        cls,
        message,
        form=form,
        raw=excerpt,
        status=response.status_code,
        retry_after=retry_after,
    )
