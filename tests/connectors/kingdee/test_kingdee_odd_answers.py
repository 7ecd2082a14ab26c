"""Answers the simulator never gives but a proxy or a broken server might: each becomes a spi error.

These use ``httpx.MockTransport`` on purpose: the real simulator cannot be made to send
them, so the transport function stands in for a misbehaving server.
"""

from __future__ import annotations

import httpx
import pytest

from erpbridge.connectors.kingdee import KingdeeConnector
from erpbridge.connectors.kingdee.client import KingdeeClient
from erpbridge.spi import (
    AuthError,
    ConnectorError,
    RateLimitedError,
    TransientError,
    ValidationError,
)

from .conftest import make_settings


def _client(handler: httpx.MockTransport) -> KingdeeClient:
    return KingdeeClient(make_settings(), httpx.AsyncClient(transport=handler))


def _answer(status: int, body: str, headers: dict[str, str] | None = None) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, text=body, headers=headers))


async def test_an_html_page_with_200_is_a_connector_error_quoting_it() -> None:
    client = _client(_answer(200, "<html><body>维护中</body></html>"))

    with pytest.raises(ConnectorError, match=r"不是JSON.*维护中"):
        await client.form_call("View", {"formid": "BD_Customer", "data": {}}, form="BD_Customer")


async def test_a_response_error_body_is_transient_with_the_servers_text() -> None:
    client = _client(_answer(200, "response_error: 对象引用未设置到对象的实例"))

    with pytest.raises(TransientError, match="对象引用未设置到对象的实例"):
        await client.form_call("View", {}, form="BD_Customer")


async def test_a_503_with_retry_after_is_rate_limited() -> None:
    client = _client(_answer(503, "Service Unavailable", {"Retry-After": "7"}))

    with pytest.raises(RateLimitedError) as caught:
        await client.form_call("ExecuteBillQuery", {}, form="BD_Customer")

    assert caught.value.retry_after_s == 7.0


async def test_session_lost_twice_is_an_auth_error_in_kingdees_words() -> None:
    lost = '{"Result":{"ResponseStatus":{"ErrorCode":500,"IsSuccess":false,"Errors":[{"FieldName":null,"Message":"会话信息已丢失，请重新登录","DIndex":0}],"MsgCode":1}}}'
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, text=lost)

    client = _client(httpx.MockTransport(handler))

    with pytest.raises(AuthError, match="会话信息已丢失"):
        await client.form_call("ExecuteBillQuery", {}, form="BD_Customer")
    assert len(calls) == 2  # the one retry, with fresh signed headers


async def test_a_query_answer_that_is_not_rows_is_refused() -> None:
    connector = KingdeeConnector(
        make_settings(), httpx.AsyncClient(transport=_answer(200, '{"odd": true}'))
    )

    with pytest.raises(ConnectorError, match="QueryBusinessInfo"):
        await connector.describe()


async def test_a_refused_filter_keeps_the_field_and_message() -> None:
    body = '[[{"Result":{"ResponseStatus":{"ErrorCode":500,"IsSuccess":false,"Errors":[{"FieldName":"FNope","Message":"元数据中标识为FNope的字段不存在","DIndex":0}],"MsgCode":9}}}]]'
    client = _client(_answer(200, body))
    connector = KingdeeConnector(make_settings(), httpx.AsyncClient(), client=client)
    from erpbridge.connectors.kingdee.describe import FormInfo
    from erpbridge.spi.schema import ObjectSchema

    info = FormInfo(ObjectSchema("BD_Customer", ()), "FCUSTID", "FNumber", "FModifyDate", ())

    with pytest.raises(ValidationError) as caught:
        await connector._query(info, ["FNope"], None, order=None, limit=1)

    assert caught.value.field == "FNope" and caught.value.status == 9
