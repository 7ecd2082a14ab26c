"""The spi's field list on Kingdee: FieldKeys of the asked fields, entries only when asked."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from erpbridge.connectors.kingdee import KingdeeConnector
from erpbridge.sims._common.faults import FaultMiddleware
from erpbridge.spi.records import Record
from tests.connectors.kingdee.conftest import make_settings

FORM = "SAL_SaleOrder"
HEAD = {"FBillNo", "FDocumentStatus"}


@pytest.fixture
async def traced(
    faulty_app: FaultMiddleware,
) -> AsyncIterator[tuple[KingdeeConnector, list[bytes]]]:
    """A connector and the bodies of the ExecuteBillQuery calls it makes."""
    bodies: list[bytes] = []

    async def note(request: httpx.Request) -> None:
        if "ExecuteBillQuery" in request.url.path:
            bodies.append(request.read())

    transport = httpx.ASGITransport(app=faulty_app)
    async with httpx.AsyncClient(transport=transport, event_hooks={"request": [note]}) as http:
        yield KingdeeConnector(make_settings(), http), bodies


async def _bills(conn: KingdeeConnector, fields: set[str] | None) -> list[Record]:
    return [r async for p in conn.read_changes(FORM, None, 10, fields) for r in p.records]


async def test_bills_read_without_their_entry_cost_no_entry_query(
    traced: tuple[KingdeeConnector, list[bytes]],
) -> None:
    conn, bodies = traced
    narrow = await _bills(conn, HEAD)
    narrow_calls = len(bodies)
    full = await _bills(conn, None)
    assert [(r.id, r.version, r.stamp) for r in narrow] == [
        (r.id, r.version, r.stamp) for r in full
    ]
    assert all(n.fields[f] == r.fields[f] for n, r in zip(narrow, full, strict=True) for f in HEAD)
    assert all("FSaleOrderEntry" not in r.fields and "FCustId" not in r.fields for r in narrow)
    assert all("FSaleOrderEntry" in r.fields for r in full)
    assert narrow_calls < len(bodies) - narrow_calls  # the entry's queries were left out
    assert all(b"FCustId" not in body for body in bodies[:narrow_calls])


async def test_asked_entries_come_with_their_lines(
    traced: tuple[KingdeeConnector, list[bytes]],
) -> None:
    conn, _ = traced
    full = {r.id: r for r in await _bills(conn, None)}
    asked = await conn.get(FORM, sorted(full)[:3], {"fsaleorderentry"})  # any case
    assert len(asked) == 3
    assert all(r.fields["FSaleOrderEntry"] == full[r.id].fields["FSaleOrderEntry"] for r in asked)
    assert all("FBillNo" not in r.fields for r in asked)
