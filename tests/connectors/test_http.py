"""Shared connector HTTP helpers: transport errors, safe excerpts, JSON reading."""

from __future__ import annotations

import httpx
import pytest

from erpbridge.connectors._http import (
    body_excerpt,
    map_transport_errors,
    read_json,
    redact,
    retry_after_s,
)
from erpbridge.spi.errors import ConnectorError, TransientError
from erpbridge.spi.secrets import Secret


def test_redact_blanks_bearer_tokens_session_ids_and_known_secrets() -> None:
    Secret.literal("hunter2-secret")
    text = (
        "Authorization: Bearer abc.DEF!ghi sessionId 00DSm0000000001!AQxyz "
        '<sessionId>00Dabc</sessionId> {"access_token": "tok123"} pw=hunter2-secret'
    )
    out = redact(text)
    for leaked in ("abc.DEF!ghi", "AQxyz", "00Dabc", "tok123", "hunter2-secret"):
        assert leaked not in out


def test_body_excerpt_is_short_single_line_and_redacted() -> None:
    response = httpx.Response(500, text="line1\n" + "x" * 2000 + " Bearer SECRETTOKEN")
    excerpt = body_excerpt(response)
    assert "\n" not in excerpt
    assert len(excerpt) <= 501
    assert "SECRETTOKEN" not in body_excerpt(httpx.Response(500, text="Bearer SECRETTOKEN"))


@pytest.mark.parametrize(
    ("header", "expected"),
    [("7", 7.0), ("0.5", 0.5), (None, None), ("soon", None), ("-3", 0.0)],
)
def test_retry_after_reads_seconds(header: str | None, expected: float | None) -> None:
    assert retry_after_s(header) == expected


def test_retry_after_reads_an_http_date_in_the_past_as_zero() -> None:
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


async def test_connect_failure_becomes_transient_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
        with pytest.raises(TransientError, match="connection failed"), map_transport_errors("x"):
            await client.get("https://example.invalid/")


async def test_timeout_becomes_transient_error() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("read timed out", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(slow)) as client:
        with pytest.raises(TransientError, match="timed out"), map_transport_errors("x"):
            await client.get("https://example.invalid/")


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(200, content=b""), "empty body"),
        (httpx.Response(200, html="<html>Maintenance</html>"), "text/html"),
        (
            httpx.Response(
                200, content=b'{"a": [1, 2', headers={"content-type": "application/json"}
            ),
            "invalid JSON",
        ),
    ],
)
def test_read_json_names_what_came_instead(response: httpx.Response, message: str) -> None:
    with pytest.raises(ConnectorError, match=message):
        read_json(response, system="x")
