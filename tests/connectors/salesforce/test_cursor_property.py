"""Property: reading changes page by page and resuming from any stored cursor misses nothing.

Records are written in groups that share one stamp (Salesforce stamps often collide), the
read stops after a random number of pages and resumes from the last cursor, as the engine
does after a restart. With zero overlap every record is read exactly once; with an overlap
only records inside the overlap window come back again.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import timedelta
from pathlib import Path

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from erpbridge.connectors.salesforce import SalesforceConnector
from erpbridge.sims.salesforce import build_app, connection_entry
from erpbridge.sims.salesforce.seed import SeedSize
from erpbridge.spi.records import Cursor, Record, WriteMode, WriteOp

from .conftest import SIM_URL, FakeClock, settings_from_entry

TINY = SeedSize(accounts=1, products=1, orders=1, cases=0)


async def _scenario(
    groups: list[tuple[int, int]], page_size: int, stop_after: int, overlap_s: int
) -> tuple[list[Record], list[Record], set[str], Cursor | None]:
    clock = FakeClock()
    with tempfile.TemporaryDirectory() as tmp:
        app, sim = build_app(Path(tmp), size=TINY, base_url=SIM_URL, clock=clock)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
            connector = SalesforceConnector(
                settings_from_entry(dict(connection_entry(SIM_URL, None))), http
            )
            for size, step_s in groups:
                clock.now += timedelta(seconds=step_s)
                ops = [WriteOp(WriteMode.CREATE, {"Subject": "x"}) for _ in range(size)]
                await connector.write("Case", ops)
            start = Cursor(
                stamp=clock.now - timedelta(days=1), overlap=timedelta(seconds=overlap_s)
            )
            first: list[Record] = []
            cursor: Cursor | None = start
            pages = connector.read_changes("Case", start, page_size)
            async for page in pages:
                first.extend(page.records)
                cursor = page.cursor
                if len(first) >= stop_after * page_size:
                    break
            await pages.aclose()
            second: list[Record] = []
            async for page in connector.read_changes("Case", cursor, page_size):
                second.extend(page.records)
            return first, second, set(sim.org.records["Case"]), cursor


@settings(max_examples=30, deadline=None)
@given(
    groups=st.lists(st.tuples(st.integers(1, 4), st.integers(0, 3)), min_size=1, max_size=8),
    page_size=st.integers(1, 5),
    stop_after=st.integers(1, 4),
    overlap_s=st.sampled_from([0, 2]),
)
def test_resuming_from_any_cursor_reads_every_record(
    groups: list[tuple[int, int]], page_size: int, stop_after: int, overlap_s: int
) -> None:
    first, second, every_id, cursor = asyncio.run(
        _scenario(groups, page_size, stop_after, overlap_s)
    )
    ids = [r.id for r in first + second]
    assert set(ids) == every_id
    if overlap_s == 0:
        assert len(ids) == len(set(ids))
    else:
        assert cursor is not None
        again = {r.id for r in second} & {r.id for r in first}
        window = cursor.stamp - timedelta(seconds=overlap_s + 1)  # +1: whole-second SOQL
        assert all(r.stamp is not None and r.stamp >= window for r in first if r.id in again)
