"""Fixtures: the Oracle simulator in-process (httpx.ASGITransport) and a connector on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from erpbridge.connectors.oracle import OracleConnector, OracleSettings
from erpbridge.sims._common.faults import FaultMiddleware
from erpbridge.sims.oracle import (
    ORACLE_FAULTS,
    SANDBOX_PASSWORD,
    SANDBOX_USER,
    OracleSimApp,
    OracleState,
    SeedSize,
    build_app,
)
from erpbridge.sims.oracle.seed import seed_state
from erpbridge.spi.secrets import Secret

BASE_URL = "http://fusion.test"


class StepClock:
    """Moves ``step`` per reading (1 ms by default; 0 freezes time for same-stamp edits)."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.step = timedelta(milliseconds=1)

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now


@pytest.fixture
def clock() -> StepClock:
    return StepClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))


@pytest.fixture
def sim_state(clock: StepClock) -> OracleState:
    state = OracleState(clock=clock)
    seed_state(state, seed=3, size=SeedSize(accounts=8, items=10, orders=45, requisitions=6))
    return state


@pytest.fixture
def sim_app(sim_state: OracleState) -> OracleSimApp:
    return build_app(sim_state)


@pytest.fixture
def faults(sim_app: OracleSimApp) -> FaultMiddleware:
    return FaultMiddleware(sim_app, responses=ORACLE_FAULTS)


def settings(password: str = SANDBOX_PASSWORD, **extra: object) -> OracleSettings:
    return OracleSettings(
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
async def connector(http: httpx.AsyncClient) -> AsyncIterator[OracleConnector]:
    conn = OracleConnector(settings(), http)
    yield conn
    await conn.aclose()


def order_fields(party: str, source_id: str, **extra: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "SourceTransactionSystem": "CRM",
        "SourceTransactionId": source_id,
        "SourceTransactionNumber": f"CRM-{source_id}",
        "BuyingPartyName": party,
        "TransactionalCurrencyCode": "USD",
        "SubmittedFlag": True,
        "lines": [
            {
                "SourceTransactionLineId": "1",
                "SourceTransactionScheduleId": "1",
                "ProductNumber": "AS54888",
                "OrderedQuantity": 3,
            }
        ],
    }
    fields.update(extra)
    return fields
