"""The connector on API_PURCHASEREQ_PROCESS_SRV: deep insert, natural-key lookup, line
updates by RequirementTracking, and incremental reads of headers through their items."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from erpbridge.connectors.sap import SapConnector
from erpbridge.sims.sap.app import SapSimApp
from erpbridge.sims.sap.state import SapState
from erpbridge.spi.errors import ValidationError
from erpbridge.spi.records import Cursor, WriteMode, WriteOp, WriteOutcome
from tests.connectors.sap.conftest import StepClock

HEADER = "A_PurchaseRequisitionHeader"


def _requisition(reference: str, material: str, quantity: str = "2") -> dict[str, object]:
    return {
        "PurchaseRequisitionType": "NB",
        "PurReqnDescription": f"SF-{reference}",
        "to_PurchaseReqnItem": [
            {
                "RequirementTracking": reference,
                "Material": material,
                "Plant": "1710",
                "RequestedQuantity": Decimal(quantity),
                "DeliveryDate": "/Date(1773964800000)/",
            }
        ],
    }


async def _create(conn: SapConnector, reference: str, material: str) -> str:
    [result] = await conn.write(
        HEADER,
        [
            WriteOp(
                mode=WriteMode.UPSERT,
                fields=_requisition(reference, material),
                key_field="PurReqnDescription",
                key_value=f"SF-{reference}",
            )
        ],
    )
    assert result.outcome is WriteOutcome.CREATED, result.error
    assert result.target_id
    return result.target_id


def _materials(state: SapState) -> list[str]:
    return [str(p["Product"]) for p in state.rows("A_Product")]


async def test_upsert_creates_once_then_changes_the_item_found_by_its_reference(
    connector: SapConnector, sim_state: SapState
) -> None:
    material = _materials(sim_state)[0]
    number = await _create(connector, "00001001", material)
    changed = _requisition("00001001", material, quantity="5")
    [again] = await connector.write(
        HEADER,
        [
            WriteOp(
                mode=WriteMode.UPSERT,
                fields=changed,
                key_field="PurReqnDescription",
                key_value="SF-00001001",
            )
        ],
    )
    [read] = await connector.get(HEADER, [number])
    [item] = read.fields["to_PurchaseReqnItem"]  # type: ignore[misc]
    assert (again.outcome, again.target_id) == (WriteOutcome.UPDATED, number)
    assert len(sim_state.rows(HEADER)) == 1
    assert (item["PurchaseRequisitionItem"], item["RequestedQuantity"]) == ("00010", Decimal(5))


async def test_refused_requisition_is_a_validation_error_with_sap_text(
    connector: SapConnector,
) -> None:
    [result] = await connector.write(
        HEADER, [WriteOp(mode=WriteMode.CREATE, fields=_requisition("1", "NO-SUCH"))]
    )
    assert result.outcome is WriteOutcome.FAILED
    assert isinstance(result.error, ValidationError)
    assert "Material NO-SUCH not maintained in plant 1710" in str(result.error)


async def test_headers_are_read_incrementally_through_their_items_stamps(
    connector: SapConnector, sim_state: SapState, sim_app: SapSimApp, clock: StepClock
) -> None:
    materials = _materials(sim_state)
    numbers = [await _create(connector, f"0000100{n}", materials[n]) for n in range(5)]
    clock.advance(timedelta(minutes=10))
    since = clock.now
    sim_app.tick()  # every item is released: each header changes once more
    clock.advance(timedelta(minutes=10))
    sim_app.tick()  # the released ones get a purchase order
    pages = [
        page
        async for page in connector.read_changes(
            HEADER, Cursor(stamp=since, overlap=timedelta(0)), 2
        )
    ]
    seen = [r.id for page in pages for r in page.records]
    stamps = [r.stamp for page in pages for r in page.records]
    items = {
        r.id: r.fields["to_PurchaseReqnItem"][0]["ProcessingStatus"]  # type: ignore[index]
        for page in pages
        for r in page.records
    }
    assert sorted(seen) == sorted(numbers)  # each once, though pages hold 2 items
    assert [len(p.records) for p in pages] == [2, 2, 1]
    assert all(isinstance(s, datetime) and s > since for s in stamps)
    assert set(items.values()) == {"B"}
    assert [p.has_more for p in pages][-1] is False
    later = [
        page
        async for page in connector.read_changes(
            HEADER, Cursor(stamp=clock.now + timedelta(days=1), overlap=timedelta(0)), 2
        )
    ]
    assert [len(p.records) for p in later] == [0]


async def test_only_headers_with_changed_items_come_back(
    connector: SapConnector, sim_state: SapState, clock: StepClock
) -> None:
    materials = _materials(sim_state)
    first = await _create(connector, "00002001", materials[0])
    clock.advance(timedelta(minutes=5))
    since = clock.now
    second = await _create(connector, "00002002", materials[1])
    pages = [
        page
        async for page in connector.read_changes(
            HEADER, Cursor(stamp=since, overlap=timedelta(0)), 10
        )
    ]
    assert [r.id for p in pages for r in p.records] == [second]
    assert first != second
