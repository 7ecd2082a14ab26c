"""Fuzzed requests: whatever arrives, both simulators answer in their product's shapes.

Every answer is JSON with the product's status field (``code`` for YonBIP, ``errcode`` for
U8), HTTP 200 for business refusals, and never the simulators' internal-error answer.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from erpbridge.sims.yonbip import BipState
from erpbridge.sims.yonbip import build_app as build_bip
from erpbridge.sims.yonbip.seed import SeedSize, seed_state
from erpbridge.sims.yonyou import U8State
from erpbridge.sims.yonyou import build_app as build_u8
from erpbridge.sims.yonyou.seed import SeedSize as U8SeedSize
from erpbridge.sims.yonyou.seed import seed_state as seed_u8

from .conftest import U8, Bip, fetch_token, fetch_u8_token

_KEYS = [
    "data", "pageIndex", "pageSize", "code", "name", "pubts", "id", "isSum", "simpleVOs",
    "queryOrders", "field", "op", "value1", "value2", "order", "_status", "resubmitCheckKey",
    "agentId", "salesOrgId", "transactionTypeId", "vouchdate", "payMoney", "orderDetails",
    "productId", "qty", "oriTaxUnitPrice", "oriSum", "createOrgCode", "customerClassCode",
    "customer", "saleorder", "entry", "inventorycode", "quantity", "taxunitprice", "custcode",
    "deptcode", "typecode", "businesstype", "date", "sort_code", "abbrname", "voucher_code",
    "taxrate", "bgift", "rowno", "creditline", "product", "warehouse",
]  # fmt: skip
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**400), 10**400), st.integers(-5, 100),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=10),
    st.sampled_from(["KH0001", "WL00001", "C0001", "000001", "991", "01", "1", "eq", "in",
                     "between", "pubts", "2026-11-05", "2026-11-05 00:00:00", "Update", "普通销售"]),
)  # fmt: skip
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(_KEYS), inner, max_size=6)
    ),
    max_leaves=25,
)
_BIP_POSTS = [
    "/yonbip/digitalModel/merchant/newlist",
    "/yonbip/digitalModel/merchant/newBatchDetail",
    "/yonbip/digitalModel/merchant/idempotent/newinsert",
    "/yonbip/digitalModel/batch/merchant/save",
    "/yonbip/digitalModel/product/listproductbycondition",
    "/yonbip/scm/stock/QueryCurrentStocksByCondition",
    "/yonbip/sd/voucherorder/list",
    "/yonbip/sd/voucherorder/singleSave",
    "/yonbip/sd/voucherorder/batchaudit",
]
_U8_POSTS = [
    "/api/customer/add",
    "/api/customer/edit",
    "/api/saleorder/add",
    "/api/saleorder/verify",
]
_U8_GETS = [
    "/api/customer/get", "/api/customer/batch_get", "/api/inventory/batch_get",
    "/api/currentstock/batch_get", "/api/saleorder/get", "/api/saleorderlist/batch_get",
]  # fmt: skip
_params = st.dictionaries(
    st.sampled_from(["id", "page_index", "rows_per_page", "code_begin", "code_end", "name",
                     "timestamp_begin", "custcode", "invcode_begin", "whcode", "date_begin"]),
    st.text(max_size=8),
    max_size=4,
)  # fmt: skip


def _clock() -> datetime:
    return datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def _bip_app() -> object:
    state = BipState(clock=_clock)
    seed_state(state, seed=1, size=SeedSize(customers=5, materials=4, orders=5))
    return build_bip(state)


def _u8_app() -> object:
    state = U8State(clock=_clock)
    seed_u8(state, seed=1, size=U8SeedSize(customers=5, inventories=4, orders=5))
    return build_u8(state)


BIP_APP, U8_APP = _bip_app(), _u8_app()


async def _bip_post(api: str, body: bytes) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=BIP_APP),  # type: ignore[arg-type]
        base_url="http://b",
    ) as http:
        bip = Bip(http, await fetch_token(http))
        return await http.post(
            "/iuap-api-gateway" + api, params={"access_token": bip.token}, content=body
        )


async def _u8_call(path: str, params: dict[str, str], body: bytes | None) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=U8_APP),  # type: ignore[arg-type]
        base_url="http://u",
    ) as http:
        u8 = U8(http, await fetch_u8_token(http))
        query = {**u8.auth(), **params}
        if body is None:
            return await http.get(path, params=query)
        return await http.post(path, params=query, content=body)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(api=st.sampled_from(_BIP_POSTS), data=_json, wrap=st.booleans())
def test_any_yonbip_request_gets_a_code_envelope(api: str, data: object, wrap: bool) -> None:
    body = json.dumps({"data": data} if wrap else data).encode()

    answer = asyncio.run(_bip_post(api, body))

    decoded = answer.json()
    assert answer.status_code == 200, answer.text
    assert isinstance(decoded, dict) and isinstance(decoded.get("code"), str), answer.text
    assert decoded["code"] != "500", answer.text


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.sampled_from(_U8_POSTS + _U8_GETS),
    params=_params,
    data=_json,
    wrap=st.sampled_from(["customer", "saleorder", ""]),
    tradeid=st.sampled_from(["", "x", "job-fuzz-0001", "job-fuzz-0002"]),
)
def test_any_u8_request_gets_an_errcode_answer(
    path: str, params: dict[str, str], data: object, wrap: str, tradeid: str
) -> None:
    is_post = path in _U8_POSTS
    body = json.dumps({wrap: data} if wrap else data).encode() if is_post else None
    query = {**params, "tradeid": tradeid} if is_post else params

    answer = asyncio.run(_u8_call(path, query, body))

    decoded = answer.json()
    assert answer.status_code == 200, answer.text
    assert isinstance(decoded, dict) and isinstance(decoded.get("errcode"), str), answer.text
    assert decoded["errcode"] != "99999", answer.text


def test_huge_numbers_in_filters_and_amounts_are_refused_in_yonbip_shape() -> None:
    bodies = [
        ("/yonbip/sd/voucherorder/list", {"simpleVOs": [{"field": "pubts", "value1": 10**400}]}),
        (
            "/yonbip/sd/voucherorder/singleSave",
            {
                "data": {
                    "salesOrgId": "991",
                    "transactionTypeId": "SO01",
                    "vouchdate": "2026-01-01",
                    "agentId": "KH0001",
                    "payMoney": 1,
                    "orderDetails": [
                        {"productId": "WL00001", "qty": 1e14, "oriTaxUnitPrice": 1e14}
                    ],
                }
            },
        ),
    ]

    codes = [
        asyncio.run(_bip_post(api, json.dumps(b).encode())).json()["code"] for api, b in bodies
    ]

    assert codes == ["200", "999"]


def test_huge_amounts_and_odd_tax_rates_are_refused_in_u8_shape() -> None:
    line = {"inventorycode": "000001", "quantity": 1e14, "taxunitprice": 1e14, "bgift": 0}
    order = {
        "businesstype": "普通销售",
        "typecode": "1",
        "custcode": "C0001",
        "deptcode": "01",
        "date": "2026-01-05",
        "entry": [line],
    }
    bodies = [
        {"saleorder": order},
        {"saleorder": {**order, "entry": [{**line, "quantity": 1, "taxrate": -100}]}},
        {"saleorder": {**order, "taxrate": 1e308}},
    ]

    codes = [
        asyncio.run(
            _u8_call("/api/saleorder/add", {"tradeid": f"job-huge-{n:04d}"}, json.dumps(b).encode())
        ).json()["errcode"]
        for n, b in enumerate(bodies)
    ]

    assert codes == ["30001", "30001", "30001"]


_VALID_BIP_ORDER: dict[str, object] = {
    "_status": "Insert",
    "salesOrgId": "991",
    "transactionTypeId": "SO01",
    "vouchdate": "2026-11-05 00:00:00",
    "agentId": "KH0001",
    "payMoney": 226,
    "orderDetails": [{"productId": "WL00001", "qty": 2, "oriTaxUnitPrice": 113, "oriSum": 226}],
}
_VALID_U8_ORDER: dict[str, object] = {
    "businesstype": "普通销售",
    "typecode": "1",
    "custcode": "C0001",
    "deptcode": "01",
    "date": "2026-01-05",
    "taxrate": 13,
    "entry": [{"inventorycode": "000001", "quantity": 2, "taxunitprice": 113, "bgift": 0}],
}


def _mutated(valid: dict[str, object], line_key: str) -> st.SearchStrategy[dict[str, object]]:
    """A valid body with one header or line field replaced by anything."""
    line = valid[line_key][0]  # type: ignore[index]
    keys = [k for k in valid if k != line_key] + [f"{line_key}.{k}" for k in line]

    def mutate(key: str, value: object) -> dict[str, object]:
        body = json.loads(json.dumps(valid))
        if "." in key:
            body[line_key][0][key.split(".", 1)[1]] = value
        else:
            body[key] = value
        return body  # type: ignore[no-any-return]

    return st.builds(mutate, st.sampled_from(keys), _json)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_mutated(_VALID_BIP_ORDER, "orderDetails"))
def test_yonbip_order_with_any_one_bad_field_gets_a_code_envelope(data: dict[str, object]) -> None:
    answer = asyncio.run(
        _bip_post("/yonbip/sd/voucherorder/singleSave", json.dumps({"data": data}).encode())
    )

    assert answer.status_code == 200 and answer.json()["code"] in ("200", "999", "310008")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_mutated(_VALID_U8_ORDER, "entry"), n=st.integers(0, 10**6))
def test_u8_order_with_any_one_bad_field_gets_an_errcode(data: dict[str, object], n: int) -> None:
    body = json.dumps({"saleorder": data}).encode()

    answer = asyncio.run(_u8_call("/api/saleorder/add", {"tradeid": f"job-mut-{n:07d}"}, body))

    assert answer.status_code == 200 and answer.json()["errcode"] in ("0", "30001", "30003")
