"""ProfiledApp: a simulator's request handling profiled between start and stop."""

from __future__ import annotations

import pstats
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from erpbridge.sims._common.profile import PROFILE_DIR_ENV, ProfiledApp, profile_path


async def _hello(request: object) -> PlainTextResponse:
    return PlainTextResponse("hello")


async def test_stop_writes_the_profile_of_what_ran_since_start(tmp_path: Path) -> None:
    path = tmp_path / "sim.prof"
    app = ProfiledApp(Starlette(routes=[Route("/hello", _hello)]), path)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim.test") as client:
        started = await client.post("/_sim/profile/start")
        answered = await client.get("/hello")
        stopped = await client.post("/_sim/profile/stop")

    assert started.status_code == stopped.status_code == 200
    assert answered.text == "hello"
    names = {name for (_, _, name) in pstats.Stats(str(path)).stats}  # type: ignore[attr-defined]
    assert "_hello" in names


async def test_other_requests_pass_through_unprofiled(tmp_path: Path) -> None:
    path = tmp_path / "sim.prof"
    app = ProfiledApp(Starlette(routes=[Route("/hello", _hello)]), path)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim.test") as client:
        answered = await client.get("/hello")
        missing = await client.get("/_sim/profile/start")  # GET is not a control request

    assert answered.text == "hello"
    assert missing.status_code == 404
    assert not path.exists()


def test_profile_path_follows_the_environment(monkeypatch: object, tmp_path: Path) -> None:
    monkeypatch.setenv(PROFILE_DIR_ENV, str(tmp_path))  # type: ignore[attr-defined]

    assert profile_path("sap") == tmp_path / "sap.prof"
