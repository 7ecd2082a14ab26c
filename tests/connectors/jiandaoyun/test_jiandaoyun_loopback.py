"""The sandbox's jiandaoyun simulator over real HTTP on 127.0.0.1, configured only from its
ports-file entry, with 数据推送 to a real local receiver that uses the connector."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from erpbridge.connectors.jiandaoyun import JiandaoyunConnector, JiandaoyunSettings
from erpbridge.sims._common.server import serve_app
from erpbridge.sims.sandbox import run_sandbox
from erpbridge.spi import AuthError, Change, ChangeKind, Secret, WriteMode, WriteOp


def settings_from(entry: dict[str, str]) -> JiandaoyunSettings:
    return JiandaoyunSettings(
        base_url=entry["base_url"],
        api_key=Secret.literal(entry["api_key"]),
        app_id=entry["app_id"],
        push_secret=Secret.literal(entry["push_secret"]),
        natural_keys={"客户": "客户编号"},
    )


class Hub:
    """A stand-in for the hub's webhook route: parse with the connector, answer 200/401."""

    def __init__(self, connector: JiandaoyunConnector) -> None:
        self.connector = connector
        self.changes: list[Change] = []
        self.arrived = threading.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        body = await request.body()
        query = {k: v[0] for k, v in parse_qs(urlsplit(str(request.url)).query).items()}
        try:
            self.changes += self.connector.parse_webhook(dict(request.headers), body, query)
            status = 200
        except AuthError:
            status = 401
        self.arrived.set()
        await PlainTextResponse("success", status_code=status)(scope, receive, send)


async def test_sandbox_entry_is_enough_to_connect_write_read_and_receive_pushes(
    tmp_path: Path,
) -> None:
    ports = tmp_path / "ports.json"
    with run_sandbox(tmp_path / "data", only=["jiandaoyun"], ports_file=ports):
        entry = json.loads(ports.read_text(encoding="utf-8"))["jiandaoyun"]
        assert set(entry) == {"base_url", "api_key", "app_id", "push_secret"}
        settings = settings_from(entry)
        async with httpx.AsyncClient() as http:
            connector = JiandaoyunConnector(settings, http)
            hub = Hub(connector)
            with serve_app(hub) as receiver:
                configured = await http.post(
                    f"{entry['base_url']}/sim/push",
                    json={"url": f"{receiver.base_url}/hooks/jdy"},
                    headers={"Authorization": f"Bearer {entry['api_key']}"},
                )
                assert configured.status_code == 200
                check = await connector.check()
                [created] = await connector.write(
                    "客户",
                    [
                        WriteOp(
                            WriteMode.CREATE, {"客户编号": "LOOP1", "客户名称": "回环测试有限公司"}
                        )
                    ],
                )
                await asyncio.to_thread(hub.arrived.wait, 10)
                found = await connector.find("客户", "客户编号", ["LOOP1"])
    assert check.ok, check.reason
    assert [r.id for r in found] == [created.target_id]
    assert [(c.kind, c.record_id) for c in hub.changes] == [(ChangeKind.UPSERT, created.target_id)]


async def test_a_hanging_simulator_times_out_as_a_transient_error(tmp_path: Path) -> None:
    from erpbridge.sims._common.faults import FaultConfig, FaultKind
    from erpbridge.sims._common.server import run_simulator
    from erpbridge.sims.jiandaoyun import SIMULATOR
    from erpbridge.spi import Limits

    with run_simulator(SIMULATOR, tmp_path, faults=FaultConfig(hang_s=3)) as running:
        entry = dict(running.entry)
        settings = settings_from(entry).model_copy(update={"limits": Limits(timeout_s=0.3)})
        async with httpx.AsyncClient() as http:
            connector = JiandaoyunConnector(settings, http)
            running.app.force(FaultKind.HANG)  # type: ignore[attr-defined]
            result = await connector.check()
    assert not result.ok
    assert "TransientError" in result.reason and "timed out" in result.reason
