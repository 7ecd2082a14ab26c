"""Property: reading from the stored cursor after any edits never misses one (both connectors).

Edits land in bursts that share one second (``pubts``/``ts`` have one-second resolution),
pages are of random size, and the cursor is stored after every page as the engine does.
After each burst, every edited record must come back at its new version.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from erpbridge.connectors.yonbip import YonBipConnector
from erpbridge.sims.yonbip import BipState, SeedSize
from erpbridge.sims.yonbip import build_app as build_bip
from erpbridge.sims.yonbip.merchant import MerchantApi
from erpbridge.sims.yonbip.seed import seed_state
from erpbridge.sims.yonyou import U8State
from erpbridge.sims.yonyou import build_app as build_u8
from erpbridge.sims.yonyou.records import Records
from erpbridge.sims.yonyou.seed import SeedSize as U8SeedSize
from erpbridge.sims.yonyou.seed import seed_state as seed_u8
from erpbridge.spi import Cursor

from .conftest import ROOT, U8_ROOT, StepClock, u8_connector_for
from .conftest import settings as bip_settings

_bursts = st.lists(
    st.tuples(st.lists(st.integers(0, 9), min_size=1, max_size=8), st.integers(0, 3)),
    min_size=1,
    max_size=4,
)


async def _drain(
    connector: object, obj: str, cursor: Cursor | None, size: int
) -> tuple[dict[str, str], Cursor | None]:
    seen: dict[str, str] = {}
    async for page in connector.read_changes(obj, cursor, size):  # type: ignore[attr-defined]
        for record in page.records:
            seen[record.id] = str(record.version)
        cursor = page.cursor or cursor
    return seen, cursor


async def _bip_run(bursts: list[tuple[list[int], int]], size: int, overlap_s: int) -> None:
    clock = StepClock(datetime(2026, 11, 2, 8, 0, tzinfo=UTC))
    state = BipState(clock=clock)
    seed_state(state, seed=2, size=SeedSize(customers=10, materials=2, orders=1))
    app = build_bip(state)
    api = MerchantApi(state)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ROOT) as http:
        connector = YonBipConnector(bip_settings(overlap_s=overlap_s), http)
        _, cursor = await _drain(connector, "merchant", None, size)
        codes = [str(r["code"]) for r in state.rows("merchant")]
        for picks, gap_s in bursts:
            clock.advance(gap_s)
            clock.frozen = True
            for n in picks:
                api.save_one({"_status": "Update", "code": codes[n], "memo": f"m{n}"})
            clock.frozen = False
            want = {
                str(r["id"]): str(r["pubts"])
                for r in state.rows("merchant")
                if r["code"] in {codes[n] for n in picks}
            }
            seen, cursor = await _drain(connector, "merchant", cursor, size)
            # A YonBIP version is pubts#digest (pubts alone repeats within a second).
            assert {k: (seen.get(k) or "").split("#")[0] for k in want} == want


async def _u8_run(bursts: list[tuple[list[int], int]], size: int, overlap_s: int) -> None:
    clock = StepClock(datetime(2026, 11, 2, 8, 0, tzinfo=UTC))
    state = U8State(clock=clock)
    seed_u8(state, seed=2, size=U8SeedSize(customers=10, inventories=2, orders=1))
    app = build_u8(state)
    records = Records(state)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=U8_ROOT) as http:
        connector = u8_connector_for(http, overlap_s=overlap_s)
        _, cursor = await _drain(connector, "customer", None, size)
        codes = [str(r["code"]) for r in state.rows("customer")]
        for picks, gap_s in bursts:
            clock.advance(gap_s)
            clock.frozen = True
            for n in picks:
                records.customer_save(
                    {"customer": {"code": codes[n], "memo": f"m{n}"}}, is_new=False
                )
            clock.frozen = False
            want = {codes[n]: str(state.tables["customer"][codes[n]]["ts"]) for n in picks}
            seen, cursor = await _drain(connector, "customer", cursor, size)
            assert {k: seen.get(k) for k in want} == want


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bursts=_bursts, size=st.integers(1, 6), overlap_s=st.sampled_from([0, 5]))
def test_yonbip_incremental_reads_never_miss_an_edit(
    bursts: list[tuple[list[int], int]], size: int, overlap_s: int
) -> None:
    asyncio.run(_bip_run(bursts, size, overlap_s))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bursts=_bursts, size=st.integers(1, 6), overlap_s=st.sampled_from([0, 5]))
def test_u8_incremental_reads_never_miss_an_edit(
    bursts: list[tuple[list[int], int]], size: int, overlap_s: int
) -> None:
    asyncio.run(_u8_run(bursts, size, overlap_s))
