"""Oracle's error answers: plain text before framework version 4, JSON details after.

Reference §5: validation errors are HTTP 400; older framework versions answer a
``text/plain`` message, newer ones a JSON body ``{"title", "status", "o:errorDetails":
[{"detail", "o:errorCode", "o:errorPath"}]}``. The shape is marked unsure [U] there; the
JSON field names also match Oracle's documented REST error shape (``title``, ``status``,
``detail``, ``o:errorCode``, ``o:errorPath``) used across its cloud REST APIs. We answer
JSON from version 4 on (where the reference says Fusion documents it) and text below.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

__all__ = ["ERROR_MEDIA_TYPE", "TITLES", "OracleError", "error_body"]

ERROR_MEDIA_TYPE = "application/vnd.oracle.adf.error+json"

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    412: "Precondition Failed",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


@dataclass(slots=True)
class OracleError(Exception):
    """An error answer: status, the message, Oracle's message code and the JSON path."""

    status: int
    detail: str
    code: str = ""
    path: str = ""

    def __str__(self) -> str:
        return self.detail


def error_body(error: OracleError, framework_version: int) -> tuple[bytes, str]:
    """(body, content type) of ``error`` for the client's framework version."""
    if framework_version < 4:
        return error.detail.encode(), "text/plain; charset=UTF-8"
    detail: dict[str, object] = {"detail": error.detail}
    if error.code:
        detail["o:errorCode"] = error.code
    if error.path:
        detail["o:errorPath"] = error.path
    body = {
        "title": TITLES.get(error.status, "Error"),
        "status": str(error.status),
        "o:errorDetails": [detail],
    }
    return json.dumps(body, ensure_ascii=False).encode(), ERROR_MEDIA_TYPE
