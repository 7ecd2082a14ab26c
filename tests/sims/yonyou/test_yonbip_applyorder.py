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

from .conftest import Bip

SAVE = "/yonbip/scm/applyorder/singleSave_v1"
DETAIL = "/yonbip/scm/applyorder/detail"


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
    assert [(m["type"], m["id"], m["status"]) for m in messages] == [
        ("pu_applyorder_save", ident, 0),
        ("pu_applyorder_audit", ident, 1),
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
