"""Salesforce answers -> spi errors, in one place (STYLE.md "Errors").

Two tables: Salesforce ``errorCode``/``statusCode`` values (REST bodies, collection
results, OAuth ``error``, SOAP ``exceptionCode``) and, when no code is known, the HTTP
status. :func:`classify_response` reads any answer (JSON error list, OAuth JSON, SOAP
fault, HTML page, empty body) and keeps Salesforce's own message verbatim;
:func:`classify_result_error` does the same for one failed record of a collection call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

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

__all__ = ["CODE_TABLE", "STATUS_TABLE", "classify_response", "classify_result_error"]

SYSTEM = "salesforce"

#: Salesforce error codes -> spi class (REST guide, errorcodes.htm; OAuth and SOAP codes).
CODE_TABLE: dict[str, type[ConnectorError]] = {
    # authentication and permission
    "INVALID_SESSION_ID": AuthError,
    "INVALID_LOGIN": AuthError,
    "LOGIN_MUST_USE_SECURITY_TOKEN": AuthError,
    "INVALID_AUTH_HEADER": AuthError,
    "INSUFFICIENT_ACCESS": AuthError,
    "INSUFFICIENT_ACCESS_OR_READONLY": AuthError,
    "API_DISABLED_FOR_ORG": AuthError,
    "invalid_grant": AuthError,
    "invalid_client_id": AuthError,
    "invalid_client": AuthError,
    "unsupported_grant_type": AuthError,
    # limits (Salesforce uses 403 REQUEST_LIMIT_EXCEEDED, not 429)
    "REQUEST_LIMIT_EXCEEDED": RateLimitedError,
    # try again later
    "UNABLE_TO_LOCK_ROW": TransientError,
    "SERVER_UNAVAILABLE": TransientError,
    "UNKNOWN_EXCEPTION": TransientError,
    "QUERY_TIMEOUT": TransientError,
    "INVALID_QUERY_LOCATOR": TransientError,
    "ALL_OR_NONE_OPERATION_ROLLED_BACK": TransientError,
    # the record or resource is not there
    "NOT_FOUND": NotFoundError,
    "ENTITY_IS_DELETED": NotFoundError,
    # a person must fix the record
    "REQUIRED_FIELD_MISSING": ValidationError,
    "STRING_TOO_LONG": ValidationError,
    "INVALID_FIELD": ValidationError,
    "INVALID_FIELD_FOR_INSERT_UPDATE": ValidationError,
    "INVALID_TYPE": ValidationError,
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": ValidationError,
    "INVALID_EMAIL_ADDRESS": ValidationError,
    "FIELD_CUSTOM_VALIDATION_EXCEPTION": ValidationError,
    "FIELD_INTEGRITY_EXCEPTION": ValidationError,
    "INVALID_CROSS_REFERENCE_KEY": ValidationError,
    "MALFORMED_ID": ValidationError,
    "MALFORMED_QUERY": ValidationError,
    "JSON_PARSER_ERROR": ValidationError,
    "DUPLICATE_VALUE": ValidationError,
    "DUPLICATES_DETECTED": ValidationError,
    "DELETE_FAILED": ValidationError,
    "MISSING_ARGUMENT": ValidationError,
    "EXCEEDED_ID_LIMIT": ValidationError,
    "INVALID_INPUT": ValidationError,
    "INVALID_REPLICATION_DATE": ValidationError,
    # someone else holds the record
    "ENTITY_IS_LOCKED": ConflictError,
}

#: HTTP status -> spi class, when the body names no known code.
STATUS_TABLE: dict[int, type[ConnectorError]] = {
    400: ValidationError,
    401: AuthError,
    403: AuthError,
    404: NotFoundError,
    409: ConflictError,
    412: ConflictError,
    429: RateLimitedError,
    500: TransientError,
    502: TransientError,
    503: TransientError,
    504: TransientError,
}

#: how long to wait on REQUEST_LIMIT_EXCEEDED when Salesforce gives no hint (UNSURE:
#: Salesforce sends no Retry-After; the daily limit rolls over a 24 h window).
_DAILY_LIMIT_WAIT_S = 3600.0
_CONCURRENT_LIMIT_WAIT_S = 20.0
_TITLE = re.compile(r"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_SOAP_CODE = re.compile(r"<(?:\w+:)?exceptionCode>([^<]+)<", re.IGNORECASE)
_SOAP_MESSAGE = re.compile(r"<(?:\w+:)?exceptionMessage>([^<]*)<", re.IGNORECASE)


def _build(
    cls: type[ConnectorError],
    message: str,
    *,
    code: str | None,
    fields: list[str],
    status: int | str | None,
    raw: str | None,
    obj: str | None,
    retry_after: float | None,
) -> ConnectorError:
    text = f"{code}: {message}" if code else message
    if issubclass(cls, RateLimitedError):
        if retry_after is None:
            retry_after = (
                _DAILY_LIMIT_WAIT_S if "TotalRequests" in message else _CONCURRENT_LIMIT_WAIT_S
            )
        return cls(
            text, retry_after_s=retry_after, system=SYSTEM, object=obj, raw=raw, status=status
        )
    if issubclass(cls, ValidationError):
        return cls(
            text,
            field=fields[0] if fields else None,
            system=SYSTEM,
            object=obj,
            raw=raw,
            status=status,
        )
    return cls(text, system=SYSTEM, object=obj, raw=raw, status=status)


def _class_for(code: str | None, status: int) -> type[ConnectorError]:
    if code and code in CODE_TABLE:
        return CODE_TABLE[code]
    if status in STATUS_TABLE:
        return STATUS_TABLE[status]
    return TransientError if status >= 500 else ConnectorError


def _parse_body(response: httpx.Response) -> tuple[str | None, str, list[str]]:
    """(code, message, fields) from whatever Salesforce (or a proxy) answered."""
    text = response.text
    try:
        data = json.loads(text) if text.strip() else None
    except json.JSONDecodeError:
        data = None
    if isinstance(data, list) and data and isinstance(data[0], Mapping):
        first = data[0]
        fields = first.get("fields")
        return (
            str(first.get("errorCode") or first.get("statusCode") or "") or None,
            str(first.get("message", "")),
            [str(f) for f in fields] if isinstance(fields, list) else [],
        )
    if isinstance(data, Mapping) and "error" in data:
        return str(data["error"]), str(data.get("error_description", "")), []
    soap = _SOAP_CODE.search(text)
    if soap:
        message = _SOAP_MESSAGE.search(text)
        return soap[1].strip(), message[1].strip() if message else "", []
    title = _TITLE.search(text)
    if title:
        return None, f"HTTP {response.status_code}: {' '.join(title[1].split())}", []
    if not text.strip():
        return None, f"HTTP {response.status_code} with an empty body", []
    return None, f"HTTP {response.status_code}: {body_excerpt(response)}", []


def classify_response(response: httpx.Response, *, object: str | None = None) -> ConnectorError:
    """The spi error for a failed Salesforce answer (status >= 300 or an unusable body)."""
    code, message, fields = _parse_body(response)
    cls = _class_for(code, response.status_code)
    return _build(
        cls,
        message,
        code=code,
        fields=fields,
        status=response.status_code,
        raw=body_excerpt(response),
        obj=object,
        retry_after=retry_after_s(response.headers.get("retry-after")),
    )


def classify_result_error(result: Mapping[str, object], *, object: str | None) -> ConnectorError:
    """The spi error for one failed record of an sObject Collections call."""
    errors = result.get("errors")
    first = errors[0] if isinstance(errors, list) and errors else {}
    if not isinstance(first, Mapping):
        first = {}
    code = str(first.get("statusCode") or first.get("errorCode") or "") or None
    message = str(first.get("message", "record failed without a message"))
    raw_fields = first.get("fields")
    fields = [str(f) for f in raw_fields] if isinstance(raw_fields, list) else []
    cls = CODE_TABLE.get(code or "", ValidationError)
    return _build(
        cls,
        message,
        code=code,
        fields=fields,
        status=code,
        raw=json.dumps(errors, ensure_ascii=False)[:500],
        obj=object,
        retry_after=None,
    )
