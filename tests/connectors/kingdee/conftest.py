"""Fixtures: the Kingdee simulator in-process and connectors talking to it over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from erpbridge.connectors.kingdee import KingdeeConnector, KingdeeSettings
from erpbridge.sims._common.faults import FaultMiddleware
from erpbridge.sims.kingdee import (
    KINGDEE_FAULTS,
    SANDBOX_ACCT_ID,
    SANDBOX_APP_ID,
    SANDBOX_APP_SECRET,
    SANDBOX_PASSWORD,
    SANDBOX_USER,
    KingdeeSimApp,
    KingdeeState,
    SeedSize,
    build_app,
)
from erpbridge.sims.kingdee.seed import seed_state
from erpbridge.spi.secrets import Secret

BASE_URL = "http://kd.test/k3cloud/"


class StepClock:
    """Moves 1 ms per call; ``freeze`` holds it still (same-stamp edits)."""

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
def sim_state(clock: StepClock) -> KingdeeState:
    state = KingdeeState(clock=clock)
    seed_state(state, seed=3, size=SeedSize(customers=12, materials=8, orders=23, requisitions=4))
    return state


@pytest.fixture
def sim_app(sim_state: KingdeeState) -> KingdeeSimApp:
    return build_app(sim_state)


@pytest.fixture
def faulty_app(sim_app: KingdeeSimApp) -> FaultMiddleware:
    return FaultMiddleware(sim_app, responses=KINGDEE_FAULTS)


def make_settings(**overrides: object) -> KingdeeSettings:
    values: dict[str, object] = {
        "base_url": BASE_URL,
        "acct_id": SANDBOX_ACCT_ID,
        "username": SANDBOX_USER,
        "app_id": SANDBOX_APP_ID,
        "app_secret": Secret.literal(SANDBOX_APP_SECRET),
        "password": Secret.literal(SANDBOX_PASSWORD),
    }
    values.update(overrides)
    return KingdeeSettings(**values)  # type: ignore[arg-type]


ConnectorFactory = Callable[..., KingdeeConnector]


@pytest.fixture
async def connect(faulty_app: FaultMiddleware) -> AsyncIterator[ConnectorFactory]:
    """Build connectors (any settings) on one in-process HTTP client."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=faulty_app)) as http:

        def factory(**overrides: object) -> KingdeeConnector:
            return KingdeeConnector(make_settings(**overrides), http)

        yield factory


@pytest.fixture
def kingdee(connect: ConnectorFactory) -> KingdeeConnector:
    return connect()
