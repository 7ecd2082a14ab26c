"""Property: incremental reads with the stored cursor never miss a change.

Between reads, random orders are edited at random moments (several in the same
millisecond, so the id tie-break matters); each read starts from the cursor the previous
read ended with, with random page sizes. Every order edited since the previous read must
come back at its newest version.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from erpbridge.connectors.sap import SapConnector
from erpbridge.sims.sap import build_app
from erpbridge.sims.sap.rules import Rules
from erpbridge.sims.sap.seed import SeedSize, seed_state
from erpbridge.sims.sap.state import SapState
from erpbridge.spi import Cursor
from tests.connectors.sap.conftest import settings as sap_settings


class ManualClock:
    """Time moves only when the test says so."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


_EDIT = st.tuples(st.integers(0, 29), st.integers(0, 3))  # (order index, ms to advance first)
_ROUND = st.tuples(st.lists(_EDIT, max_size=8), st.integers(1, 7))  # (edits, page size)


async def _read(conn: SapConnector, cursor: Cursor | None, size: int) -> tuple[dict, Cursor | None]:
    seen: dict[str, str | None] = {}
    last = cursor
    async for page in conn.read_changes("A_SalesOrder", cursor, size):
        for record in page.records:
            seen[record.id] = record.version
        last = page.cursor or last
    return seen, last


@settings(max_examples=25, deadline=None)
@given(st.lists(_ROUND, min_size=1, max_size=4), st.sampled_from([0, 5]))
def test_incremental_reads_never_miss_an_edit(rounds: list, overlap_s: int) -> None:
    clock = ManualClock()
    state = SapState(clock=clock)
    seed_state(state, seed=1, size=SeedSize(partners=4, products=3, orders=30))
    clock.now = datetime(2026, 3, 3, tzinfo=UTC)
    app = build_app(state, max_page_size=4)
    rules = Rules(state)
    order_set = state.sets["A_SalesOrder"]
    numbers = sorted(k[0] for k in state.tables["A_SalesOrder"])

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
            conn = SapConnector(sap_settings(), http)
            _, cursor = await _read(conn, None, 10)
            assert cursor is not None
            cursor = Cursor(cursor.stamp, cursor.last_id, timedelta(seconds=overlap_s))
            for edits, size in rounds:
                edited: set[str] = set()
                for index, advance_ms in edits:
                    clock.now += timedelta(milliseconds=advance_ms)
                    number = numbers[index]
                    rules.update(
                        order_set, (number,), {"CustomerPaymentTerms": "0001"}, replace=False
                    )
                    edited.add(number)
                seen, cursor = await _read(conn, cursor, size)
                for number in edited:
                    row = state.get("A_SalesOrder", (number,))
                    assert number in seen, f"edit of {number} was missed"
                    assert row is not None
                    assert row["LastChangeDateTime"] is not None
                assert cursor is not None

    asyncio.run(run())
