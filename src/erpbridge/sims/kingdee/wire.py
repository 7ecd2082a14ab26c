"""Kingdee's answer shapes and value rendering, in one place.

Every DynamicFormService answer is HTTP 200 with ``{"Result": {"ResponseStatus": ...}}``;
business errors are ``IsSuccess: false`` with ``ErrorCode: 500``, ``Errors`` (FieldName,
Message, DIndex, DVPFormId) and a ``MsgCode`` (reference §2.1, §5: 0 ok, 1 session lost,
4 bad form/filter, 8 empty FieldKeys, 9 unknown field, 11 state conflict).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from starlette.responses import Response

__all__ = [
    "BusinessError",
    "ErrorItem",
    "MsgCode",
    "SuccessItem",
    "as_bool",
    "json_response",
    "lower_keys",
    "render_stamp",
    "response_status",
    "session_lost",
]


class MsgCode:
    """The MsgCode values the simulator uses (observed on real servers, reference §5)."""

    OK = 0
    SESSION_LOST = 1
    BAD_REQUEST = 4  # unknown form, bad filter, malformed package
    EMPTY_KEYS = 8
    UNKNOWN_FIELD = 9
    STATE = 11  # wrong FDocumentStatus for the operation
    VALIDATION = 0  # field validation failures carry MsgCode 0 with IsSuccess false


@dataclass(frozen=True, slots=True)
class ErrorItem:
    """One entry of ``Errors``."""

    message: str
    field_name: str | None = ""
    dindex: int = 0

    def to_json(self) -> dict[str, object]:
        """The wire form."""
        return {
            "FieldName": self.field_name,
            "Message": self.message,
            "DIndex": self.dindex,
            "DVPFormId": "",
        }


@dataclass(frozen=True, slots=True)
class SuccessItem:
    """One entry of ``SuccessEntitys``."""

    id: object
    number: str
    dindex: int = 0

    def to_json(self) -> dict[str, object]:
        """The wire form."""
        return {"Id": self.id, "Number": self.number, "DIndex": self.dindex}


@dataclass(slots=True)
class BusinessError(Exception):
    """A refused operation: becomes an ``IsSuccess: false`` answer (HTTP 200)."""

    message: str
    field_name: str | None = ""
    msg_code: int = MsgCode.VALIDATION
    extra: list[ErrorItem] = field(default_factory=list)

    def items(self, dindex: int = 0) -> list[ErrorItem]:
        """This error as ``Errors`` entries."""
        return [ErrorItem(self.message, self.field_name, dindex), *self.extra]


def response_status(
    errors: Sequence[ErrorItem] = (),
    successes: Sequence[SuccessItem] = (),
    msg_code: int = MsgCode.OK,
) -> dict[str, object]:
    """A ``ResponseStatus`` object; ``ErrorCode`` appears only on failures, as observed."""
    status: dict[str, object] = {}
    if errors:
        status["ErrorCode"] = 500
    status.update(
        {
            "IsSuccess": not errors,
            "Errors": [e.to_json() for e in errors],
            "SuccessEntitys": [s.to_json() for s in successes],
            "SuccessMessages": [],
            "MsgCode": msg_code,
        }
    )
    return status


def session_lost(lcid: int = 2052) -> dict[str, object]:
    """The answer to a call without a valid session or signature (MsgCode 1)."""
    message = {
        1033: "Session information has been lost. Please log in again.",
        3076: "會話信息已丟失，請重新登錄",
    }.get(lcid, "会话信息已丢失，请重新登录")
    return {
        "Result": {
            "ResponseStatus": response_status(
                [ErrorItem(message, None)], msg_code=MsgCode.SESSION_LOST
            )
        }
    }


def json_response(body: object, headers: dict[str, str] | None = None) -> Response:
    """HTTP 200 with JSON; non-ASCII as ``\\uXXXX`` escapes, as the .NET server writes it."""
    return Response(
        json.dumps(body, ensure_ascii=True, separators=(",", ":")),
        status_code=200,
        media_type="application/json; charset=utf-8",
        headers=headers,
    )


def render_stamp(stored: object) -> str | None:
    """``YYYY-MM-DDTHH:MM:SS[.ff]`` from the stored form: .NET drops trailing zero digits."""
    if not isinstance(stored, str) or not stored:
        return None
    head, _, fraction = stored.partition(".")
    fraction = fraction.rstrip("0")
    return f"{head}.{fraction}" if fraction else head


def as_bool(value: object, default: bool) -> bool:
    """Kingdee options arrive as JSON booleans or as the strings "true"/"false"."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    if isinstance(value, int | float):
        return bool(value)
    return default


def lower_keys(data: Mapping[str, object]) -> dict[str, object]:
    """``data`` with lower-cased keys (Kingdee matches keys case-insensitively)."""
    return {str(k).lower(): v for k, v in data.items()}
