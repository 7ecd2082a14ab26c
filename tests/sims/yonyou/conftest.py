"""Fixtures for the Yonyou simulators (YonBIP and U8): small seeded states, apps in-process."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from erpbridge.sims.yonbip import (
    SANDBOX_APP_KEY,
    SANDBOX_APP_SECRET,
    BipSimApp,
    BipState,
    build_app,
)
from erpbridge.sims.yonbip.seed import SeedSize, seed_state
from erpbridge.sims.yonyou import SANDBOX_APP_KEY as U8_APP_KEY
from erpbridge.sims.yonyou import SANDBOX_APP_SECRET as U8_APP_SECRET
from erpbridge.sims.yonyou import SANDBOX_FROM_ACCOUNT, SANDBOX_TO_ACCOUNT, U8SimApp, U8State
from erpbridge.sims.yonyou import build_app as build_u8_app
from erpbridge.sims.yonyou.seed import SeedSize as U8SeedSize
from erpbridge.sims.yonyou.seed import seed_state as seed_u8

SMALL = SeedSize(customers=12, materials=8, orders=15)
TOKEN_PATH = "/iuap-api-auth/open-auth/selfAppAuth/getAccessToken"
GATEWAY = "/iuap-api-gateway"


class StepClock:
    """A clock that moves 1 ms per call; ``advance`` jumps ahead (token expiry, stamps)."""

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
def bip_state(clock: StepClock) -> BipState:
    state = BipState(clock=clock)
    seed_state(state, seed=3, size=SMALL)
    return state


@pytest.fixture
def bip_app(bip_state: BipState) -> BipSimApp:
    return build_app(bip_state, base_url="http://bip.test")


@pytest.fixture
async def bip_raw(bip_app: BipSimApp) -> AsyncIterator[httpx.AsyncClient]:
    """A plain client without a token."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=bip_app), base_url="http://bip.test"
    ) as client:
        yield client


def timestamp_ms() -> str:
    return str(int(time.time() * 1000))


async def fetch_token(client: httpx.AsyncClient) -> str:
    """The documented token request, signature computed here from the document's formula."""
    import base64
    import hashlib
    import hmac

    ts = timestamp_ms()
    message = ("appKey" + SANDBOX_APP_KEY + "timestamp" + ts).encode()
    signature = base64.b64encode(
        hmac.new(SANDBOX_APP_SECRET.encode(), message, hashlib.sha256).digest()
    ).decode()
    answer = await client.get(
        TOKEN_PATH, params={"appKey": SANDBOX_APP_KEY, "timestamp": ts, "signature": signature}
    )
    body = answer.json()
    assert body["code"] == "00000", body
    return str(body["data"]["access_token"])


class Bip:
    """A tiny caller: token once, then ``post``/``get`` on gateway paths."""

    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        self.client = client
        self.token = token

    async def post(self, api: str, body: object) -> dict[str, object]:
        answer = await self.client.post(
            GATEWAY + api, params={"access_token": self.token}, json=body
        )
        return answer.json()  # type: ignore[no-any-return]

    async def get(self, api: str, **params: object) -> dict[str, object]:
        answer = await self.client.get(GATEWAY + api, params={"access_token": self.token, **params})
        return answer.json()  # type: ignore[no-any-return]


@pytest.fixture
async def bip(bip_raw: httpx.AsyncClient) -> Bip:
    return Bip(bip_raw, await fetch_token(bip_raw))


# --- U8 OpenAPI --------------------------------------------------------------------------


@pytest.fixture
def u8_state(clock: StepClock) -> U8State:
    state = U8State(clock=clock)
    seed_u8(state, seed=5, size=U8SeedSize(customers=12, inventories=8, orders=15))
    return state


@pytest.fixture
def u8_app(u8_state: U8State) -> U8SimApp:
    return build_u8_app(u8_state, base_url="http://u8.test")


@pytest.fixture
async def u8_raw(u8_app: U8SimApp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=u8_app), base_url="http://u8.test"
    ) as client:
        yield client


class U8:
    """A tiny caller: the documented query parameters on every call."""

    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        self.client = client
        self.token = token

    def auth(self, **extra: object) -> dict[str, object]:
        return {
            "from_account": SANDBOX_FROM_ACCOUNT,
            "to_account": SANDBOX_TO_ACCOUNT,
            "app_key": U8_APP_KEY,
            "token": self.token,
            **extra,
        }

    async def get(self, path: str, **params: object) -> dict[str, object]:
        return (await self.client.get(path, params=self.auth(**params))).json()  # type: ignore[no-any-return]

    async def post(self, path: str, body: object, **params: object) -> dict[str, object]:
        answer = await self.client.post(path, params=self.auth(**params), json=body)
        return answer.json()  # type: ignore[no-any-return]

    async def tradeid(self) -> str:
        answer = await self.client.get(
            "/system/tradeid",
            params={
                "from_account": SANDBOX_FROM_ACCOUNT,
                "app_key": U8_APP_KEY,
                "token": self.token,
            },
        )
        return str(answer.json()["trade"]["id"])


async def fetch_u8_token(client: httpx.AsyncClient) -> str:
    answer = await client.get(
        "/system/token",
        params={
            "from_account": SANDBOX_FROM_ACCOUNT,
            "app_key": U8_APP_KEY,
            "app_secret": U8_APP_SECRET,
        },
    )
    body = answer.json()
    assert body["errcode"] == "0", body
    return str(body["token"]["id"])


@pytest.fixture
async def u8(u8_raw: httpx.AsyncClient) -> U8:
    return U8(u8_raw, await fetch_u8_token(u8_raw))
