"""U8 OpenAPI answer shapes: ``{"errcode": "0", "errmsg": "", …}`` (reference §A).

HTTP is 200 for business and auth errors; ``errcode`` is a string, ``"0"`` = success.
The non-zero codes are [U]: no public source lists them, so the simulator uses the table
below, and the connector classifies by its own table plus the message text.
"""

from __future__ import annotations

import json

from starlette.responses import Response

__all__ = ["Err", "U8Error", "json_response", "ok"]


class Err:
    """``errcode`` values the simulator answers ([U] all but ``"0"``)."""

    OK = "0"
    PARAM = "20001"
    TOKEN = "20002"  # noqa: S105 - an error code: token invalid or expired
    APP = "20003"
    ACCOUNT = "20004"
    TRADEID = "20005"
    BUSINESS = "30001"
    NOT_FOUND = "30002"
    DUPLICATE = "30003"
    RATE_LIMITED = "40029"


class U8Error(Exception):
    """A refusal answered as ``{"errcode", "errmsg"}`` with HTTP ``status``."""

    def __init__(self, errcode: str, errmsg: str, *, status: int = 200) -> None:
        super().__init__(errmsg)
        self.errcode = errcode
        self.errmsg = errmsg
        self.status = status

    def body(self) -> dict[str, object]:
        """The JSON answer."""
        return {"errcode": self.errcode, "errmsg": self.errmsg}


def ok(**fields: object) -> dict[str, object]:
    """A success answer with extra top-level fields."""
    return {"errcode": Err.OK, "errmsg": "", **fields}


def json_response(body: object, status: int = 200) -> Response:
    """JSON in UTF-8, Chinese kept as is."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(text, status_code=status, media_type="application/json;charset=utf-8")
