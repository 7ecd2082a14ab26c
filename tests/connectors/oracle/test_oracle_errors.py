"""Oracle answers -> spi error classes: the status table, both body shapes, odd answers."""

from __future__ import annotations

import json

import httpx
import pytest

from erpbridge.connectors.oracle.errors import classify_response
from erpbridge.spi.errors import (
    AuthError,
    ConflictError,
    ConnectorError,
    NotFoundError,
    RateLimitedError,
    TransientError,
    ValidationError,
)


def _json(
    status: int, detail: str, path: str = "", headers: dict[str, str] | None = None
) -> httpx.Response:
    body = {
        "title": "x",
        "status": str(status),
        "o:errorDetails": [{"detail": detail, "o:errorPath": path}],
    }
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={"content-type": "application/vnd.oracle.adf.error+json", **(headers or {})},
    )


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, ValidationError),
        (401, AuthError),
        (403, AuthError),
        (404, NotFoundError),
        (405, ValidationError),
        (409, ConflictError),
        (412, ConflictError),
        (415, ValidationError),
        (429, RateLimitedError),
        (500, TransientError),
        (502, TransientError),
        (503, RateLimitedError),
        (504, TransientError),
        (599, TransientError),
        (418, ValidationError),
    ],
)
def test_status_table(status: int, cls: type[ConnectorError]) -> None:
    error = classify_response(_json(status, "why"), "salesOrdersForOrderHub")
    assert type(error) is cls and error.system == "oracle" and "why" in error.message


def test_validation_error_names_the_field_from_the_error_path() -> None:
    error = classify_response(_json(400, "The item X isn't valid.", "/lines/0/ProductNumber"))
    assert isinstance(error, ValidationError) and error.field == "ProductNumber"


def test_rate_limit_carries_retry_after() -> None:
    error = classify_response(_json(429, "slow down", headers={"retry-after": "7"}))
    assert isinstance(error, RateLimitedError) and error.retry_after_s == 7.0


def test_html_proxy_page_is_transient_with_an_excerpt() -> None:
    response = httpx.Response(
        502, content=b"<html><body>Bad Gateway</body></html>", headers={"content-type": "text/html"}
    )
    error = classify_response(response)
    assert isinstance(error, TransientError) and "Bad Gateway" in error.message


def test_plain_text_body_is_the_message() -> None:
    response = httpx.Response(
        400, content=b"Attribute Foo is not valid", headers={"content-type": "text/plain"}
    )
    assert classify_response(response).message.endswith("Attribute Foo is not valid")


def test_truncated_json_error_body_does_not_raise() -> None:
    response = httpx.Response(
        500, content=b'{"title": "Int', headers={"content-type": "application/json"}
    )
    assert isinstance(classify_response(response), TransientError)


def test_basic_credentials_in_an_echoed_body_are_redacted() -> None:
    response = httpx.Response(
        400,
        content=b"bad header Authorization: Basic ZXJwYnJpZGdlOnNlY3JldA==",
        headers={"content-type": "text/plain"},
    )
    error = classify_response(response)
    assert "ZXJwYnJpZGdlOnNlY3JldA" not in error.message + str(error.raw)
