"""Whatever a gateway answers, both connectors return results or raise a spi ConnectorError.

The answers are generated (``httpx.MockTransport``): no real server sends these, which is
the point; the simulators' own answers are covered by the other tests. Token answers are
well-formed so the fuzzed answers reach the business paths.
"""

from __future__ import annotations

import asyncio
import json

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from erpbridge.connectors.yonbip import YonBipConnector
from erpbridge.connectors.yonyou import U8Connector
from erpbridge.spi import ConnectorError, WriteMode, WriteOp, WriteResult

from .conftest import settings as bip_settings
from .conftest import u8_settings

_KEYS = [
    "code", "message", "data", "recordList", "recordCount", "id", "pubts", "orderDetails",
    "infos", "messages", "sucessCount", "errcode", "errmsg", "customer", "saleorder",
    "saleorderlist", "entry", "ts", "url", "trade", "token",
]  # fmt: skip
_json = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-3, 3),
        st.text(max_size=6),
        st.sampled_from(["200", "999", "0", "310036", "20002", "2026-11-02 08:00:00", "C1"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(_KEYS), inner, max_size=5)
    ),
    max_leaves=25,
)
_status = st.sampled_from([200, 200, 200, 404, 429, 500, 502])


def _bip_transport(answers: list[tuple[int, object]]) -> httpx.MockTransport:
    queue = list(answers)

    def route(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("getAccessToken"):
            return httpx.Response(200, json={"code": "00000", "data": {"access_token": "t0k3n"}})
        status, body = queue.pop(0) if queue else (200, {"code": "200", "data": []})
        return httpx.Response(status, content=json.dumps(body).encode(), headers=_JSON)

    return httpx.MockTransport(route)


def _u8_transport(answers: list[tuple[int, object]]) -> httpx.MockTransport:
    queue = list(answers)

    def route(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/system/token":
            return httpx.Response(200, json={"errcode": "0", "token": {"id": "t0k3n"}})
        status, body = queue.pop(0) if queue else (200, {"errcode": "0"})
        return httpx.Response(status, content=json.dumps(body).encode(), headers=_JSON)

    return httpx.MockTransport(route)


_JSON = {"content-type": "application/json"}


async def _no_wait(_s: float) -> None:
    return None


async def _exercise(connector: YonBipConnector | U8Connector, objects: tuple[str, str]) -> None:
    customer, order = objects
    calls = [
        lambda: connector.get(customer, ["1", "C1"]),
        lambda: connector.find(customer, "code", ["C1"]),
        lambda: connector.write(
            customer,
            [
                WriteOp(WriteMode.UPSERT, {"code": "C1"}, key_field="code", key_value="C1"),
                WriteOp(WriteMode.CREATE, {"code": "C2"}, idempotency_key="job-fuzz-01"),
                WriteOp(WriteMode.UPDATE, {"code": "C3"}, target_id="3"),
            ],
        ),
        lambda: connector.write(order, [WriteOp(WriteMode.DELETE, {}, target_id="5")]),
    ]
    for call in calls:
        try:
            answer = await call()
        except ConnectorError:
            continue
        assert isinstance(answer, list)
        for item in answer:
            assert not isinstance(item, WriteResult) or (item.error is None) == (
                item.outcome.value != "failed"
            )
    try:
        async for page in connector.read_changes(order, None, 2):
            assert isinstance(page.records, list)
    except ConnectorError:
        pass


@settings(max_examples=150, deadline=None)
@given(answers=st.lists(st.tuples(_status, _json), max_size=12))
def test_yonbip_connector_survives_any_answer(answers: list[tuple[int, object]]) -> None:
    async def run() -> None:
        async with httpx.AsyncClient(transport=_bip_transport(answers)) as http:
            await _exercise(YonBipConnector(bip_settings(), http), ("merchant", "voucherorder"))

    asyncio.run(run())


@settings(max_examples=150, deadline=None)
@given(answers=st.lists(st.tuples(_status, _json), max_size=12))
def test_u8_connector_survives_any_answer(answers: list[tuple[int, object]]) -> None:
    async def run() -> None:
        async with httpx.AsyncClient(transport=_u8_transport(answers)) as http:
            connector = U8Connector(u8_settings(result_polls=2), http)
            connector.client.sleep = _no_wait
            await _exercise(connector, ("customer", "saleorder"))

    asyncio.run(run())
