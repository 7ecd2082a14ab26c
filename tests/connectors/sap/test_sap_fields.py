"""The spi's field list on SAP: unasked lines are not expanded, ``$select`` asks the rest."""

from __future__ import annotations

from decimal import Decimal

import httpx

from erpbridge.connectors.sap import SapConnector
from erpbridge.sims.sap.state import SapState
from erpbridge.spi.records import Record, WriteMode, WriteOp, WriteOutcome
from tests.connectors.sent import sent

ORDER = "A_SalesOrder"
STATUS_FIELDS = {"SalesOrder", "PurchaseOrderByCustomer", "OverallTotalDeliveryStatus"}


async def _orders(conn: SapConnector, fields: set[str] | None) -> list[Record]:
    return [r async for page in conn.read_changes(ORDER, None, 25, fields) for r in page.records]


async def test_asked_fields_come_without_the_unasked_items(
    connector: SapConnector, http: httpx.AsyncClient
) -> None:
    urls = sent(http)
    records = await _orders(connector, STATUS_FIELDS)
    assert len(records) == 60
    assert all(set(r.fields) >= STATUS_FIELDS for r in records)
    assert all("to_Item" not in r.fields and "SoldToParty" not in r.fields for r in records)
    reads = [u for u in urls if "/A_SalesOrder?" in u]
    assert len(reads) > 1  # pages followed by __next keep the options
    assert all("select" in u and "expand" not in u for u in reads), reads


async def test_a_field_list_keeps_ids_versions_and_stamps_of_a_full_read(
    connector: SapConnector,
) -> None:
    narrow = await _orders(connector, STATUS_FIELDS)
    full = await _orders(connector, None)
    assert [(r.id, r.version, r.stamp) for r in narrow] == [
        (r.id, r.version, r.stamp) for r in full
    ]
    assert all(
        r.fields[f] == n.fields[f] for r, n in zip(full, narrow, strict=True) for f in STATUS_FIELDS
    )


async def test_asked_items_are_expanded(connector: SapConnector, sim_state: SapState) -> None:
    records = await _orders(connector, {"to_Item", "SoldToParty"})
    for record in records:
        items = record.fields["to_Item"]
        assert isinstance(items, list)
        assert len(items) == len(
            sim_state.related("A_SalesOrderItem", ("SalesOrder",), (record.id,))
        )
        assert "SoldToParty" in record.fields
        assert "PurchaseOrderByCustomer" not in record.fields


async def test_no_field_list_reads_everything(connector: SapConnector) -> None:
    [record] = await connector.get(ORDER, ["1000003"])
    assert {"to_Item", "SoldToParty", "PurchaseOrderByCustomer"} <= set(record.fields)


async def test_get_honours_the_field_list(connector: SapConnector, http: httpx.AsyncClient) -> None:
    urls = sent(http)
    records = await connector.get(ORDER, ["1000003", "1000001"], STATUS_FIELDS)
    assert sorted(r.id for r in records) == ["1000001", "1000003"]
    assert all("to_Item" not in r.fields for r in records)
    assert not any("expand" in u for u in urls)


async def test_compound_key_records_read_by_a_field_list_keep_their_ids(
    connector: SapConnector,
) -> None:
    full = [
        r async for p in connector.read_changes("A_MatlStkInAcctMod", None, 50) for r in p.records
    ]
    narrow = [
        r
        async for p in connector.read_changes(
            "A_MatlStkInAcctMod", None, 50, {"MatlWrhsStkQtyInMatlBaseUnit"}
        )
        for r in p.records
    ]
    assert [r.id for r in narrow] == [r.id for r in full]
    assert all("MatlWrhsStkQtyInMatlBaseUnit" in r.fields for r in narrow)
    assert all("MaterialBaseUnit" not in r.fields for r in narrow)
    assert (await connector.get("A_MatlStkInAcctMod", [full[1].id], {"Plant"}))[0].id == full[1].id


async def test_headers_stamped_through_their_items_still_read_their_items(
    connector: SapConnector, sim_state: SapState
) -> None:
    material = str(sim_state.rows("A_Product")[0]["Product"])
    op = WriteOp(
        mode=WriteMode.UPSERT,
        fields={
            "PurchaseRequisitionType": "NB",
            "PurReqnDescription": "SF-77",
            "to_PurchaseReqnItem": [
                {
                    "RequirementTracking": "77",
                    "Material": material,
                    "Plant": "1710",
                    "RequestedQuantity": Decimal("2"),
                    "DeliveryDate": "/Date(1773964800000)/",
                }
            ],
        },
        key_field="PurReqnDescription",
        key_value="SF-77",
    )
    [written] = await connector.write("A_PurchaseRequisitionHeader", [op])
    assert written.outcome is WriteOutcome.CREATED
    wanted = {"PurReqnDescription"}  # the stamp and the version come from the items
    read = [
        r
        async for p in connector.read_changes("A_PurchaseRequisitionHeader", None, 10, wanted)
        for r in p.records
    ]
    [got] = await connector.get("A_PurchaseRequisitionHeader", [written.target_id or ""], wanted)
    [full] = await connector.get("A_PurchaseRequisitionHeader", [written.target_id or ""])
    assert [r.id for r in read] == [written.target_id]
    assert read[0].stamp is not None
    assert read[0].fields["to_PurchaseReqnItem"]
    assert (got.version, got.fields.get("to_PurchaseReqnItem")) == (
        full.version,
        full.fields["to_PurchaseReqnItem"],
    )
