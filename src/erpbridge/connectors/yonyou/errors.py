"""U8 OpenAPI answers → spi errors, in one place: tables plus one classify function.

HTTP is 200 with ``errcode`` (``"0"`` = success) and ``errmsg``. The non-zero codes are
undocumented in every source found ([U]); ``ERRCODE_TABLE`` holds the ones our simulator
answers, and ``MESSAGE_TABLE`` classifies by U8's wording when a code is unknown, so a
real platform's other codes still land in a sensible class. Messages are kept verbatim.
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
    "ERRCODE_TABLE",
    "HTTP_STATUS_TABLE",
    "MESSAGE_TABLE",
    "SYSTEM",
    "classify_answer",
    "classify_http",
    "is_token_refused",
]

SYSTEM = "yonyou"

#: ``errcode`` -> error class ([U] codes; see the simulator's README).
ERRCODE_TABLE: dict[str, type[ConnectorError]] = {
    "20001": ValidationError,
    "20002": AuthError,  # token invalid or expired (refreshed once first)
    "20003": AuthError,
    "20004": AuthError,
    "20005": ValidationError,
    "30001": ValidationError,
    "30002": NotFoundError,
    "30003": ConflictError,
    "40029": RateLimitedError,
}

#: words in ``errmsg`` -> error class, for codes the table does not know (first match wins).
MESSAGE_TABLE: tuple[tuple[str, type[ConnectorError]], ...] = (
    ("频率", RateLimitedError),
    ("token", AuthError),
    ("授权", AuthError),
    ("已存在", ConflictError),
    ("重复", ConflictError),
    ("锁", ConflictError),
    ("超时", TransientError),
    ("不存在", NotFoundError),
)

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

_TOKEN_CODES = frozenset({"20002"})
_TOKEN_WORDS = ("过期", "失效", "无效")
# A field named in a message: ``客户分类(sort_code)``.
_FIELD = re.compile(r"\(([a-z_][a-z0-9_]*)\)")
_Value = object


def is_token_refused(errcode: str, errmsg: str) -> bool:
    """True when the answer says the token is invalid or expired (refresh once)."""
    lowered = errmsg.lower()
    return errcode in _TOKEN_CODES or (
        "token" in lowered and any(w in errmsg for w in _TOKEN_WORDS)
    )


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
    errcode: str, errmsg: str, *, object: str | None, raw: _Value = None
) -> ConnectorError:
    """The error for an answer whose ``errcode`` is not ``"0"``."""
    cls = ERRCODE_TABLE.get(errcode)
    if cls is None:
        cls = next((c for word, c in MESSAGE_TABLE if word in errmsg.lower()), ValidationError)
    if cls is NotFoundError and _FIELD.search(errmsg):
        cls = ValidationError  # a missing reference names its field: a person fixes the record
    text = errmsg or f"U8 返回 errcode={errcode}，但没有 errmsg"
    raw_text = json.dumps(raw, ensure_ascii=False)[:2000] if raw is not None else None
    return _new(cls, text, object=object, raw=raw_text, status=errcode)


def classify_http(
    response: httpx.Response, *, object: str | None, secrets: tuple[str, ...] = ()
) -> ConnectorError:
    """The error for a non-200 answer."""
    excerpt = body_excerpt(response, secrets=secrets)
    cls = HTTP_STATUS_TABLE.get(response.status_code)
    if cls is None:
        cls = TransientError if response.status_code >= 500 else ValidationError
    return _new(
        cls,
        f"HTTP {response.status_code}: {excerpt}" if excerpt else f"HTTP {response.status_code}",
        object=object,
        raw=excerpt,
        status=response.status_code,
        retry_after=retry_after_s(response.headers.get("retry-after")),
    )
