"""Odd answers (HTML pages, empty or truncated bodies, wrong content types, broken $batch
answers) become spi errors carrying the system's own text, never a crash or a secret.

These use httpx.MockTransport because the point is answers a healthy simulator never gives.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from erpbridge.connectors.sap import SapConnector
from erpbridge.connectors.sap.errors import classify_response
from erpbridge.sims.sap import SANDBOX_PASSWORD
from erpbridge.sims.sap.metadata import render_metadata
from erpbridge.spi import (
    AuthError,
    ConflictError,
    NotFoundError,
    RateLimitedError,
    TransientError,
    ValidationError,
    WriteMode,
    WriteOp,
)
from tests.connectors.sap.conftest import settings

Handler = Callable[[httpx.Request], httpx.Response]


def _connector(answer: Handler) -> SapConnector:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("$metadata"):
            service = request.url.path.split("/")[-2]
            return httpx.Response(
                200, headers={"content-type": "application/xml"}, content=render_metadata(service)
            )
        if request.headers.get("x-csrf-token") == "Fetch":
            return httpx.Response(200, headers={"x-csrf-token": "tok-123456"})
        return answer(request)

    return SapConnector(settings(), httpx.AsyncClient(transport=httpx.MockTransport(handler)))


@pytest.mark.parametrize(
    ("response", "fragment"),
    [
        (
            httpx.Response(
                200,
                headers={"content-type": "text/html"},
                text="<html><title>SAML Logon</title></html>",
            ),
            "SAML Logon",
        ),
        (
            httpx.Response(200, headers={"content-type": "application/json"}, text=""),
            "JSON cannot be read",
        ),
        (
            httpx.Response(
                200, headers={"content-type": "application/json"}, text='{"d": {"results": [{"Sales'
            ),
            "JSON cannot be read",
        ),
        (
            httpx.Response(200, headers={"content-type": "text/plain"}, text="hello"),
            "expected application/json",
        ),
        (
            httpx.Response(200, headers={"content-type": "application/json"}, text='{"x": 1}'),
            "'d' object",
        ),
    ],
)
async def test_malformed_success_answer_is_transient_with_its_text(
    response: httpx.Response, fragment: str
) -> None:
    conn = _connector(lambda request: response)
    with pytest.raises(TransientError) as info:
        await conn.get("A_SalesOrder", ["1"])
    assert fragment in str(info.value)
    assert SANDBOX_PASSWORD not in str(info.value) + (info.value.raw or "")


@pytest.mark.parametrize(
    ("status", "headers", "body", "cls"),
    [
        (401, {"content-type": "text/html"}, "<html><title>Logon failed</title></html>", AuthError),
        (
            403,
            {"content-type": "text/plain"},
            "No authorization for API_SALES_ORDER_SRV",
            AuthError,
        ),
        (
            404,
            {"content-type": "application/json"},
            '{"error":{"code":"/IWBEP/CM_MGW_RT/020","message":{"value":"Resource not found"}}}',
            NotFoundError,
        ),
        (
            400,
            {"content-type": "application/json"},
            '{"error":{"code":"V1/042","message":{"value":"Sales document 1 is currently being processed by USER1"}}}',
            TransientError,
        ),
        (412, {}, "", ConflictError),
        (429, {"retry-after": "7"}, "", RateLimitedError),
        (
            503,
            {"retry-after": "2", "content-type": "text/html"},
            "<title>503 Service Unavailable</title>",
            RateLimitedError,
        ),
        (
            502,
            {"content-type": "text/html"},
            "<html><body>Bad Gateway</body></html>",
            TransientError,
        ),
        (418, {}, "teapot", ValidationError),
    ],
)
def test_error_table_classifies_each_answer(
    status: int, headers: dict[str, str], body: str, cls: type
) -> None:
    error = classify_response(httpx.Response(status, headers=headers, text=body), "A_SalesOrder")
    assert type(error) is cls
    assert error.status == status
    assert error.system == "sap"


def test_rate_limit_keeps_retry_after_hint() -> None:
    error = classify_response(httpx.Response(429, headers={"retry-after": "7"}), None)
    assert isinstance(error, RateLimitedError)
    assert error.retry_after_s == 7.0


async def test_batch_answer_that_is_not_multipart_fails_the_call() -> None:
    conn = _connector(
        lambda request: httpx.Response(202, headers={"content-type": "application/json"}, text="{}")
    )
    with pytest.raises(TransientError, match="multipart"):
        await conn.write(
            "A_BusinessPartner", [WriteOp(WriteMode.UPDATE, {"SearchTerm1": "X"}, target_id="1")]
        )


async def test_batch_answer_with_too_few_parts_fails_the_call() -> None:
    body = (
        "--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n\r\n--b--\r\n"
    )
    conn = _connector(
        lambda request: httpx.Response(
            202, headers={"content-type": "multipart/mixed; boundary=b"}, text=body
        )
    )
    ops = [WriteOp(WriteMode.UPDATE, {"SearchTerm1": "X"}, target_id=str(n)) for n in range(2)]
    with pytest.raises(TransientError, match="1 answers for 2 changesets"):
        await conn.write("A_BusinessPartner", ops)


async def test_connection_refused_is_transient() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    conn = SapConnector(settings(), httpx.AsyncClient(transport=httpx.MockTransport(refuse)))
    result = await conn.check()
    assert not result.ok
    assert "cannot reach SAP" in result.reason


def test_error_page_echoing_credentials_is_blanked() -> None:
    settings()  # a connection resolves its password first: it is then a known secret
    page = (
        "<html><body>Request rejected: Authorization: Basic Q0NfRVJQQlJJREdFOlNhbmRib3g="
        f" password={SANDBOX_PASSWORD}</body></html>"
    )
    error = classify_response(
        httpx.Response(502, headers={"content-type": "text/html"}, text=page), "A_SalesOrder"
    )
    shown = str(error) + (error.raw or "")
    assert SANDBOX_PASSWORD not in shown
    assert "Q0NfRVJQQlJJREdFOlNhbmRib3g=" not in shown
