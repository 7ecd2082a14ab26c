"""Property: incremental reads from the stored cursor never miss an edit.

Random rounds of edits (some in the same millisecond), random page sizes and overlaps;
after each round the connector reads from the cursor it stored last, and every edited
order must be among the records it returns.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from erpbridge.connectors.oracle import OracleConnector
from erpbridge.sims.oracle import OracleState, SeedSize, build_app
from erpbridge.sims.oracle.seed import seed_state
from erpbridge.spi.records import Cursor, WriteMode, WriteOp
from tests.connectors.oracle.conftest import StepClock
from tests.connectors.oracle.conftest import settings as connection

ORDERS = "salesOrdersForOrderHub"

rounds = st.lists(
    st.tuples(
        st.lists(st.integers(0, 29), min_size=1, max_size=8),  # orders edited
        st.sampled_from([0, 1]),  # ms between edits (0 = all in one millisecond)
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=25, deadline=None)
@given(edits=rounds, page_size=st.integers(1, 9), overlap_ms=st.sampled_from([0, 2, 5000]))
async def test_reads_from_the_stored_cursor_never_miss_an_edit(
    edits: list[tuple[list[int], int]], page_size: int, overlap_ms: int
) -> None:
    clock = StepClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    state = OracleState(clock=clock)
    seed_state(state, seed=1, size=SeedSize(accounts=4, items=6, orders=30, requisitions=1))
    keys = list(state.tables[ORDERS])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(state))) as http:
        connector = OracleConnector(connection(), http)
        cursor: Cursor | None = None
        async for page in connector.read_changes(ORDERS, None, page_size):
            cursor = page.cursor
        assert cursor is not None
        cursor = Cursor(cursor.stamp, cursor.last_id, timedelta(milliseconds=overlap_ms))
        for round_no, (picked, step_ms) in enumerate(edits):
            clock.step = timedelta(milliseconds=step_ms)
            # A new value each round: a write of what Oracle holds already is no edit (an
            # order's revision sends nothing then), and one write per order per call.
            ops = [
                WriteOp(
                    WriteMode.UPDATE, {"CustomerPONumber": f"E{round_no}-{n}"}, target_id=keys[n]
                )
                for n in dict.fromkeys(picked)
            ]
            await connector.write(ORDERS, ops)
            clock.step = timedelta(milliseconds=1)
            seen: set[str] = set()
            async for page in connector.read_changes(ORDERS, cursor, page_size):
                seen |= {r.id for r in page.records}
                cursor = page.cursor or cursor
            assert {keys[n] for n in picked} <= seen
