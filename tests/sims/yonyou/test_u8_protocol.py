"""The U8 OpenAPI simulator against the public samples (reference §A), with plain httpx."""

from __future__ import annotations

from pathlib import Path

import httpx

from erpbridge.sims._common.faults import FaultKind
from erpbridge.sims._common.spec import SimulatorContext
from erpbridge.sims.yonyou import (
    SANDBOX_APP_KEY,
    SANDBOX_FROM_ACCOUNT,
    SeedSize,
    U8State,
    build_app,
    create_app,
)

from .conftest import U8, StepClock, fetch_u8_token


def _order(cust: str = "C0001", inv: str = "000001", qty: float = 10) -> dict[str, object]:
    return {
        "saleorder": {
            "businesstype": "普通销售",
            "typecode": "1",
            "custcode": cust,
            "deptcode": "01",
            "date": "2026-01-05",
            "entry": [
                {
                    "inventorycode": inv,
                    "quantity": qty,
                    "taxunitprice": 113,
                    "taxrate": 13,
                    "bgift": 0,
                    "rowno": 1,
                }
            ],
        }
    }


def _customer(code: str, sort: str = "01") -> dict[str, object]:
    return {
        "customer": {
            "code": code,
            "name": "无锡测试机械有限公司",
            "abbrname": "测试机械",
            "sort_code": sort,
        }
    }


async def test_token_answers_errcode_0_with_token_id(u8_raw: httpx.AsyncClient) -> None:
    answer = await u8_raw.get(
        "/system/token",
        params={
            "from_account": SANDBOX_FROM_ACCOUNT,
            "app_key": SANDBOX_APP_KEY,
            "app_secret": "x",
        },
    )
    token = await fetch_u8_token(u8_raw)
    assert answer.json()["errcode"] != "0" and "x" not in answer.json()["errmsg"].split()
    assert len(token) == 32


async def test_business_call_needs_a_valid_token_and_to_account(u8: U8, clock: StepClock) -> None:
    no_tenant = await u8.get("/api/customer/batch_get", to_account="nobody")
    clock.advance(7201)
    expired = await u8.get("/api/customer/batch_get")
    assert (no_tenant["errcode"], expired["errcode"]) == ("20004", "20002")


async def test_customer_pages_report_counts(u8: U8) -> None:
    first = await u8.get("/api/customer/batch_get", page_index=1, rows_per_page=5)
    last = await u8.get("/api/customer/batch_get", page_index=3, rows_per_page=5)
    assert (first["row_count"], first["page_count"]) == (12, 3)
    assert [c["code"] for c in first["customer"]] == [f"C{n:04d}" for n in range(1, 6)]
    assert len(last["customer"]) == 2


async def test_customer_code_range_and_get(u8: U8) -> None:
    ranged = await u8.get("/api/customer/batch_get", code_begin="C0003", code_end="C0005")
    one = await u8.get("/api/customer/get", id="C0004")
    assert [c["code"] for c in ranged["customer"]] == ["C0003", "C0004", "C0005"]
    assert one["customer"]["code"] == "C0004" and one["customer"]["name"]


async def test_customer_add_with_issued_tradeid_answers_the_code(u8: U8) -> None:
    tradeid = await u8.tradeid()
    answer = await u8.post("/api/customer/add", _customer("C9001"), tradeid=tradeid)
    assert answer == {"errcode": "0", "errmsg": "", "id": "C9001", "tradeid": tradeid}


async def test_repeated_tradeid_answers_the_first_result_and_writes_once(u8: U8) -> None:
    first = await u8.post("/api/saleorder/add", _order(), tradeid="crm-job-000001")
    again = await u8.post("/api/saleorder/add", _order(), tradeid="crm-job-000001")
    listed = await u8.get("/api/saleorderlist/batch_get", rows_per_page=500)
    assert first == again and first["errcode"] == "0"
    assert [o["code"] for o in listed["saleorderlist"]].count(first["id"]) == 1


async def test_write_without_tradeid_is_refused(u8: U8) -> None:
    answer = await u8.post("/api/customer/add", _customer("C9002"))
    assert answer["errcode"] == "20005" and "tradeid" in answer["errmsg"]


async def test_refused_write_can_be_fixed_and_resent_with_the_same_tradeid(u8: U8) -> None:
    bad = await u8.post("/api/customer/add", _customer("C9003", sort="99"), tradeid="job-fix-0001")
    good = await u8.post("/api/customer/add", _customer("C9003"), tradeid="job-fix-0001")
    assert bad["errcode"] == "30001" and "sort_code" in bad["errmsg"] and good["errcode"] == "0"


async def test_duplicate_customer_code_is_refused(u8: U8) -> None:
    answer = await u8.post("/api/customer/add", _customer("C0001"), tradeid="job-dup-0001")
    assert answer["errcode"] == "30003" and "C0001" in answer["errmsg"]


async def test_sale_order_add_computes_amounts_and_get_returns_entry(u8: U8) -> None:
    added = await u8.post("/api/saleorder/add", _order(qty=10), tradeid="job-so-000001")
    order = (await u8.get("/api/saleorder/get", id=added["id"]))["saleorder"]
    line = order["entry"][0]
    assert (line["sum"], line["money"], line["tax"]) == (1130.0, 1000.0, 130.0)
    assert order["state"] == "开立" and order["custcode"] == "C0001"


async def test_sale_order_with_unknown_inventory_names_the_line(u8: U8) -> None:
    answer = await u8.post("/api/saleorder/add", _order(inv="NOPE"), tradeid="job-so-000002")
    assert answer["errcode"] == "30001" and "inventorycode" in answer["errmsg"]


async def test_sale_order_list_filters_by_timestamp_in_ts_order(u8: U8, clock: StepClock) -> None:
    clock.advance(120)
    added = await u8.post("/api/saleorder/add", _order(), tradeid="job-so-000003")
    every = await u8.get("/api/saleorderlist/batch_get", rows_per_page=500)
    stamp = next(o["ts"] for o in every["saleorderlist"] if o["code"] == added["id"])
    later = await u8.get("/api/saleorderlist/batch_get", timestamp_begin=stamp, rows_per_page=50)
    assert [o["code"] for o in later["saleorderlist"]] == [added["id"]]


async def test_verify_audits_an_open_order_once(u8: U8) -> None:
    added = await u8.post("/api/saleorder/add", _order(), tradeid="job-so-000004")
    body = {"saleorder": {"voucher_code": added["id"]}}
    first = await u8.post("/api/saleorder/verify", body, tradeid="job-vf-000001")
    second = await u8.post("/api/saleorder/verify", body, tradeid="job-vf-000002")
    assert first["errcode"] == "0" and second["errcode"] == "30001"


async def test_inventory_and_current_stock(u8: U8) -> None:
    items = await u8.get("/api/inventory/batch_get", rows_per_page=100)
    stock = await u8.get(
        "/api/currentstock/batch_get", invcode_begin="000002", invcode_end="000002"
    )
    assert len(items["inventory"]) == 8
    assert {s["whcode"] for s in stock["currentstock"]} == {"CK01", "CK02", "CK03"}


async def test_unknown_api_is_404_and_bad_page_index_is_a_param_error(u8: U8) -> None:
    missing = await u8.client.get("/api/nothing/get", params=u8.auth())
    bad = await u8.get("/api/customer/batch_get", page_index="x")
    assert missing.status_code == 404 and bad["errcode"] == "20001"


async def test_async_write_answers_a_url_that_gives_the_result(u8_state: U8State) -> None:
    app = build_app(u8_state, base_url="http://u8.test", async_writes=True)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://u8.test"
    ) as c:
        caller = U8(c, await fetch_u8_token(c))
        first = await caller.post("/api/customer/add", _customer("C9101"), tradeid="job-async-01")
        result = (await c.get(str(first["url"]))).json()
    assert "url" in first and result["id"] == "C9101" and result["tradeid"] == "job-async-01"


async def test_lost_reply_write_took_effect_and_survives_restart(tmp_path: Path) -> None:
    context = SimulatorContext(data_dir=tmp_path)
    size = SeedSize(customers=2, inventories=2, orders=1)
    app = create_app(context, size=size)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://u") as c:
        caller = U8(c, await fetch_u8_token(c))
        app.force(FaultKind.LOST_REPLY)
        lost = await c.post(
            "/api/customer/add", params=caller.auth(tradeid="job-lost-01"), json=_customer("C9201")
        )
    app.app.on_shutdown[0]()  # type: ignore[attr-defined]
    again = create_app(context, size=size)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=again), base_url="http://u"
    ) as c:
        caller = U8(c, await fetch_u8_token(c))
        repeat = await caller.post("/api/customer/add", _customer("C9201"), tradeid="job-lost-01")
        got = await caller.get("/api/customer/get", id="C9201")
    assert lost.status_code == 502 and repeat["errcode"] == "0" and got["errcode"] == "0"


async def test_sale_order_state_moves_through_verify_close_open_unverify(u8: U8) -> None:
    added = await u8.post("/api/saleorder/add", _order(), tradeid="job-st-000001")
    body = {"saleorder": {"voucher_code": added["id"]}}
    steps = []
    for n, action in enumerate(["verify", "close", "unverify", "open", "unverify"]):
        answer = await u8.post(f"/api/saleorder/{action}", body, tradeid=f"job-st-act-{n:03d}")
        state = (await u8.get("/api/saleorder/get", id=added["id"]))["saleorder"]["state"]
        steps.append((answer["errcode"], state))
    assert steps == [
        ("0", "审核"),
        ("0", "关闭"),
        ("30001", "关闭"),
        ("0", "审核"),
        ("0", "开立"),
    ]
