"""Property: polling with the cursor never misses a change, whatever the stamps look like.

Rounds of changes (creates and updates of customers, many sharing one stamp) are made in
the simulator; after each round the connector reads from its last cursor with a small
page size. Every change of the round must be among the records read.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from erpbridge.connectors.kingdee import KingdeeConnector
from erpbridge.sims.kingdee import KingdeeState, build_app
from erpbridge.sims.kingdee.forms import FORMS
from erpbridge.sims.kingdee.rules import Rules, SaveOptions
from erpbridge.sims.kingdee.seed import SeedSize, seed_state
from erpbridge.sims.kingdee.wire import render_stamp
from erpbridge.spi import Cursor

from .conftest import StepClock, make_settings

CUSTOMER = FORMS["bd_customer"]

# one change: (update an earlier new customer?, which one, how far the clock moves in ms)
_change = st.tuples(st.booleans(), st.integers(0, 50), st.sampled_from([0, 0, 0, 1, 2000]))
_rounds = st.lists(st.lists(_change, min_size=1, max_size=8), min_size=1, max_size=4)


async def _run(rounds: list[list[tuple[bool, int, int]]], page_size: int) -> None:
    clock = StepClock(datetime(2026, 11, 2, 8, 0, tzinfo=UTC))
    state = KingdeeState(clock=clock)
    seed_state(state, seed=5, size=SeedSize(customers=3, materials=2, orders=2, requisitions=1))
    rules = Rules(state)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(state))) as http:
        connector = KingdeeConnector(make_settings(), http)
        cursor: Cursor | None = None
        async for page in connector.read_changes("BD_Customer", None, 1000):
            cursor = page.cursor
        mine: list[object] = []
        for n, changes in enumerate(rounds):
            expected: dict[str, str] = {}
            clock.frozen = True
            for is_update, which, step_ms in changes:
                clock.advance(step_ms / 1000)
                model: dict[str, object] = {
                    "FName": f"轮{n}客户",
                    "FCreateOrgId": {"FNumber": "100"},
                }
                if is_update and mine:
                    model = {"FCUSTID": mine[which % len(mine)], "FTEL": f"{n}-{which}"}
                row, _ = rules.save(CUSTOMER, model, SaveOptions())
                if not is_update or not mine:
                    mine.append(row["FCUSTID"])
                expected[str(row["FCUSTID"])] = str(row["FModifyDate"])
            clock.frozen = False
            seen: set[tuple[str, str]] = set()
            async for page in connector.read_changes("BD_Customer", cursor, page_size):
                seen |= {(r.id, str(r.version)) for r in page.records}
                cursor = page.cursor or cursor
            for record_id, stamp in expected.items():
                assert (record_id, render_stamp(stamp)) in seen, (n, record_id, stamp)


@settings(max_examples=40, deadline=None)
@given(rounds=_rounds, page_size=st.integers(1, 4))
def test_polling_from_the_cursor_never_misses_a_change(
    rounds: list[list[tuple[bool, int, int]]], page_size: int
) -> None:
    asyncio.run(_run(rounds, page_size))
