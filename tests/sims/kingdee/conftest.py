"""Fixtures for the Kingdee simulator: a small seeded state, the app in-process and on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from erpbridge.sims._common.server import RunningServer, serve_app
from erpbridge.sims.kingdee import KingdeeSimApp, KingdeeState, SeedSize, build_app
from erpbridge.sims.kingdee.seed import seed_state

SMALL = SeedSize(customers=12, materials=8, orders=20, requisitions=4)
FORM = "/k3cloud/Kingdee.BOS.WebApi.ServicesStub.DynamicFormService."
AUTH = "/k3cloud/Kingdee.BOS.WebApi.ServicesStub.AuthService."


class StepClock:
    """A clock that moves 1 ms per call, so every change gets its own stamp."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> StepClock:
    return StepClock(datetime(2026, 11, 2, 8, 0, tzinfo=UTC))


@pytest.fixture
def kd_state(clock: StepClock) -> KingdeeState:
    state = KingdeeState(clock=clock)
    seed_state(state, seed=7, size=SMALL)
    return state


@pytest.fixture
def kd_app(kd_state: KingdeeState) -> KingdeeSimApp:
    return build_app(kd_state)


@pytest.fixture
async def kd_http(kd_app: KingdeeSimApp) -> AsyncIterator[httpx.AsyncClient]:
    """A client logged in with ValidateUser (session cookie), talking in-process."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=kd_app), base_url="http://kd.test"
    ) as client:
        answer = await client.post(
            AUTH + "ValidateUser.common.kdsvc",
            json={"parameters": ["66f1a2b3c4d5e6", "erpbridge", "Kd-Sandbox-888", 2052]},
        )
        assert answer.json()["LoginResultType"] == 1
        yield client


@pytest.fixture
def kd_server(kd_app: KingdeeSimApp) -> Iterator[RunningServer]:
    """The app served on 127.0.0.1 (real HTTP, for the official SDK over requests)."""
    with serve_app(kd_app) as server:
        yield server
