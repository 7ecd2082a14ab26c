"""Fixtures: the Jiandaoyun simulator in-process (small seed, stepping clock) and a
connector talking to it through httpx.ASGITransport, with every call path recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from erpbridge.connectors.jiandaoyun import JiandaoyunConnector, JiandaoyunSettings
from erpbridge.sims._common.faults import FaultMiddleware
from erpbridge.sims.jiandaoyun import (
    JDY_FAULTS,
    SANDBOX_API_KEY,
    JdySimApp,
    JdyState,
    Pusher,
    RateLimiter,
    SeedSize,
    build_app,
    seed_state,
)
from erpbridge.spi import Secret

SMALL = SeedSize(customers=12, contacts_per_customer=2, orders=20, tickets=4)
APP_ID = "6405f3a1c2b4d50007a10000"
CUSTOMER = "6405f3a1c2b4d50007a10001"
CONTACT = "6405f3a1c2b4d50007a10002"
SALES_ORDER = "6405f3a1c2b4d50007a10003"
INVENTORY = "6405f3a1c2b4d50007a10005"
CUST_CODE = "_widget_1615777000101"  # 客户编号
CUST_NAME = "_widget_1615777000102"  # 客户名称
CUST_CREDIT = "_widget_1615777000109"  # 信用额度
PUSH_SECRET = "connector-test-push-secret"


class StepClock:
    """Aware UTC time that moves 1 ms per call."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


class CountingTransport(httpx.AsyncBaseTransport):
    """Passes every request to the simulator and remembers its path (no answers invented)."""

    def __init__(self, app: object) -> None:
        self.inner = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path.removeprefix("/api/v5/"))
        return await self.inner.handle_async_request(request)


@pytest.fixture
def clock() -> StepClock:
    return StepClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))


@pytest.fixture
def jdy_state(clock: StepClock) -> JdyState:
    state = JdyState(clock=clock)
    seed_state(state, seed=11, size=SMALL)
    return state


@pytest.fixture
def sim(jdy_state: JdyState) -> JdySimApp:
    return build_app(
        jdy_state, pusher=Pusher(retry_delays_s=(0.0, 0.0, 0.0)), limiter=RateLimiter(enabled=False)
    )


@pytest.fixture
def faulted(sim: JdySimApp) -> FaultMiddleware:
    return FaultMiddleware(sim, responses=JDY_FAULTS)


@pytest.fixture
def transport(faulted: FaultMiddleware) -> CountingTransport:
    return CountingTransport(faulted)


def make_settings(**more: object) -> JiandaoyunSettings:
    values: dict[str, object] = {
        "base_url": "http://jdy.test",
        "api_key": Secret.literal(SANDBOX_API_KEY),
        "app_id": APP_ID,
        "push_secret": Secret.literal(PUSH_SECRET),
        "natural_keys": {"客户": "客户编号", INVENTORY: "mat_code"},
    }
    values.update(more)
    return JiandaoyunSettings.model_validate(values)


@pytest.fixture
async def http(transport: CountingTransport) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=transport) as client:
        yield client


@pytest.fixture
def connector(http: httpx.AsyncClient) -> JiandaoyunConnector:
    return JiandaoyunConnector(make_settings(), http)
