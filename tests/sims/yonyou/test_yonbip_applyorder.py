"""The YonBIP simulator's 请购单 (applyorder) APIs and its event subscription (事件订阅),
checked with plain httpx and the formulas of the community notes (not the connector)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from erpbridge.sims._common.server import serve_app
from erpbridge.sims.yonbip import SANDBOX_APP_KEY, SANDBOX_APP_SECRET, BipSimApp

from .conftest import Bip, StepClock

SAVE = "/yonbip/scm/applyorder/singleSave_v1"
DETAIL = "/yonbip/scm/applyorder/detail"
LIST = "/yonbip/scm/applyorder/list"


def _requisition(code: str | None = "QG-T1", **extra: object) -> dict[str, object]:
    data: dict[str, object] = {
        "_status": "Insert",
        "bustype": "A25001",
        "org_code": "991",
        "vouchdate": "2026-11-05 00:00:00",
        "applyOrders": [{"product_cCode": "WL00002", "qty": 3, "requirementDate": "2026-11-20"}],
        **extra,
    }
    if code is not None:
        data["code"] = code
    return {"data": data}


async def test_save_detail_audit_close_and_refusals(bip: Bip) -> None:
    saved = await bip.post(SAVE, _requisition(resubmitCheckKey="qg-k1"))
    data = saved["data"]
    assert saved["code"] == "200" and data["code"] == "QG-T1" and data["status"] == 0  # type: ignore[index]
    ident = data["id"]  # type: ignore[index]
    again = await bip.post(SAVE, _requisition(resubmitCheckKey="qg-k1"))
    assert again["data"]["id"] == ident  # type: ignore[index]  # MDD: the first answer
    duplicate = await bip.post(SAVE, _requisition(resubmitCheckKey="qg-k2"))
    assert duplicate["code"] == "999" and "已存在" in str(duplicate["message"])
    auto = await bip.post(SAVE, _requisition(code=None))
    assert str(auto["data"]["code"]).startswith("QG20261105")  # type: ignore[index]

    detail = await bip.get(DETAIL, id=ident)
    [line] = detail["data"]["applyOrders"]  # type: ignore[index]
    assert (line["product_cCode"], line["qty"], line["rowno"]) == ("WL00002", 3, 10)
    assert line["requirementDate"] == "2026-11-20 00:00:00"
    audited = await bip.post("/yonbip/scm/applyorder/batchaudit", {"data": [{"id": ident}]})
    assert audited["data"]["sucessCount"] == 1  # type: ignore[index]
    change = await bip.post(SAVE, _requisition(_status="Update", id=ident, memo="x"))
    assert change["code"] == "999" and "已审核" in str(change["message"])
    closed = await bip.post("/yonbip/scm/applyorder/close", {"data": [{"id": ident}]})
    assert closed["data"]["sucessCount"] == 1  # type: ignore[index]
    assert (await bip.get(DETAIL, id=ident))["data"]["status"] == 2  # type: ignore[index]
    missing = await bip.get(DETAIL, id=1)
    assert missing["code"] == "999" and "不存在" in str(missing["message"])


async def test_bad_requisitions_are_refused_naming_the_field(bip: Bip) -> None:
    cases = [
        (_requisition(bustype="NOPE"), "bustype"),
        (_requisition(org_code=""), "org_code"),
        (_requisition(vouchdate="05/11/2026"), "vouchdate"),
        (_requisition(applyOrders=[]), "applyOrders"),
        (_requisition(applyOrders=[{"product_cCode": "NOPE", "qty": 1}]), "product_cCode"),
        (_requisition(applyOrders=[{"product_cCode": "WL00002", "qty": 0}]), "qty"),
        (_requisition(_status="Delete"), "_status"),
    ]
    for body, field in cases:
        answer = await bip.post(SAVE, body)
        assert answer["code"] == "999" and field in str(answer["message"]), (field, answer)


async def _saved(bip: Bip, code: str, **extra: object) -> dict[str, object]:
    answer = await bip.post(SAVE, _requisition(code, **extra))
    assert answer["code"] == "200", answer
    return answer["data"]  # type: ignore[return-value]


def _records(answer: dict[str, object]) -> list[dict[str, object]]:
    assert answer["code"] == "200", answer
    return answer["data"]["recordList"]  # type: ignore[index,no-any-return]


async def test_list_filters_by_pubts_pages_and_answers_headers_with_is_sum(
    bip: Bip, clock: StepClock
) -> None:
    early = await _saved(bip, "QG-L1")
    clock.advance(60)
    later = [await _saved(bip, f"QG-L{n}") for n in (2, 3, 4)]
    since = str(later[0]["pubts"])
    body: dict[str, object] = {
        "pageIndex": 1,
        "pageSize": 2,
        "isSum": True,
        "simpleVOs": [{"field": "pubts", "op": "egt", "value1": since}],
        "queryOrders": [{"field": "pubts", "order": "asc"}, {"field": "id", "order": "asc"}],
    }
    first = await bip.post(LIST, body)
    data = first["data"]
    assert (data["recordCount"], data["pageCount"], data["pageIndex"]) == (3, 2, 1)  # type: ignore[index]
    second = _records(await bip.post(LIST, {**body, "pageIndex": 2}))
    records = _records(first) + second
    assert [r["code"] for r in records] == ["QG-L2", "QG-L3", "QG-L4"]
    assert all("applyOrders" not in r and r["status"] == 0 and r["pubts"] for r in records)
    assert early["code"] not in {r["code"] for r in records}
    # gt one second earlier is the same read with an op the doc lists.
    older = await bip.post(LIST, {**body, "pageSize": 10, "simpleVOs": [
        {"field": "pubts", "op": "gt", "value1": str(early["pubts"])}]})  # fmt: skip
    assert [r["code"] for r in _records(older)] == ["QG-L2", "QG-L3", "QG-L4"]


async def test_list_without_is_sum_gives_one_record_per_line_and_filters(bip: Bip) -> None:
    two_lines = [{"product_cCode": "WL00002", "qty": 3}, {"product_cCode": "WL00003", "qty": 1}]
    saved = await _saved(bip, "QG-M1", applyOrders=two_lines)
    await _saved(bip, "QG-M2")
    by_code = {"pageIndex": 1, "pageSize": 50,
               "simpleVOs": [{"field": "code", "op": "rightlike", "value1": "QG-M1"}]}  # fmt: skip
    lines = _records(await bip.post(LIST, by_code))
    assert [(r["id"], r["applyorders_product_cCode"], r["applyorders_qty"]) for r in lines] == [
        (saved["id"], "WL00002", 3), (saved["id"], "WL00003", 1),
    ]  # fmt: skip
    [line] = [x for x in saved["applyOrders"] if x["product_cCode"] == "WL00003"]  # type: ignore[attr-defined]
    by_product = await bip.post(LIST, {"pageIndex": 1, "pageSize": 50, "isSum": True,
                                       "product": line["product"]})  # fmt: skip
    assert [r["code"] for r in _records(by_product)] == ["QG-M1"]
    audited = await bip.post("/yonbip/scm/applyorder/batchaudit", {"data": [{"id": saved["id"]}]})
    assert audited["data"]["sucessCount"] == 1  # type: ignore[index]
    by_status = await bip.post(LIST, {"pageIndex": 1, "pageSize": 50, "isSum": True,
                                      "simpleVOs": [{"field": "status", "op": "eq", "value1": 1}]})  # fmt: skip
    assert [(r["code"], r["status"]) for r in _records(by_status)] == [("QG-M1", 1)]


async def test_bad_list_queries_are_refused_naming_the_parameter(bip: Bip) -> None:
    cases = [
        ({"pageIndex": 1, "pageSize": 501}, "310008", "pageSize"),
        ({"pageIndex": 0, "pageSize": 10}, "310008", "pageIndex"),
        ({"pageIndex": 1, "pageSize": 10, "simpleVOs": [{"field": "nope", "value1": 1}]},
         "999", "nope"),
        ({"pageIndex": 1, "pageSize": 10, "simpleVOs": [{"field": "pubts", "op": "~"}]},
         "999", "~"),
        ({"pageIndex": 1, "pageSize": 10, "queryOrders": [{"field": "pubts", "order": "up"}]},
         "999", "order"),
    ]  # fmt: skip
    for body, code, word in cases:
        answer = await bip.post(LIST, body)
        assert answer["code"] == code and word in str(answer["message"]), (body, answer)
    wrong_method = await bip.get(LIST)
    assert wrong_method["code"] == "310405"


def _open(body: dict[str, object]) -> dict[str, object]:
    """Verify and decrypt a delivery with the notes' formulas (variant C, AES-256-CBC)."""
    text = "".join(sorted([str(body["timestamp"]), str(body["nonce"]), str(body["encrypt"])]))
    digest = hmac.new(SANDBOX_APP_SECRET.encode(), text.encode(), hashlib.sha256).digest()
    assert base64.b64encode(digest).decode() == body["signature"]
    key = base64.b64decode(SANDBOX_APP_SECRET.ljust(43, "0")[:43] + "=")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(base64.b64decode(str(body["encrypt"]))) + decryptor.finalize()
    plain = plain[: -plain[-1]]
    (size,) = struct.unpack(">I", plain[16:20])
    assert plain[20 + size :].decode() == SANDBOX_APP_KEY
    return json.loads(plain[20 : 20 + size])  # type: ignore[no-any-return]


async def test_events_are_encrypted_signed_and_sent_for_save_and_audit(
    bip: Bip, bip_app: BipSimApp
) -> None:
    received: list[dict[str, object]] = []

    async def callback(request: Request) -> PlainTextResponse:
        received.append(json.loads(await request.body()))
        return PlainTextResponse("success")

    receiver = Starlette(routes=[Route("/cb", callback, methods=["POST"])])
    with serve_app(receiver) as server:
        subscribed = await bip.client.post(
            "/sim/events", params={"access_token": bip.token}, json={"url": f"{server.base_url}/cb"}
        )
        assert subscribed.json()["data"]["url"].endswith("/cb")
        saved = await bip.post(SAVE, _requisition())
        ident = saved["data"]["id"]  # type: ignore[index]
        await bip.post("/yonbip/scm/applyorder/batchaudit", {"data": [{"id": ident}]})
        assert bip_app.events is not None
        await bip_app.events.drain()
    messages = [_open(body) for body in received]
    # Each event is its own delivery (a task per event, as independent HTTP posts): they
    # may arrive in either order; the connector orders them by the document's pubts.
    assert sorted((m["status"], m["type"], m["id"]) for m in messages) == [
        (0, "pu_applyorder_save", ident),
        (1, "pu_applyorder_audit", ident),
    ]
    assert all(m["tenantId"] == "k8x2m4q7" and m["eventId"] for m in messages)
    assert len({m["eventId"] for m in messages}) == 2


async def test_a_refusing_callback_gets_the_same_event_again(bip: Bip, bip_app: BipSimApp) -> None:
    answers = iter([500, 200])
    seen: list[str] = []

    async def callback(request: Request) -> PlainTextResponse:
        seen.append(_open(json.loads(await request.body()))["eventId"])  # type: ignore[arg-type]
        return PlainTextResponse("x", status_code=next(answers))

    receiver = Starlette(routes=[Route("/cb", callback, methods=["POST"])])
    assert bip_app.events is not None
    with serve_app(receiver) as server:
        await bip.client.post(
            "/sim/events", params={"access_token": bip.token}, json={"url": f"{server.base_url}/cb"}
        )
        await bip.post(SAVE, _requisition())
        await bip_app.events.drain()
    assert len(seen) == 2 and seen[0] == seen[1]
    assert bip_app.events.deliveries[-1].delivered and bip_app.events.deliveries[-1].attempts == 2
