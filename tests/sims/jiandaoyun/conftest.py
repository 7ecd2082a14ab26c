"""Fixtures for the Jiandaoyun simulator: a small seeded state, a stepping clock, the app
in-process, and a plain httpx client that knows nothing but the public protocol."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from erpbridge.sims.jiandaoyun import (
    SANDBOX_API_KEY,
    JdySimApp,
    JdyState,
    Pusher,
    RateLimiter,
    SeedSize,
    build_app,
    seed_state,
)

SMALL = SeedSize(customers=12, contacts_per_customer=2, orders=30, tickets=6)
APP_ID = "6405f3a1c2b4d50007a10000"
CUSTOMER = "6405f3a1c2b4d50007a10001"
CONTACT = "6405f3a1c2b4d50007a10002"
SALES_ORDER = "6405f3a1c2b4d50007a10003"
INVENTORY = "6405f3a1c2b4d50007a10005"
CUST_CODE = "_widget_1615777000101"  # 客户编号
CUST_NAME = "_widget_1615777000102"  # 客户名称
CUST_CREDIT = "_widget_1615777000109"  # 信用额度
CUST_OWNER = "_widget_1615777000106"  # 客户经理
CUST_PHONE = "_widget_1615777000104"  # 联系电话
CUST_SINCE = "_widget_1615777000111"  # 建档日期
SO_LINES = "_widget_1615777000305"  # 订单明细
LINE_MAT = "_widget_1615777000351"  # 物料编码
LINE_QTY = "_widget_1615777000353"  # 数量


class StepClock:
    """Aware UTC time that moves 1 ms per call, so every change gets its own stamp."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


class SecondClock:
    """A monotonic-seconds clock the test moves by hand (rate-limit windows)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def jdy_state() -> JdyState:
    state = JdyState(clock=StepClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC)))
    seed_state(state, seed=7, size=SMALL)
    return state


@pytest.fixture
def second_clock() -> SecondClock:
    return SecondClock()


@pytest.fixture
def jdy_app(jdy_state: JdyState, second_clock: SecondClock) -> JdySimApp:
    return build_app(
        jdy_state,
        pusher=Pusher(retry_delays_s=(0.0, 0.0, 0.0)),
        limiter=RateLimiter(second_clock),
    )


@pytest.fixture
async def jdy_http(jdy_app: JdySimApp) -> AsyncIterator[httpx.AsyncClient]:
    """A client as the official demos build one: Bearer key, JSON bodies, POST only."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=jdy_app),
        base_url="http://jdy.test/api",
        headers={
            "Authorization": f"Bearer {SANDBOX_API_KEY}",
            "Content-Type": "application/json;charset=utf-8",
        },
    ) as client:
        yield client
