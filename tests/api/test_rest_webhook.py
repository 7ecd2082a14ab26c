"""A generic REST API's signed deliveries through ``/hooks/<connection>`` into the store."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from pathlib import Path

import httpx
import sqlalchemy as sa

from erpbridge.api.app import create_app
from erpbridge.config import load_project_text
from erpbridge.engine.clock import ManualClock
from erpbridge.engine.hub import Hub
from erpbridge.engine.plans import build_plans
from erpbridge.engine.runtime import Runtime
from erpbridge.engine.worker import Worker
from erpbridge.spi import ConnectorRegistry, Limits
from erpbridge.store import open_store
from tests.engine.memory import MemoryConnector, MemorySystem, memory_spec

SECRET = "whsec-rest-0123456789"

PROJECT = """\
connections:
  shop:
    type: rest
    base_url: https://shop.example
    objects:
      Customer: {path: /customers, stamp_field: updated_at}
    webhook:
      secret: ${env:SHOP_HOOK_SECRET}
      signature_header: X-Shop-Signature
      signature_prefix: "sha256="
      object: Customer
      record_path: data
      event_path: event
      delete_events: [customer.deleted]
  erp: {type: memory}
flows:
  customers:
    source: {connection: shop, object: Customer, trigger: {webhook: true}}
    target: {connection: erp, object: Customer, write: upsert, key: Name}
    map:
      Name: source.name
"""


def _signed(message: object, secret: str = SECRET) -> tuple[dict[str, str], bytes]:
    body = json.dumps(message, ensure_ascii=False).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Shop-Signature": "sha256=" + digest, "Content-Type": "application/json"}, body


async def test_rest_deliveries_are_verified_queued_written_and_bad_ones_refused(
    tmp_path: Path, store_url: str
) -> None:
    registry = ConnectorRegistry()
    registry.register(memory_spec())
    project = load_project_text(
        PROJECT,
        path=tmp_path / "erpbridge.yaml",
        registry=registry,
        environ={"SHOP_HOOK_SECRET": SECRET},
    )
    erp = MemorySystem("erp")
    clock = ManualClock()
    runtime = Runtime(project, registry, clock, connectors={"erp": MemoryConnector(erp, Limits())})
    store = open_store(store_url)
    plans = build_plans(project)
    app = create_app(Hub(project, store, runtime, plans, clock=clock))
    customer = {"id": "C1", "name": "华北机械", "updated_at": "2026-11-25T08:00:00Z"}
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://hub"
        ) as client:
            headers, body = _signed({"event": "customer.updated", "data": customer})
            good = await client.post("/hooks/shop", headers=headers, content=body)
            again = await client.post("/hooks/shop", headers=headers, content=body)
            forged = await client.post(
                "/hooks/shop", headers=_signed({}, "wrong-secret")[0], content=body
            )
            bad_headers, bad_body = _signed({"data": [{"name": "no id"}]})
            malformed = await client.post("/hooks/shop", headers=bad_headers, content=bad_body)
        with store.connect() as conn:
            jobs = conn.execute(sa.text("select source_id, trigger from jobs")).all()
        worker = Worker(store, runtime, plans, clock=clock, rng=random.Random(1))
        while await worker.run_once():
            pass
        await runtime.aclose()
    finally:
        store.dispose()

    assert good.status_code == 200 and good.json() == {"queued": 1, "duplicates": 0}
    assert again.json() == {"queued": 0, "duplicates": 1}
    assert forged.status_code == 401
    assert "X-Shop-Signature does not match the body" in forged.json()["error"]
    assert SECRET not in forged.text
    assert malformed.status_code == 400
    assert "no record id in 'id'" in malformed.json()["error"]
    assert [tuple(j) for j in jobs] == [("C1", "webhook")]
    assert [r.fields["Name"] for r in erp.all("Customer")] == ["华北机械"]
