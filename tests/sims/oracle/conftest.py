"""Fixtures for the Oracle simulator: a small seeded state and plain httpx clients on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from erpbridge.sims.oracle import SANDBOX_PASSWORD, SANDBOX_USER, OracleSimApp, build_app
from erpbridge.sims.oracle.seed import SeedSize, seed_state
from erpbridge.sims.oracle.state import OracleState

SMALL = SeedSize(accounts=8, items=12, orders=40, requisitions=5)
ROOT = "/fscmRestApi/resources/11.13.18.05"
ORDERS = f"{ROOT}/salesOrdersForOrderHub"


class StepClock:
    """Moves 1 ms per reading, so every change has its own stamp and tests never sleep."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


@pytest.fixture
def oracle_state() -> OracleState:
    state = OracleState(clock=StepClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC)))
    seed_state(state, seed=5, size=SMALL)
    return state


@pytest.fixture
def oracle_app(oracle_state: OracleState) -> OracleSimApp:
    return build_app(oracle_state)


def _client(app: OracleSimApp, version: str | None) -> httpx.AsyncClient:
    headers = {"REST-Framework-Version": version} if version else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://fusion.test",
        auth=(SANDBOX_USER, SANDBOX_PASSWORD),
        headers=headers,
    )


@pytest.fixture
async def fusion(oracle_app: OracleSimApp) -> AsyncIterator[httpx.AsyncClient]:
    """A client that opts in to framework version 4 (expressions, JSON error details)."""
    async with _client(oracle_app, "4") as client:
        yield client


@pytest.fixture
async def fusion_v1(oracle_app: OracleSimApp) -> AsyncIterator[httpx.AsyncClient]:
    """A client without REST-Framework-Version (the server's default, version 1)."""
    async with _client(oracle_app, None) as client:
        yield client


def new_order(party_name: str, source_id: str, **extra: object) -> dict[str, object]:
    """An order body as the reference's POST sample writes it (§7)."""
    body: dict[str, object] = {
        "SourceTransactionSystem": "CRM",
        "SourceTransactionId": source_id,
        "SourceTransactionNumber": f"CRM-{source_id}",
        "BusinessUnitName": "Vision Operations",
        "BuyingPartyName": party_name,
        "TransactionalCurrencyCode": "USD",
        "TransactionOn": "2026-01-05T09:00:00+00:00",
        "SubmittedFlag": True,
        "RequestingBusinessUnitName": "Vision Operations",
        "lines": [
            {
                "SourceTransactionLineId": "1",
                "SourceTransactionLineNumber": "1",
                "SourceScheduleNumber": "1",
                "SourceTransactionScheduleId": "1",
                "TransactionCategoryCode": "ORDER",
                "ProductNumber": "AS54888",
                "OrderedQuantity": 5,
                "OrderedUOMCode": "Ea",
            }
        ],
    }
    body.update(extra)
    return body
