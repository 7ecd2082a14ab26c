"""Fixtures for the SAP simulator: a small seeded state, the app in-process, and on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from erpbridge.sims._common.server import RunningServer, serve_app
from erpbridge.sims.sap import SANDBOX_PASSWORD, SANDBOX_USER, SapSimApp, SeedSize, build_app
from erpbridge.sims.sap.seed import seed_state
from erpbridge.sims.sap.state import SapState

SMALL = SeedSize(partners=20, products=12, orders=60)
BP_ROOT = "/sap/opu/odata/sap/API_BUSINESS_PARTNER/"
SO_ROOT = "/sap/opu/odata/sap/API_SALES_ORDER_SRV/"


class StepClock:
    """A clock that moves 1 ms per call, so every change gets its own stamp."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


@pytest.fixture
def sap_state() -> SapState:
    state = SapState(clock=StepClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC)))
    seed_state(state, seed=7, size=SMALL)
    return state


@pytest.fixture
def sap_app(sap_state: SapState) -> SapSimApp:
    return build_app(sap_state, max_page_size=25)


@pytest.fixture
async def sap_http(sap_app: SapSimApp) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated client talking to the app in-process (no CSRF token yet)."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sap_app),
        base_url="http://sap.test",
        auth=(SANDBOX_USER, SANDBOX_PASSWORD),
    ) as client:
        yield client


@pytest.fixture
def sap_server(sap_app: SapSimApp) -> Iterator[RunningServer]:
    """The app served on 127.0.0.1 (real HTTP, for pyodata over requests)."""
    with serve_app(sap_app) as server:
        yield server
