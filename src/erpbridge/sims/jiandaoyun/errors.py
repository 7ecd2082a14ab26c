"""Jiandaoyun's error answers: HTTP 400 with ``{"code": <int>, "msg": "<text>"}``.

Documented (reference §5, hc.jiandaoyun.com/open/11261): every API error is HTTP 400 with a
code and a message; 8303 is 超出请求频率限制 and 1 is an invalid request. The codes for a bad
key, a missing app, form or record and an invalid widget value are **not** public; the
simulator uses the distinct codes below and says so (README.md). Messages are Chinese, as
the product's are.
"""

from __future__ import annotations

import json

from starlette.responses import Response

__all__ = [
    "APP_NOT_FOUND",
    "BAD_KEY",
    "DATA_NOT_FOUND",
    "ENTRY_NOT_FOUND",
    "INVALID_REQUEST",
    "INVALID_VALUE",
    "KEY_NOT_ALLOWED",
    "RATE_LIMITED",
    "JdyError",
    "error_response",
]

INVALID_REQUEST = 1  # documented
RATE_LIMITED = 8303  # documented: 超出请求频率限制
BAD_KEY = 8301  # simulated choice
KEY_NOT_ALLOWED = 8302  # simulated choice: the key is not scoped to this app
APP_NOT_FOUND = 3000  # simulated choice
ENTRY_NOT_FOUND = 3001  # simulated choice
DATA_NOT_FOUND = 4000  # simulated choice
INVALID_VALUE = 4001  # simulated choice: a widget value of the wrong shape


class JdyError(Exception):
    """An error answer; raised anywhere in a handler, rendered once by the app."""

    def __init__(self, code: int, msg: str, *, status: int = 400) -> None:
        self.code = code
        self.msg = msg
        self.status = status
        super().__init__(f"{code}: {msg}")


def error_response(code: int, msg: str, *, status: int = 400) -> Response:
    """The product's error body with its status (400 unless told)."""
    body = json.dumps({"code": code, "msg": msg}, ensure_ascii=False)
    return Response(body, status_code=status, media_type="application/json;charset=utf-8")
