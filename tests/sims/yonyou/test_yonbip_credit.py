"""The YonBIP simulator's credit stand-in (NOT a Yonyou API) and its order delivery state.

Credit: a read-only projection at ``/yonbip/erpbridge/credit/list`` (erpbridge's path,
reference §B3 has no credit API); the limit is set through the simulator control
``/sim/credit``, credit used follows the customer's audited orders. Delivery: the control
``/sim/deliver`` marks an audited order 已发货, which YonBIP then refuses to un-audit.
"""

from __future__ import annotations

import httpx

from erpbridge.sims.yonbip import BipState

from .conftest import Bip

CREDIT = "/yonbip/erpbridge/credit/list"
ORDER_SAVE = "/yonbip/sd/voucherorder/singleSave"


async def _control(bip: Bip, path: str, body: object) -> dict[str, object]:
    answer = await bip.client.post(path, params={"access_token": bip.token}, json=body)
    return answer.json()  # type: ignore[no-any-return]


async def _order(bip: Bip, agent: str, qty: int) -> int:
    saved = await bip.post(
        ORDER_SAVE,
        {
            "data": {
                "_status": "Insert",
                "salesOrgId": "991",
                "transactionTypeId": "SO01",
                "vouchdate": "2026-11-05 00:00:00",
                "agentId": agent,
                "payMoney": 113 * qty,
                "orderDetails": [
                    {
                        "productId": "WL00001",
                        "qty": qty,
                        "oriTaxUnitPrice": 113,
                        "oriSum": 113 * qty,
                    }
                ],
            }
        },
    )
    assert saved["code"] == "200", saved
    return int(saved["data"]["id"])  # type: ignore[index]


async def _credit(bip: Bip, code: str) -> dict[str, object]:
    answer = await bip.post(
        CREDIT, {"simpleVOs": [{"field": "customerCode", "op": "eq", "value1": code}]}
    )
    assert answer["code"] == "200", answer
    [row] = answer["data"]["recordList"]  # type: ignore[index]
    return row  # type: ignore[no-any-return]


async def test_seeded_credit_is_listed_in_pubts_order_and_pages(bip: Bip) -> None:
    first = await bip.post(CREDIT, {"pageIndex": 1, "pageSize": 4})
    data = first["data"]
    assert first["code"] == "200" and data["recordCount"] == 6  # type: ignore[index]
    rows = data["recordList"]  # type: ignore[index]
    assert len(rows) == 4
    stamps = [(r["pubts"], r["id"]) for r in rows]
    assert stamps == sorted(stamps)
    for row in rows:
        assert row["creditAvailable"] == round(row["creditLimit"] - row["creditUsed"], 2)
        assert row["creditLimit"] > row["creditUsed"] and row["currency"] == "CNY"
    second = await bip.post(CREDIT, {"pageIndex": 2, "pageSize": 4})
    assert len(second["data"]["recordList"]) == 2  # type: ignore[index]


async def test_credit_used_follows_audited_orders_and_moves_pubts(
    bip: Bip, bip_state: BipState
) -> None:
    set_limit = await _control(bip, "/sim/credit", {"customer": "KH0002", "creditLimit": 5000})
    assert set_limit["code"] == "200", set_limit
    before = await _credit(bip, "KH0002")
    used = before["creditUsed"]
    assert before["creditAvailable"] == round(5000 - used, 2)  # type: ignore[operator]

    order = await _order(bip, "KH0002", 10)  # 1130 元, open: no credit used yet
    assert (await _credit(bip, "KH0002"))["creditUsed"] == used
    bip_state.clock.advance(2)  # type: ignore[attr-defined]
    audited = await bip.post("/yonbip/sd/voucherorder/batchaudit", {"data": [{"id": order}]})
    assert audited["data"]["sucessCount"] == 1  # type: ignore[index]
    after = await _credit(bip, "KH0002")
    assert after["creditUsed"] == round(used + 1130, 2)  # type: ignore[operator]
    assert after["pubts"] > before["pubts"]  # type: ignore[operator]
    newer = await bip.post(
        CREDIT, {"simpleVOs": [{"field": "pubts", "op": "egt", "value1": after["pubts"]}]}
    )
    assert [r["customerCode"] for r in newer["data"]["recordList"]] == ["KH0002"]  # type: ignore[index]

    await bip.post("/yonbip/sd/voucherorder/batchunaudit", {"data": [{"id": order}]})
    assert (await _credit(bip, "KH0002"))["creditUsed"] == used


async def test_credit_is_read_only_and_bad_limits_are_refused(bip: Bip) -> None:
    # No save API on the gateway for the stand-in: only its list is registered.
    save = await bip.client.post(
        "/iuap-api-gateway/yonbip/erpbridge/credit/save",
        params={"access_token": bip.token},
        json={"data": {}},
    )
    assert save.status_code == 404 and save.json()["code"] == "310404"
    unknown = await _control(bip, "/sim/credit", {"customer": "NOPE", "creditLimit": 1})
    assert unknown["code"] == "999" and "NOPE" in str(unknown["message"])
    for bad in ("abc", -1, True, 10**16):
        answer = await _control(bip, "/sim/credit", {"customer": "KH0001", "creditLimit": bad})
        assert answer["code"] == "999" and "creditLimit" in str(answer["message"]), bad
    bad_field = await bip.post(CREDIT, {"simpleVOs": [{"field": "nope", "value1": 1}]})
    assert bad_field["code"] == "999" and "nope" in str(bad_field["message"])


async def test_controls_need_a_token_and_post(bip_raw: httpx.AsyncClient, bip: Bip) -> None:
    no_token = await bip_raw.post("/sim/credit", json={"customer": "KH0001", "creditLimit": 1})
    assert no_token.json()["code"] == "310001"
    wrong = await bip_raw.get("/sim/credit", params={"access_token": bip.token})
    assert wrong.status_code == 405
    missing = await _control(bip, "/sim/nothing", {})
    assert missing["code"] == "310404"


async def test_delivered_order_cannot_be_unaudited_or_deleted(bip: Bip) -> None:
    order = await _order(bip, "KH0003", 2)
    not_audited = await _control(bip, "/sim/deliver", {"id": order})
    assert not_audited["code"] == "999" and "未审核" in str(not_audited["message"])
    await bip.post("/yonbip/sd/voucherorder/batchaudit", {"data": [{"id": order}]})
    delivered = await _control(bip, "/sim/deliver", {"id": order})
    assert delivered["data"]["nextStatusName"] == "已发货"  # type: ignore[index]

    refused = await bip.post("/yonbip/sd/voucherorder/batchunaudit", {"data": [{"id": order}]})
    data = refused["data"]
    assert refused["code"] == "200" and data["failCount"] == 1  # type: ignore[index]
    assert "已发货" in data["messages"][0] and "不能弃审" in data["messages"][0]  # type: ignore[index]
    deleted = await bip.post("/yonbip/sd/voucherorder/delete", {"data": {"id": [order]}})
    assert deleted["data"]["failCount"] == 1  # type: ignore[index]
    detail = await bip.get("/yonbip/sd/voucherorder/detail", id=order)
    assert (detail["data"]["status"], detail["data"]["nextStatusName"]) == (1, "已发货")  # type: ignore[index]
