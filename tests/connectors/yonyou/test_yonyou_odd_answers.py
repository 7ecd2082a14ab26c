"""Odd answers a real gateway or proxy can give: both connectors classify them, never crash.

These use ``httpx.MockTransport`` because the answers are ones the simulators do not give
(numeric codes, HTML proxy pages, envelopes without a status, tokens echoed in bodies).
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from erpbridge.connectors.yonbip import YonBipConnector
from erpbridge.connectors.yonyou import U8Connector
from erpbridge.spi import (
    AuthError,
    ConnectorError,
    NotFoundError,
    RateLimitedError,
    TransientError,
    ValidationError,
    WriteMode,
    WriteOp,
)

from .conftest import settings, u8_settings

TOKEN = "tok+en/with=chars"


def _bip(handler: Callable[[httpx.Request], httpx.Response]) -> YonBipConnector:
    def route(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("getAccessToken"):
            return httpx.Response(
                200, json={"code": "00000", "data": {"access_token": TOKEN, "expire": 7200}}
            )
        return handler(request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(route))
    return YonBipConnector(settings(), http)


def _u8(handler: Callable[[httpx.Request], httpx.Response]) -> U8Connector:
    def route(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/system/token":
            return httpx.Response(200, json={"errcode": 0, "token": {"id": TOKEN}})
        return handler(request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(route))
    return U8Connector(u8_settings(), http)


async def test_numeric_code_200_is_success() -> None:
    connector = _bip(lambda r: httpx.Response(200, json={"code": 200, "data": []}))
    assert await connector.get("merchant", ["1"]) == []


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (httpx.Response(502, text="<html>502 Bad Gateway</html>"), TransientError),
        (httpx.Response(200, text="<html>login</html>"), ConnectorError),
        (httpx.Response(200, json={"message": "no code"}), ConnectorError),
        (httpx.Response(200, json={"code": 310046, "message": "限流"}), RateLimitedError),
        (
            httpx.Response(404, json={"code": "310404", "message": "网关上没有注册此API"}),
            NotFoundError,
        ),
        (httpx.Response(200, json={"code": "310037", "message": "API未授权"}), AuthError),
        (httpx.Response(200, json={"code": "202", "message": "处理中"}), TransientError),
        (httpx.Response(200, json={"code": "200", "data": {"not": "a list"}}), ConnectorError),
    ],
)
async def test_yonbip_odd_answers_are_classified(
    response: httpx.Response, expected: type[ConnectorError]
) -> None:
    connector = _bip(lambda r: response)
    with pytest.raises(expected):
        await connector.get("merchant", ["1"])


async def test_yonbip_token_echoed_in_an_error_page_is_blanked() -> None:
    page = f"upstream failed for /yonbip/x?access_token={TOKEN}"
    connector = _bip(lambda r: httpx.Response(500, text=page))
    with pytest.raises(TransientError) as caught:
        await connector.get("merchant", ["1"])
    assert TOKEN not in str(caught.value) + str(caught.value.raw)


async def test_yonbip_access_token_is_url_encoded_on_the_wire() -> None:
    seen: list[str] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.query.decode())
        return httpx.Response(200, json={"code": "200", "data": []})

    await _bip(record).get("merchant", ["1"])
    assert "access_token=tok%2Ben%2Fwith%3Dchars" in seen[0]


async def test_yonbip_business_error_names_the_field() -> None:
    answer = {"code": "999", "message": "客户分类[customerClassCode]编码[9]不存在"}
    connector = _bip(lambda r: httpx.Response(200, json=answer))
    with pytest.raises(ValidationError) as caught:
        await connector.find("merchant", "code", ["X"])
    assert caught.value.field == "customerClassCode" and caught.value.status == "999"


async def test_u8_numeric_errcode_0_is_success_and_odd_bodies_are_errors() -> None:
    good = _u8(lambda r: httpx.Response(200, json={"errcode": 0, "customer": {"code": "C1"}}))
    bad = _u8(lambda r: httpx.Response(200, json={"customer": []}))
    html = _u8(
        lambda r: httpx.Response(503, text="<html>busy</html>", headers={"Retry-After": "7"})
    )
    assert [r.id for r in await good.get("customer", ["C1"])] == ["C1"]
    with pytest.raises(ConnectorError):
        await bad.get("customer", ["C1"])
    with pytest.raises(TransientError):
        await html.get("customer", ["C1"])


async def test_u8_async_result_that_never_arrives_is_transient() -> None:
    def route(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/system/result":
            return httpx.Response(200, json={"errcode": "0", "errmsg": "处理中"})
        return httpx.Response(200, json={"errcode": "0", "url": "http://u8.test/system/result?x=1"})

    connector = _u8(route)
    connector.client.sleep = _no_wait
    results = await connector.write(
        "customer",
        [WriteOp(WriteMode.CREATE, {"code": "C1"}, idempotency_key="job-never-01")],
    )
    assert isinstance(results[0].error, TransientError)


async def _no_wait(_s: float) -> None:
    return None


async def test_a_server_that_ignores_page_index_is_an_error_not_a_hang() -> None:
    row = {"id": 7, "code": "KH7", "pubts": "2026-11-02 08:00:00"}
    connector = _bip(lambda r: httpx.Response(200, json={"code": "200", "data": [row, row]}))
    with pytest.raises(ConnectorError, match="分页"):
        async for _page in connector.read_changes("merchant", None, 2):
            pass
