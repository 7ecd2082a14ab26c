"""Fixtures: the SAP simulator in-process (httpx.ASGITransport) and a connector on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from erpbridge.connectors.sap import SapConnector, SapSettings
from erpbridge.sims._common.faults import FaultMiddleware
from erpbridge.sims.sap import (
    SANDBOX_PASSWORD,
    SANDBOX_USER,
    SAP_FAULTS,
    SapSimApp,
    SeedSize,
    build_app,
)
from erpbridge.sims.sap.seed import seed_state
from erpbridge.sims.sap.state import SapState
from erpbridge.spi.secrets import Secret

BASE_URL = "http://sap.test"


class StepClock:
    """Moves 1 ms per reading, so every change has its own stamp and tests never sleep."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock() -> StepClock:
    return StepClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))


@pytest.fixture
def sim_state(clock: StepClock) -> SapState:
    state = SapState(clock=clock)
    seed_state(state, seed=3, size=SeedSize(partners=15, products=10, orders=60))
    return state


@pytest.fixture
def sim_app(sim_state: SapState) -> SapSimApp:
    return build_app(sim_state, max_page_size=20)


@pytest.fixture
def faults(sim_app: SapSimApp) -> FaultMiddleware:
    return FaultMiddleware(sim_app, responses=SAP_FAULTS)


def settings(password: str = SANDBOX_PASSWORD, **extra: object) -> SapSettings:
    return SapSettings(
        base_url=BASE_URL,
        username=SANDBOX_USER,
        password=Secret.literal(password),
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture
async def http(faults: FaultMiddleware) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=faults)) as client:
        yield client


@pytest.fixture
async def connector(http: httpx.AsyncClient) -> AsyncIterator[SapConnector]:
    conn = SapConnector(settings(), http)
    yield conn
    await conn.aclose()
