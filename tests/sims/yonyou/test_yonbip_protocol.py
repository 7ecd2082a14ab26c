"""The YonBIP simulator against the open-platform documents, with plain httpx.

Every request here is written from the reference (token doc, API doc samples), not from
the connector. Where a document can be read two ways (the signature's URL encoding),
both readings are sent and must agree.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path
from urllib.parse import quote

import httpx

from erpbridge.sims._common.faults import FaultKind
from erpbridge.sims._common.spec import SimulatorContext
from erpbridge.sims.yonbip import (
    DISABLED_APP_KEY,
    SANDBOX_APP_KEY,
    SANDBOX_APP_SECRET,
    BipState,
    SeedSize,
    build_app,
    create_app,
)

from .conftest import GATEWAY, TOKEN_PATH, Bip, StepClock, fetch_token, timestamp_ms

MERCHANT_LIST = "/yonbip/digitalModel/merchant/newlist"
MERCHANT_INSERT = "/yonbip/digitalModel/merchant/idempotent/newinsert"
MERCHANT_BATCH = "/yonbip/digitalModel/batch/merchant/save"
ORDER_LIST = "/yonbip/sd/voucherorder/list"
ORDER_SAVE = "/yonbip/sd/voucherorder/singleSave"
ORDER_DETAIL = "/yonbip/sd/voucherorder/detail"


def _signature(ts: str, secret: str = SANDBOX_APP_SECRET, key: str = SANDBOX_APP_KEY) -> str:
    digest = hmac.new(secret.encode(), f"appKey{key}timestamp{ts}".encode(), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


def _order(agent: str, product: str, *, key: str | None = None, qty: int = 10) -> dict[str, object]:
    data: dict[str, object] = {
        "_status": "Insert",
        "salesOrgId": "991",
        "transactionTypeId": "SO01",
        "vouchdate": "2026-11-05 00:00:00",
        "agentId": agent,
        "settlementOrgId": "991",
        "invoiceAgentId": agent,
        "payMoney": 113 * qty,
        "orderPrices!currency": "CNY",
        "orderPrices!natCurrency": "CNY",
        "orderPrices!exchRate": 1,
        "orderPrices!exchangeRateType": "01",
        "orderPrices!taxInclusive": True,
        "orderDetails": [
            {
                "_status": "Insert",
                "productId": product,
                "stockOrgId": "991",
                "qty": qty,
                "taxId": "VAT13",
                "orderProductType": "SALE",
                "oriTaxUnitPrice": 113,
                "oriSum": 113 * qty,
            }
        ],
    }
    if key is not None:
        data["resubmitCheckKey"] = key
    return {"data": data}


def _merchant(code: str, *, key: str | None = "crm-acc-1", cls: str = "02") -> dict[str, object]:
    data: dict[str, object] = {
        "code": code,
        "name": {"zh_CN": "杭州测试贸易有限公司"},
        "createOrgCode": "991",
        "customerClassCode": cls,
    }
    if key is not None:
        data["resubmitCheckKey"] = key
    return {"data": data}


# --- token ----------------------------------------------------------------------------


async def test_token_signed_as_documented_is_issued_for_two_hours(
    bip_raw: httpx.AsyncClient,
) -> None:
    ts = timestamp_ms()
    answer = await bip_raw.get(
        TOKEN_PATH, params={"appKey": SANDBOX_APP_KEY, "timestamp": ts, "signature": _signature(ts)}
    )
    body = answer.json()
    assert (answer.status_code, body["code"], body["data"]["expire"]) == (200, "00000", 7200)
    assert body["data"]["access_token"]


async def test_both_readings_of_the_signature_encoding_get_a_token(
    bip_raw: httpx.AsyncClient,
) -> None:
    ts = timestamp_ms()
    encoded_once = quote(_signature(ts), safe="")
    # Reading 1: the URL-encoded signature written into the URL by hand (decoded once).
    by_hand = await bip_raw.get(
        f"{TOKEN_PATH}?appKey={SANDBOX_APP_KEY}&timestamp={ts}&signature={encoded_once}"
    )
    # Reading 2: the URL-encoded signature handed to a library as a value (encoded twice).
    as_value = await bip_raw.get(
        TOKEN_PATH, params={"appKey": SANDBOX_APP_KEY, "timestamp": ts, "signature": encoded_once}
    )
    assert [by_hand.json()["code"], as_value.json()["code"]] == ["00000", "00000"]


async def test_newer_v1_token_path_takes_the_same_parameters(bip_raw: httpx.AsyncClient) -> None:
    ts = timestamp_ms()
    answer = await bip_raw.get(
        "/iuap-api-auth/open-auth/selfAppAuth/base/v1/getAccessToken",
        params={"appKey": SANDBOX_APP_KEY, "timestamp": ts, "signature": _signature(ts)},
    )
    assert answer.json()["code"] == "00000"


async def test_token_with_wrong_secret_is_refused_without_echoing_it(
    bip_raw: httpx.AsyncClient,
) -> None:
    ts = timestamp_ms()
    answer = await bip_raw.get(
        TOKEN_PATH,
        params={"appKey": SANDBOX_APP_KEY, "timestamp": ts, "signature": _signature(ts, "wrong")},
    )
    body = answer.json()
    assert body["code"] not in ("00000", "200")
    assert "data" not in body and SANDBOX_APP_SECRET not in answer.text


async def test_token_for_unknown_or_disabled_app_answers_10018(bip_raw: httpx.AsyncClient) -> None:
    codes = []
    for key in ("nosuchapp", DISABLED_APP_KEY):
        ts = timestamp_ms()
        answer = await bip_raw.get(
            TOKEN_PATH,
            params={"appKey": key, "timestamp": ts, "signature": _signature(ts, key=key)},
        )
        codes.append(answer.json()["code"])
    assert codes == ["10018", "10018"]


async def test_token_request_without_timestamp_names_the_parameter(
    bip_raw: httpx.AsyncClient,
) -> None:
    answer = await bip_raw.get(TOKEN_PATH, params={"appKey": SANDBOX_APP_KEY, "signature": "x"})
    body = answer.json()
    assert body["code"] == "310008" and "timestamp" in body["message"]


async def test_data_center_lookup_gives_gateway_and_token_urls(bip_raw: httpx.AsyncClient) -> None:
    answer = await bip_raw.get(
        "/open-auth/dataCenter/getGatewayAddress", params={"tenantId": "k8x2m4q7"}
    )
    data = answer.json()["data"]
    assert data == {
        "gatewayUrl": "http://bip.test/iuap-api-gateway",
        "tokenUrl": "http://bip.test/iuap-api-auth",
    }


# --- gateway --------------------------------------------------------------------------


async def test_call_without_access_token_answers_310001(bip_raw: httpx.AsyncClient) -> None:
    answer = await bip_raw.post(GATEWAY + MERCHANT_LIST, json={"pageIndex": 1, "pageSize": 1})
    assert (answer.status_code, answer.json()["code"]) == (200, "310001")


async def test_expired_token_answers_310036(bip: Bip, clock: StepClock) -> None:
    clock.advance(7201)
    body = await bip.post(MERCHANT_LIST, {"pageIndex": 1, "pageSize": 1})
    assert body["code"] == "310036"


async def test_token_sent_without_url_encoding_is_refused(bip: Bip) -> None:
    # Tokens carry '+', which an unencoded query string turns into a space (reference §B1).
    assert "+" in bip.token
    answer = await bip.client.post(
        f"{GATEWAY}{MERCHANT_LIST}?access_token={bip.token}", json={"pageIndex": 1}
    )
    assert answer.json()["code"] == "310036"


async def test_unregistered_api_is_http_404_with_310404(bip: Bip) -> None:
    answer = await bip.client.post(
        GATEWAY + "/yonbip/sd/nosuchthing", params={"access_token": bip.token}, json={}
    )
    assert (answer.status_code, answer.json()["code"]) == (404, "310404")


async def test_wrong_method_answers_310405(bip: Bip) -> None:
    answer = await bip.client.get(GATEWAY + ORDER_LIST, params={"access_token": bip.token})
    assert (answer.status_code, answer.json()["code"]) == (405, "310405")


async def test_body_that_is_not_json_answers_a_parameter_error(bip: Bip) -> None:
    answer = await bip.client.post(
        GATEWAY + MERCHANT_LIST, params={"access_token": bip.token}, content=b"{not json"
    )
    assert (answer.status_code, answer.json()["code"]) == (200, "310008")


# --- merchant ---------------------------------------------------------------------------


async def test_merchant_pages_cover_every_customer_once_in_pubts_order(bip: Bip) -> None:
    seen: list[tuple[str, int]] = []
    for index in range(1, 10):
        body = await bip.post(MERCHANT_LIST, {"pageIndex": index, "pageSize": 5})
        page = body["data"]
        assert isinstance(page, list)
        seen += [(r["pubts"], r["id"]) for r in page]
        if len(page) < 5:
            break
    assert len(seen) == 12 and len(set(seen)) == 12 and seen == sorted(seen)


async def test_merchant_list_filters_modified_since_pubts(bip: Bip) -> None:
    every = (await bip.post(MERCHANT_LIST, {"pageIndex": 1, "pageSize": 100}))["data"]
    cut = every[6]["pubts"]
    later = (await bip.post(MERCHANT_LIST, {"pageIndex": 1, "pageSize": 100, "pubts": cut}))["data"]
    assert [r["id"] for r in later] == [r["id"] for r in every if r["pubts"] >= cut]


async def test_merchant_page_size_over_5000_is_refused(bip: Bip) -> None:
    body = await bip.post(MERCHANT_LIST, {"pageIndex": 1, "pageSize": 5001})
    assert body["code"] == "310008" and "pageSize" in body["message"]


async def test_merchant_insert_answers_id_and_code(bip: Bip) -> None:
    body = await bip.post(MERCHANT_INSERT, _merchant("KH9001"))
    record = body["data"][0]
    assert body["code"] == "200" and record["code"] == "KH9001" and record["id"]


async def test_repeated_resubmit_check_key_returns_the_first_result_without_a_second_customer(
    bip: Bip,
) -> None:
    first = await bip.post(MERCHANT_INSERT, _merchant("KH9002", key="crm-acc-77"))
    again = await bip.post(MERCHANT_INSERT, _merchant("KH9002", key="crm-acc-77"))
    listed = await bip.post(MERCHANT_LIST, {"pageIndex": 1, "pageSize": 100, "code": "KH9002"})
    assert again == first and len(listed["data"]) == 1


async def test_resubmit_check_key_after_one_hour_answers_duplicate_with_the_id(
    bip: Bip, clock: StepClock
) -> None:
    first = await bip.post(MERCHANT_INSERT, _merchant("KH9003", key="crm-acc-78"))
    clock.advance(3601)
    bip.token = await fetch_token(bip.client)  # the old one is still valid; a fresh one is fine
    later = await bip.post(MERCHANT_INSERT, _merchant("KH9003", key="crm-acc-78"))
    assert later["code"] == "10004" and later["data"] == {"id": first["data"][0]["id"]}


async def test_idempotent_insert_without_resubmit_check_key_is_refused(bip: Bip) -> None:
    body = await bip.post(MERCHANT_INSERT, _merchant("KH9004", key=None))
    assert body["code"] == "999" and "resubmitCheckKey" in body["message"]


async def test_resubmit_check_key_longer_than_32_is_refused(bip: Bip) -> None:
    body = await bip.post(MERCHANT_INSERT, _merchant("KH9005", key="k" * 33))
    assert body["code"] == "310008"


async def test_merchant_with_existing_code_or_unknown_class_is_refused_with_the_field(
    bip: Bip,
) -> None:
    dup = await bip.post(MERCHANT_INSERT, _merchant("KH0001", key="crm-dup"))
    cls = await bip.post(MERCHANT_INSERT, _merchant("KH9006", key="crm-cls", cls="99"))
    assert (dup["code"], cls["code"]) == ("999", "999")
    assert "KH0001" in dup["message"] and "customerClassCode" in cls["message"]


async def test_batch_merchant_save_reports_partial_success(bip: Bip) -> None:
    good = _merchant("KH9101", key=None)["data"]
    bad = _merchant("KH9102", key=None, cls="99")["data"]
    body = await bip.post(MERCHANT_BATCH, {"data": [{**good, "_status": "Insert"}, bad]})
    data = body["data"]
    assert body["code"] == "200"
    assert (data["count"], data["sucessCount"], data["failCount"]) == (2, 1, 1)
    assert "KH9102" in data["messages"][0] and data["infos"][0]["code"] == "KH9101"


async def test_batch_merchant_update_moves_pubts(bip: Bip, clock: StepClock) -> None:
    before = (await bip.post(MERCHANT_LIST, {"pageIndex": 1, "pageSize": 1, "code": "KH0003"}))[
        "data"
    ][0]
    clock.advance(2)
    body = await bip.post(
        MERCHANT_BATCH, {"data": [{"_status": "Update", "code": "KH0003", "contactName": "周杰"}]}
    )
    after = body["data"]["infos"][0]
    assert after["id"] == before["id"] and after["contactName"] == "周杰"
    assert after["pubts"] > before["pubts"]


# --- sales orders -------------------------------------------------------------------------


async def test_sales_order_save_then_detail_has_the_lines(bip: Bip) -> None:
    saved = await bip.post(ORDER_SAVE, _order("KH0001", "WL00001", key="crm-SO-1"))
    order = saved["data"]
    detail = await bip.get(ORDER_DETAIL, id=order["id"])
    lines = detail["data"]["orderDetails"]
    assert saved["code"] == "200" and str(order["code"]).startswith("UO-20261105")
    assert (len(lines), lines[0]["productId_code"], lines[0]["oriSum"]) == (1, "WL00001", 1130)


async def test_sales_order_repeat_with_same_key_makes_one_order(bip: Bip) -> None:
    first = await bip.post(ORDER_SAVE, _order("KH0002", "WL00002", key="crm-SO-2"))
    again = await bip.post(ORDER_SAVE, _order("KH0002", "WL00002", key="crm-SO-2"))
    listed = await bip.post(
        ORDER_LIST,
        {
            "pageIndex": 1,
            "pageSize": 100,
            "isSum": True,
            "simpleVOs": [{"field": "agentId_code", "op": "eq", "value1": "KH0002"}],
        },
    )
    codes = [r["code"] for r in listed["data"]["recordList"]]
    assert again["data"]["id"] == first["data"]["id"] and codes.count(first["data"]["code"]) == 1


async def test_sales_order_whose_total_differs_from_its_lines_is_refused(bip: Bip) -> None:
    body = _order("KH0001", "WL00001")
    body["data"]["payMoney"] = 999  # type: ignore[index]
    answer = await bip.post(ORDER_SAVE, body)
    assert answer["code"] == "999" and "payMoney" in answer["message"]


async def test_sales_order_for_unknown_customer_names_agent_id(bip: Bip) -> None:
    answer = await bip.post(ORDER_SAVE, _order("NOPE", "WL00001"))
    assert answer["code"] == "999" and "agentId" in answer["message"]


async def test_sales_order_update_of_audited_order_is_refused(bip: Bip) -> None:
    saved = (await bip.post(ORDER_SAVE, _order("KH0001", "WL00001")))["data"]
    await bip.post("/yonbip/sd/voucherorder/batchaudit", {"data": [{"id": saved["id"]}]})
    update = _order("KH0001", "WL00001", qty=5)
    update["data"].update({"_status": "Update", "id": saved["id"]})  # type: ignore[union-attr]
    answer = await bip.post(ORDER_SAVE, update)
    assert answer["code"] == "999" and "已审核" in answer["message"]


async def test_sales_order_list_pages_by_pubts_then_id(bip: Bip) -> None:
    rows: list[tuple[str, int]] = []
    for index in (1, 2, 3, 4):
        body = await bip.post(
            ORDER_LIST,
            {
                "pageIndex": index,
                "pageSize": 4,
                "isSum": True,
                "simpleVOs": [{"field": "pubts", "op": "egt", "value1": "2026-01-01 00:00:00"}],
                "queryOrders": [
                    {"field": "pubts", "order": "asc"},
                    {"field": "id", "order": "asc"},
                ],
            },
        )
        rows += [(r["pubts"], r["id"]) for r in body["data"]["recordList"]]
        assert body["data"]["recordCount"] == 15
    assert rows == sorted(rows) and len(set(rows)) == 15


async def test_sales_order_list_without_is_sum_answers_one_record_per_line(bip: Bip) -> None:
    heads = await bip.post(ORDER_LIST, {"pageIndex": 1, "pageSize": 500, "isSum": True})
    lines = await bip.post(ORDER_LIST, {"pageIndex": 1, "pageSize": 500})
    assert lines["data"]["recordCount"] > heads["data"]["recordCount"]
    assert all("orderDetails_productId" in r for r in lines["data"]["recordList"])


async def test_simple_vo_on_unknown_field_is_refused_with_the_field(bip: Bip) -> None:
    body = await bip.post(ORDER_LIST, {"simpleVOs": [{"field": "nosuch", "op": "eq", "value1": 1}]})
    assert body["code"] == "999" and "nosuch" in body["message"]


async def test_detail_of_unknown_order_is_a_business_error(bip: Bip) -> None:
    body = await bip.get(ORDER_DETAIL, id="1")
    assert body["code"] == "999"


# --- persistence and faults --------------------------------------------------------------


async def test_saved_customer_survives_a_restart(tmp_path: Path) -> None:
    size = SeedSize(customers=3, materials=2, orders=1)
    context = SimulatorContext(data_dir=tmp_path)
    first = create_app(context, size=size)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=first), base_url="http://b"
    ) as c:
        bip = Bip(c, await fetch_token(c))
        await bip.post(MERCHANT_INSERT, _merchant("KH7001", key="restart-1"))
    first.app.on_shutdown[0]()  # type: ignore[attr-defined]
    second = create_app(context, size=size)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=second), base_url="http://b"
    ) as c:
        bip = Bip(c, await fetch_token(c))
        listed = await bip.post(MERCHANT_LIST, {"pageIndex": 1, "pageSize": 10, "code": "KH7001"})
        again = await bip.post(MERCHANT_INSERT, _merchant("KH7001", key="restart-1"))
    assert len(listed["data"]) == 1 and again["code"] == "200"


async def test_throttled_call_answers_310046_and_lost_reply_still_saves(tmp_path: Path) -> None:
    context = SimulatorContext(data_dir=tmp_path)
    app = create_app(context, size=SeedSize(customers=3, materials=2, orders=1))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as c:
        bip = Bip(c, await fetch_token(c))
        app.force(FaultKind.THROTTLE)
        throttled = await bip.post(MERCHANT_LIST, {"pageIndex": 1})
        app.force(FaultKind.LOST_REPLY)
        lost = await c.post(
            GATEWAY + MERCHANT_INSERT,
            params={"access_token": bip.token},
            json=_merchant("KH7002", key="lost-1"),
        )
        listed = await bip.post(MERCHANT_LIST, {"pageIndex": 1, "pageSize": 10, "code": "KH7002"})
    assert throttled["code"] == "310046"
    assert lost.status_code == 502 and len(listed["data"]) == 1


async def test_state_without_store_does_not_load(clock: StepClock) -> None:
    assert BipState(clock=clock).load() is False


async def test_per_api_quota_answers_310046_until_the_next_minute(
    bip_state: BipState, clock: StepClock
) -> None:
    app = build_app(bip_state, quota_per_min=2)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as c:
        bip = Bip(c, await fetch_token(c))
        codes = [(await bip.post(MERCHANT_LIST, {"pageIndex": 1}))["code"] for _ in range(3)]
        other_api = (await bip.post(ORDER_LIST, {"pageIndex": 1}))["code"]
        clock.advance(60)
        later = (await bip.post(MERCHANT_LIST, {"pageIndex": 1}))["code"]
    assert codes == ["200", "200", "310046"] and (other_api, later) == ("200", "200")


async def test_delete_removes_open_orders_and_refuses_audited_ones(bip: Bip) -> None:
    saved = (await bip.post(ORDER_SAVE, _order("KH0001", "WL00001")))["data"]
    audited = (await bip.post(ORDER_SAVE, _order("KH0001", "WL00001")))["data"]
    await bip.post("/yonbip/sd/voucherorder/batchaudit", {"data": [{"id": audited["id"]}]})
    answer = await bip.post(
        "/yonbip/sd/voucherorder/delete",
        {"data": {"id": [saved["id"], audited["id"]], "code": ["UO-NOPE"]}},
    )
    data = answer["data"]
    gone = await bip.get(ORDER_DETAIL, id=saved["id"])
    assert (data["sucessCount"], data["failCount"]) == (1, 2) and gone["code"] == "999"
    assert data["infos"] == [{"id": saved["id"], "code": saved["code"]}]


async def test_unaudit_reopens_an_audited_order_and_refuses_an_open_one(bip: Bip) -> None:
    saved = (await bip.post(ORDER_SAVE, _order("KH0001", "WL00001")))["data"]
    audit = await bip.post("/yonbip/sd/voucherorder/batchaudit", {"data": [{"id": saved["id"]}]})
    unaudit = await bip.post(
        "/yonbip/sd/voucherorder/batchunaudit", {"data": [{"id": saved["id"]}]}
    )
    again = await bip.post("/yonbip/sd/voucherorder/batchunaudit", {"data": [{"id": saved["id"]}]})
    status = (await bip.get(ORDER_DETAIL, id=saved["id"]))["data"]["status"]
    counts = [(a["data"]["sucessCount"], a["data"]["failCount"]) for a in (audit, unaudit, again)]
    assert counts == [(1, 0), (1, 0), (0, 1)] and status == 0
