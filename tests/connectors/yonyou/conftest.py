"""Fixtures: the YonBIP simulator in-process and connectors talking to it over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from erpbridge.connectors.yonbip import YonBipConnector, YonBipSettings
from erpbridge.connectors.yonyou import U8Connector, U8Settings
from erpbridge.connectors.yonyou.client import U8Client
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
from erpbridge.sims.yonyou import SANDBOX_APP_KEY as U8_APP_KEY
from erpbridge.sims.yonyou import SANDBOX_APP_SECRET as U8_APP_SECRET
from erpbridge.sims.yonyou import (
    SANDBOX_FROM_ACCOUNT,
    SANDBOX_TO_ACCOUNT,
    U8_FAULTS,
    U8SimApp,
    U8State,
)
from erpbridge.sims.yonyou import build_app as build_u8_app
from erpbridge.sims.yonyou.seed import SeedSize as U8SeedSize
from erpbridge.sims.yonyou.seed import seed_state as seed_u8
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


# --- U8 OpenAPI ---------------------------------------------------------------------------

U8_ROOT = "http://u8.test"


@pytest.fixture
def u8_state(clock: StepClock) -> U8State:
    state = U8State(clock=clock)
    seed_u8(state, seed=5, size=U8SeedSize(customers=12, inventories=8, orders=15))
    return state


@pytest.fixture
def u8_app(u8_state: U8State) -> U8SimApp:
    return build_u8_app(u8_state, base_url=U8_ROOT)


@pytest.fixture
def u8_faulty(u8_app: U8SimApp) -> FaultMiddleware:
    return FaultMiddleware(u8_app, responses=U8_FAULTS)


def u8_settings(**overrides: object) -> U8Settings:
    values: dict[str, object] = {
        "base_url": U8_ROOT,
        "from_account": SANDBOX_FROM_ACCOUNT,
        "to_account": SANDBOX_TO_ACCOUNT,
        "app_key": U8_APP_KEY,
        "app_secret": Secret.literal(U8_APP_SECRET),
        **overrides,
    }
    return U8Settings.model_validate(values)


@pytest.fixture
async def u8_http(u8_faulty: FaultMiddleware) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=u8_faulty), base_url=U8_ROOT
    ) as client:
        yield client


async def _no_wait(_seconds: float) -> None:
    return None


def u8_connector_for(http: httpx.AsyncClient, **overrides: object) -> U8Connector:
    settings = u8_settings(**overrides)
    return U8Connector(settings, http, U8Client(settings, http, sleep=_no_wait))


@pytest.fixture
def u8_connector(u8_http: httpx.AsyncClient) -> U8Connector:
    return u8_connector_for(u8_http)
