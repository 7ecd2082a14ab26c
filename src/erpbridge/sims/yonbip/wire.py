"""YonBIP answer shapes: the ``{"code", "message", "data"}`` envelope and its codes.

The open-platform gateway answers HTTP 200 for business and most platform errors; the
status is the ``code`` field (reference §B2). The token endpoint answers ``"00000"`` on
success, the gateway ``"200"``. Codes are strings here; real tenants send both strings and
numbers, so clients compare ``str(code)``.
"""

from __future__ import annotations

import json

from starlette.responses import Response

__all__ = [
    "ApiError",
    "Code",
    "envelope",
    "json_response",
]


class Code:
    """The codes the simulator answers (reference §B2; [P] community notes of the vendor table)."""

    OK = "200"
    AUTH_OK = "00000"
    TOKEN_MISSING = "310001"  # noqa: S105 - an error code, not a secret
    PARAM_ERROR = "310008"
    TOKEN_INVALID = "310036"  # noqa: S105 - error code; also answered for an expired token ("非法token")
    NOT_AUTHORISED = "310037"
    RATE_LIMITED_API = "310046"
    GATEWAY_TIMEOUT = "310504"
    UNKNOWN_PATH = "310404"
    WRONG_METHOD = "310405"
    BUSINESS = "999"
    DUPLICATE_SUBMIT = "10004"
    APP_UNKNOWN = "10018"
    # [U] the code for a bad signature or stale timestamp was not found in any source;
    # the simulator answers this one with the vendor's wording.
    SIGNATURE_INVALID = "10016"


class ApiError(Exception):
    """A refusal answered as ``{"code": code, "message": message}`` (HTTP ``status``)."""

    def __init__(self, code: str, message: str, *, status: int = 200, data: object = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.data = data

    def body(self) -> dict[str, object]:
        """The JSON answer."""
        out: dict[str, object] = {"code": self.code, "message": self.message}
        if self.data is not None:
            out["data"] = self.data
        return out


def envelope(data: object, *, code: str = Code.OK, message: str = "操作成功") -> dict[str, object]:
    """A success answer."""
    return {"code": code, "message": message, "data": data}


def json_response(body: object, status: int = 200) -> Response:
    """JSON in UTF-8 (Chinese kept as is, as the gateway sends it)."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(text, status_code=status, media_type="application/json;charset=UTF-8")
