"""Fixtures: the YonBIP simulator in-process and connectors talking to it over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from erpbridge.connectors.yonbip import YonBipConnector, YonBipSettings
from erpbridge.sims._common.faults import FaultMiddleware
from erpbridge.sims.yonbip import (
    SANDBOX_APP_KEY,
    SANDBOX_APP_SECRET,
    YONBIP_FAULTS,
    BipSimApp,
    BipState,
    SeedSize,
    build_app,
)
from erpbridge.sims.yonbip.seed import seed_state
from erpbridge.spi.secrets import Secret

ROOT = "http://bip.test"


class StepClock:
    """Moves 1 ms per call; ``frozen`` holds it still (same-second edits)."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.frozen = False

    def __call__(self) -> datetime:
        if not self.frozen:
            self.now += timedelta(milliseconds=1)
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> StepClock:
    return StepClock(datetime(2026, 11, 2, 8, 0, tzinfo=UTC))


@pytest.fixture
def bip_state(clock: StepClock) -> BipState:
    state = BipState(clock=clock)
    seed_state(state, seed=3, size=SeedSize(customers=12, materials=8, orders=15))
    return state


@pytest.fixture
def bip_app(bip_state: BipState) -> BipSimApp:
    return build_app(bip_state, base_url=ROOT)


@pytest.fixture
def faulty_app(bip_app: BipSimApp) -> FaultMiddleware:
    return FaultMiddleware(bip_app, responses=YONBIP_FAULTS)


def settings(**overrides: object) -> YonBipSettings:
    values: dict[str, object] = {
        "gateway_url": ROOT + "/iuap-api-gateway",
        "token_url": ROOT + "/iuap-api-auth",
        "app_key": SANDBOX_APP_KEY,
        "app_secret": Secret.literal(SANDBOX_APP_SECRET),
        **overrides,
    }
    return YonBipSettings.model_validate(values)


@pytest.fixture
async def http(faulty_app: FaultMiddleware) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=faulty_app), base_url=ROOT
    ) as client:
        yield client


@pytest.fixture
def connector(http: httpx.AsyncClient) -> YonBipConnector:
    return YonBipConnector(settings(), http)
