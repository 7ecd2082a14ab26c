"""Jiandaoyun 数据推送 into the hub: the simulator signs with nonce and timestamp in the
URL's query string; the receiver must hand them to the connector to verify the signature."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from erpbridge.api.app import create_app
from erpbridge.config import load_project_text
from erpbridge.engine.clock import SystemClock
from erpbridge.engine.hub import Hub
from erpbridge.engine.plans import build_plans
from erpbridge.engine.runtime import Runtime
from erpbridge.engine.worker import Worker
from erpbridge.sims._common.server import serve_app
from erpbridge.sims.sandbox import run_sandbox
from erpbridge.spi import ConnectorRegistry, Limits
from erpbridge.store import open_store
from tests.engine.memory import MemoryConnector, MemorySystem, memory_spec

pytestmark = pytest.mark.slow

PROJECT = """\
connections:
  jdy:
    type: jiandaoyun
    base_url: ${env:JIANDAOYUN_BASE_URL}
    api_key: ${env:JIANDAOYUN_API_KEY}
    app_id: ${env:JIANDAOYUN_APP_ID}
    push_secret: ${env:JIANDAOYUN_PUSH_SECRET}
  erp: {type: memory}
flows:
  customers:
    entity: customer
    source: {connection: jdy, object: 客户, trigger: {webhook: true}}
    target: {connection: erp, object: Customer, write: upsert, key: Name}
    map:
      Name: source["客户名称"]
aliases:
  客户名称: _widget_1615777000102
"""


async def test_signed_push_is_verified_queued_and_written(tmp_path: Path) -> None:
    with run_sandbox(tmp_path / "sandbox", only=["jiandaoyun"]) as running:
        entry = running["jiandaoyun"].entry
        environ = {f"JIANDAOYUN_{k.upper()}": str(v) for k, v in entry.items()}
        registry = ConnectorRegistry()
        registry.register(memory_spec())
        project = load_project_text(
            PROJECT, path=tmp_path / "erpbridge.yaml", registry=registry, environ=environ
        )
        erp = MemorySystem("erp")
        runtime = Runtime(project, registry, connectors={"erp": MemoryConnector(erp, Limits())})
        store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
        plans = build_plans(project)
        # The receiver runs in the server's own event loop, so it gets its own runtime.
        receiver_runtime = Runtime(
            project, registry, connectors={"erp": MemoryConnector(erp, Limits())}
        )
        hub = Hub(project, store, receiver_runtime, plans, clock=SystemClock())
        with serve_app(create_app(hub)) as server:
            headers = {"Authorization": f"Bearer {entry['api_key']}"}
            async with httpx.AsyncClient(
                base_url=str(entry["base_url"]), headers=headers, timeout=10
            ) as jdy:
                answer = await jdy.post("/sim/push", json={"url": f"{server.base_url}/hooks/jdy"})
                assert answer.status_code == 200, answer.text
                name = f"推送客户 {random.randrange(10**6)}"
                widgets = (
                    await jdy.post(
                        "/api/v5/app/entry/widget/list",
                        json={"app_id": entry["app_id"], "entry_id": "6405f3a1c2b4d50007a10001"},
                    )
                ).json()
                field = next(w["name"] for w in widgets["widgets"] if w["label"] == "客户名称")
                assert field == "_widget_1615777000102"  # the alias in PROJECT
                created = await jdy.post(
                    "/api/v5/app/entry/data/create",
                    json={
                        "app_id": entry["app_id"],
                        "entry_id": "6405f3a1c2b4d50007a10001",
                        "data": {field: {"value": name}},
                    },
                )
                assert created.status_code == 200, created.text
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline:
                    with store.connect() as conn:
                        if conn.execute(
                            sa.text("select count(*) from jobs where trigger = 'webhook'")
                        ).scalar():
                            break
                    await asyncio.sleep(0.2)
                deliveries = (await jdy.get("/sim/push")).json()
        worker = Worker(store, runtime, plans, worker_id="t")
        while await worker.run_once():
            pass
        await runtime.aclose()
    assert [r.fields["Name"] for r in erp.all("Customer")] == [name], deliveries
