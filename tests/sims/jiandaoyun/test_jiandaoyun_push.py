"""数据推送 from the simulator to a real HTTP receiver on 127.0.0.1.

The receiver checks nothing itself; each test recomputes the signature exactly as the
official demo does (``jiandaoyun/webhook-demo-python`` server.py)::

    sha1(':'.join([nonce, payload, secret, timestamp])).hexdigest()

with ``nonce`` and ``timestamp`` from the query string and ``payload`` the raw body.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from erpbridge.sims._common.server import RunningServer, serve_app
from erpbridge.sims.jiandaoyun import JdySimApp

from .conftest import APP_ID, CUST_CODE, CUST_NAME, CUSTOMER

SECRET = "test-push-secret-7f3a"


@dataclass
class Received:
    query: dict[str, str]
    headers: dict[str, str]
    raw: bytes


@dataclass
class Receiver:
    """An ASGI receiver that stores what it got and answers from a script of statuses."""

    statuses: list[int] = field(default_factory=list)
    got: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        raw = await request.body()
        with self.lock:
            self.got.append(
                Received(
                    {k: v[0] for k, v in parse_qs(urlsplit(str(request.url)).query).items()},
                    {k.lower(): v for k, v in request.headers.items()},
                    raw,
                )
            )
            status = self.statuses.pop(0) if self.statuses else 200
        await PlainTextResponse("success", status_code=status)(scope, receive, send)


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def receiver_server(receiver: Receiver) -> Iterator[RunningServer]:
    with serve_app(receiver) as server:
        yield server


def demo_signature(received: Received, secret: str) -> str:
    payload = received.raw.decode("utf-8")
    content = ":".join([received.query["nonce"], payload, secret, received.query["timestamp"]])
    return hashlib.sha1(content.encode("utf-8")).hexdigest()  # noqa: S324 - the vendor scheme


async def configure_push(
    http: httpx.AsyncClient, url: str, secret: str = SECRET, **more: object
) -> None:
    answer = await http.post(
        "http://jdy.test/sim/push", json={"url": url, "secret": secret, **more}
    )
    assert answer.status_code == 200, answer.text


async def post(http: httpx.AsyncClient, path: str, **body: object) -> httpx.Response:
    answer = await http.post(f"/v5/{path}", json=body)
    assert answer.status_code == 200, answer.text
    return answer


async def test_create_update_delete_push_signed_payloads(
    jdy_http: httpx.AsyncClient,
    jdy_app: JdySimApp,
    receiver: Receiver,
    receiver_server: RunningServer,
) -> None:
    await configure_push(jdy_http, f"{receiver_server.base_url}/jdy/hook")
    data = {CUST_CODE: {"value": "P001"}, CUST_NAME: {"value": "推送测试有限公司"}}
    created = (
        await post(jdy_http, "app/entry/data/create", app_id=APP_ID, entry_id=CUSTOMER, data=data)
    ).json()["data"]
    updated = (
        await post(
            jdy_http,
            "app/entry/data/update",
            app_id=APP_ID,
            entry_id=CUSTOMER,
            data_id=created["_id"],
            data={CUST_NAME: {"value": "推送测试（改名）"}},
        )
    ).json()["data"]
    await post(
        jdy_http, "app/entry/data/delete", app_id=APP_ID, entry_id=CUSTOMER, data_id=created["_id"]
    )
    await jdy_app.pusher.drain()

    # Deliveries run concurrently; the product does not promise their order either.
    bodies = {json.loads(r.raw)["op"]: json.loads(r.raw)["data"] for r in receiver.got}
    assert len(receiver.got) == 3
    assert bodies["data_create"] == created
    assert bodies["data_update"] == updated
    assert bodies["data_remove"]["_id"] == created["_id"]
    for received in receiver.got:
        assert received.headers["x-jdy-signature"] == demo_signature(received, SECRET)
        assert received.query["timestamp"].isdigit()
        assert received.headers["content-type"].startswith("application/json")
    assert len({r.headers["x-jdy-deliverid"] for r in receiver.got}) == 3


async def test_payload_keeps_chinese_text_unescaped(
    jdy_http: httpx.AsyncClient,
    jdy_app: JdySimApp,
    receiver: Receiver,
    receiver_server: RunningServer,
) -> None:
    await configure_push(jdy_http, f"{receiver_server.base_url}/hook")
    data = {CUST_NAME: {"value": "简道云客户"}}
    await post(jdy_http, "app/entry/data/create", app_id=APP_ID, entry_id=CUSTOMER, data=data)
    await jdy_app.pusher.drain()
    assert "简道云客户".encode() in receiver.got[0].raw


async def test_failed_delivery_is_retried_with_same_deliver_id_and_fresh_signature(
    jdy_http: httpx.AsyncClient,
    jdy_app: JdySimApp,
    receiver: Receiver,
    receiver_server: RunningServer,
) -> None:
    receiver.statuses = [500, 401]
    await configure_push(jdy_http, f"{receiver_server.base_url}/hook")
    await post(
        jdy_http,
        "app/entry/data/create",
        app_id=APP_ID,
        entry_id=CUSTOMER,
        data={CUST_CODE: {"value": "P002"}},
    )
    await jdy_app.pusher.drain()

    assert len(receiver.got) == 3
    assert len({r.headers["x-jdy-deliverid"] for r in receiver.got}) == 1
    assert len({r.query["nonce"] for r in receiver.got}) == 3
    assert all(r.headers["x-jdy-signature"] == demo_signature(r, SECRET) for r in receiver.got)
    assert jdy_app.pusher.deliveries[-1].delivered


async def test_delivery_gives_up_after_four_attempts(
    jdy_http: httpx.AsyncClient,
    jdy_app: JdySimApp,
    receiver: Receiver,
    receiver_server: RunningServer,
) -> None:
    receiver.statuses = [503] * 10
    await configure_push(jdy_http, f"{receiver_server.base_url}/hook")
    await post(
        jdy_http,
        "app/entry/data/create",
        app_id=APP_ID,
        entry_id=CUSTOMER,
        data={CUST_CODE: {"value": "P003"}},
    )
    await jdy_app.pusher.drain()
    status = (await jdy_http.get("http://jdy.test/sim/push")).json()
    assert len(receiver.got) == 4
    assert status["deliveries"][-1] | {"deliver_id": ""} == {
        "deliver_id": "",
        "op": "data_create",
        "data_id": status["deliveries"][-1]["data_id"],
        "attempts": 4,
        "status": 503,
        "delivered": False,
    }
    assert status["has_secret"] is True and SECRET not in json.dumps(status)


async def test_batch_writes_do_not_push(
    jdy_http: httpx.AsyncClient,
    jdy_app: JdySimApp,
    receiver: Receiver,
    receiver_server: RunningServer,
) -> None:
    await configure_push(jdy_http, f"{receiver_server.base_url}/hook")
    ids = (
        await post(
            jdy_http,
            "app/entry/data/batch_create",
            app_id=APP_ID,
            entry_id=CUSTOMER,
            data_list=[{CUST_CODE: {"value": "BP1"}}],
        )
    ).json()["success_ids"]
    await post(
        jdy_http,
        "app/entry/data/batch_update",
        app_id=APP_ID,
        entry_id=CUSTOMER,
        data_ids=ids,
        data={CUST_NAME: {"value": "x"}},
    )
    await post(
        jdy_http, "app/entry/data/batch_delete", app_id=APP_ID, entry_id=CUSTOMER, data_ids=ids
    )
    await jdy_app.pusher.drain()
    assert receiver.got == []


async def test_only_chosen_events_are_pushed(
    jdy_http: httpx.AsyncClient,
    jdy_app: JdySimApp,
    receiver: Receiver,
    receiver_server: RunningServer,
) -> None:
    await configure_push(jdy_http, f"{receiver_server.base_url}/hook", events=["data_remove"])
    created = (
        await post(
            jdy_http,
            "app/entry/data/create",
            app_id=APP_ID,
            entry_id=CUSTOMER,
            data={CUST_CODE: {"value": "P004"}},
        )
    ).json()["data"]
    await post(
        jdy_http, "app/entry/data/delete", app_id=APP_ID, entry_id=CUSTOMER, data_id=created["_id"]
    )
    await jdy_app.pusher.drain()
    assert [json.loads(r.raw)["op"] for r in receiver.got] == ["data_remove"]


async def test_without_a_secret_no_signature_is_sent(
    jdy_http: httpx.AsyncClient,
    jdy_app: JdySimApp,
    receiver: Receiver,
    receiver_server: RunningServer,
) -> None:
    await configure_push(jdy_http, f"{receiver_server.base_url}/hook", secret="")
    await post(
        jdy_http,
        "app/entry/data/create",
        app_id=APP_ID,
        entry_id=CUSTOMER,
        data={CUST_CODE: {"value": "P005"}},
    )
    await jdy_app.pusher.drain()
    assert "x-jdy-signature" not in receiver.got[0].headers
    assert receiver.got[0].headers["x-jdy-deliverid"]


@pytest.mark.parametrize(
    "body",
    [{"url": "ftp://x"}, {"url": "http://x", "events": ["data_recover"]}, {"url": 5}],
    ids=["bad-scheme", "unknown-event", "url-not-string"],
)
async def test_bad_push_settings_are_refused(
    jdy_http: httpx.AsyncClient, body: dict[str, object]
) -> None:
    answer = await jdy_http.post("http://jdy.test/sim/push", json=body)
    assert (answer.status_code, answer.json()["code"]) == (400, 1)
