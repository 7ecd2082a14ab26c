"""SAP Gateway's OData error body, and the exception that carries one through the simulator.

Shape from the reference §5 (SAP Gateway error documentation); pyodata's
``vendor.SAP.BusinessGatewayError`` reads ``error.message.value`` and
``error.innererror.errordetails[*].message``, so those paths are kept exact. The message
class/number codes used here are modelled on real ones (``/IWBEP/CM_MGW_RT/020`` resource not
found, ``V1/302`` unknown sold-to party); codes we could not confirm are marked in README.md.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

__all__ = ["ODataError", "error_body"]

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    412: "Precondition Failed",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}


class ODataError(Exception):
    """An OData request the simulator refuses: status, SAP message code, text, target field."""

    def __init__(
        self, status: int, code: str, message: str, *, target: str = "", service: str = ""
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.service = service
        super().__init__(f"{status} {code}: {message}")

    @property
    def reason(self) -> str:
        """The HTTP reason phrase."""
        return _REASONS.get(self.status, "Error")

    def body(self) -> bytes:
        """The JSON error body SAP Gateway sends."""
        return error_body(self.code, self.message, target=self.target, service=self.service)


def error_body(code: str, message: str, *, target: str = "", service: str = "") -> bytes:
    """Render SAP Gateway's JSON error body."""
    now = datetime.now(UTC)
    body = {
        "error": {
            "code": code,
            "message": {"lang": "en", "value": message},
            "innererror": {
                "application": {
                    "component_id": "SD-SLS-API" if "SALES" in service else "LO-MD-BP",
                    "service_namespace": "/SAP/",
                    "service_id": service,
                    "service_version": "0001",
                },
                "transactionid": uuid.uuid4().hex.upper(),
                "timestamp": now.strftime("%Y%m%d%H%M%S.") + f"{now.microsecond:06d}0",
                "Error_Resolution": {
                    "SAP_Transaction": "For backend administrators: use ADT feed reader "
                    '"SAP Gateway Error Log" or run transaction /IWFND/ERROR_LOG',
                    "SAP_Note": "See SAP Note 1797736 for error analysis",
                },
                "errordetails": [
                    {
                        "code": code,
                        "message": message,
                        "propertyref": target,
                        "severity": "error",
                        "target": target,
                        "transition": False,
                    }
                ],
            },
        }
    }
    return json.dumps(body, ensure_ascii=False).encode("utf-8")
