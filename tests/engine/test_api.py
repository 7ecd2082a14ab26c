from __future__ import annotations

from dataclasses import replace

import httpx
import pytest

from erpbridge.api.app import create_app
from erpbridge.engine.hub import Hub
from erpbridge.engine.plans import build_plans
from tests.engine.conftest import Harness
from tests.engine.memory import signed_webhook


@pytest.fixture
def hub(harness: Harness) -> Hub:
    plans = build_plans(harness.project)
    # the customers flow also takes webhooks in these tests
    customers = plans["customers"].spec
    trigger = customers.source.trigger.model_copy(update={"webhook": True})
    source = customers.source.model_copy(update={"trigger": trigger})
    plans["customers"] = replace(
        plans["customers"], spec=customers.model_copy(update={"source": source})
    )
    return Hub(harness.project, harness.store, harness.runtime, plans, clock=harness.clock)


@pytest.fixture
def client(hub: Hub) -> httpx.AsyncClient:
    app = create_app(hub, max_body_bytes=2000)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub")


async def test_signed_delivery_is_committed_then_acknowledged(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    headers, body = signed_webhook("Account", [("A1", "v1"), ("A2", "v1")])
    answer = await client.post("/hooks/crm", headers=headers, content=body)
    assert answer.status_code == 200 and answer.json() == {"queued": 2, "duplicates": 0}
    assert harness.rows("select source_id, trigger, state from jobs order by id") == [
        ("A1", "webhook", "queued"),
        ("A2", "webhook", "queued"),
    ]


async def test_a_delivery_that_queues_jobs_wakes_the_workers(
    client: httpx.AsyncClient, hub: Hub
) -> None:
    headers, body = signed_webhook("Account", [("A1", "v1")])
    await client.post("/hooks/crm", headers=headers, content=body)
    assert hub.wake.is_set()
    hub.wake.clear()
    await client.post("/hooks/crm", headers=headers, content=body)  # a duplicate: no job
    assert not hub.wake.is_set()


async def test_duplicate_delivery_is_acknowledged_and_not_queued_again(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    headers, body = signed_webhook("Account", [("A1", "v1")])
    await client.post("/hooks/crm", headers=headers, content=body)
    again = await client.post("/hooks/crm", headers=headers, content=body)
    assert again.json() == {"queued": 0, "duplicates": 1}
    assert harness.rows("select count(*) from jobs") == [(1,)]


@pytest.mark.parametrize(
    ("path", "headers", "body", "status", "reason"),
    [
        ("/hooks/nope", {}, b"{}", 404, "unknown connection 'nope'"),
        (
            "/hooks/crm",
            {"x-signature": "0" * 64},
            b'{"object": "Account", "changes": []}',
            401,
            "bad signature",
        ),
        ("/hooks/crm", None, b"not json", 400, "malformed delivery"),
        ("/hooks/crm", {}, b"x" * 5000, 413, "body larger than 2000 bytes"),
    ],
)
async def test_bad_deliveries_get_a_clear_4xx_and_store_nothing(
    client: httpx.AsyncClient,
    harness: Harness,
    path: str,
    headers: dict[str, str] | None,
    body: bytes,
    status: int,
    reason: str,
) -> None:
    if headers is None:  # correctly signed garbage
        import hashlib
        import hmac

        from tests.engine.memory import WEBHOOK_SECRET

        headers = {"x-signature": hmac.new(WEBHOOK_SECRET, body, hashlib.sha256).hexdigest()}
    answer = await client.post(path, headers=headers, content=body)
    assert answer.status_code == status
    assert reason in answer.json()["error"]
    assert harness.rows("select count(*) from jobs") == [(0,)]


async def test_delivery_for_an_object_no_flow_takes_is_400(client: httpx.AsyncClient) -> None:
    headers, body = signed_webhook("Contact", [("C1", "v1")])
    answer = await client.post("/hooks/crm", headers=headers, content=body)
    assert answer.status_code == 400
    assert "no flow takes webhooks of crm for Contact" in answer.json()["error"]


async def test_health_ready_and_metrics(client: httpx.AsyncClient, harness: Harness) -> None:
    headers, body = signed_webhook("Account", [("A1", "v1")])
    await client.post("/hooks/crm", headers=headers, content=body)
    assert (await client.get("/healthz")).json()["status"] == "ok"
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    text = (await client.get("/metrics")).text
    assert 'erpbridge_queue_jobs{flow="customers",state="queued"} 1.0' in text
    assert 'erpbridge_intake_total{flow="customers",result="queued",trigger="webhook"} 1.0' in text
