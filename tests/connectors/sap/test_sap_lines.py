"""Line-level updates of sales orders against the SAP simulator: items changed, added,
removed, rejected, all or nothing, refused after delivery, guarded by the ETag."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import httpx
import pytest

from erpbridge.connectors.sap import SapConnector
from erpbridge.sims._common.faults import FaultConfig, FaultMiddleware
from erpbridge.sims.sap.rules import Rules
from erpbridge.sims.sap.state import SapState
from erpbridge.spi import (
    ConflictError,
    TransientError,
    ValidationError,
    WriteMode,
    WriteOp,
    WriteOutcome,
)
from tests.connectors.sap.conftest import settings

Line = tuple[str, str, str]  # (ExternalItemID, Material, quantity)


def _order(po: str, lines: list[Line], **header: object) -> dict[str, object]:
    return {
        "SalesOrderType": "OR",
        "SalesOrganization": "1710",
        "DistributionChannel": "10",
        "OrganizationDivision": "00",
        "SoldToParty": "17100001",
        "PurchaseOrderByCustomer": po,
        **header,
        "to_Item": [
            {"ExternalItemID": ref, "Material": material, "RequestedQuantity": Decimal(qty)}
            for ref, material, qty in lines
        ],
    }


def _items(state: SapState, order: str) -> dict[str, tuple[str, str, Decimal]]:
    """ExternalItemID -> (item number, material, quantity) of the order's items."""
    return {
        str(i["ExternalItemID"]): (
            str(i["SalesOrderItem"]),
            str(i["Material"]),
            Decimal(str(i["RequestedQuantity"])),
        )
        for i in state.related("A_SalesOrderItem", ("SalesOrder",), (order,))
    }


async def _create(connector: SapConnector, po: str, lines: list[Line]) -> str:
    [created] = await connector.write(
        "A_SalesOrder", [WriteOp(WriteMode.CREATE, _order(po, lines))]
    )
    assert created.outcome is WriteOutcome.CREATED, created.error
    assert created.target_id
    return created.target_id


async def _update(connector: SapConnector, order: str, po: str, lines: list[Line], **h: object):
    [result] = await connector.write(
        "A_SalesOrder", [WriteOp(WriteMode.UPDATE, _order(po, lines, **h), target_id=order)]
    )
    return result


async def test_changed_added_and_removed_lines_change_exactly_those_items(
    connector: SapConnector, sim_state: SapState
) -> None:
    lines = [("L1", "TG0011", "1"), ("L2", "TG0012", "2"), ("L3", "TG0013", "3")]
    order = await _create(connector, "SF-LINES", lines)
    result = await _update(
        connector,
        order,
        "SF-LINES",
        [("L2", "TG0012", "2"), ("L1", "TG0011", "5"), ("L4", "TG0014", "4")],
    )
    assert result.outcome is WriteOutcome.UPDATED, result.error
    assert _items(sim_state, order) == {
        "L1": ("10", "TG0011", Decimal(5)),  # changed in place, its number kept
        "L2": ("20", "TG0012", Decimal(2)),  # untouched
        "L4": ("40", "TG0014", Decimal(4)),  # new; L3 (30) deleted
    }
    stored = sim_state.get("A_SalesOrder", (order,))
    assert stored is not None
    net = sum(
        (i["NetAmount"] for i in sim_state.related("A_SalesOrderItem", ("SalesOrder",), (order,))),
        Decimal(0),
    )
    assert stored["TotalNetAmount"] == net


async def test_update_with_unchanged_lines_sends_no_item_request(
    connector: SapConnector, sim_state: SapState
) -> None:
    lines = [("L1", "TG0011", "1"), ("L2", "TG0012", "2")]
    order = await _create(connector, "SF-SAME", lines)
    before = sim_state.related("A_SalesOrderItem", ("SalesOrder",), (order,))
    result = await _update(connector, order, "SF-SAME", lines, HeaderBillingBlockReason="01")
    after = sim_state.related("A_SalesOrderItem", ("SalesOrder",), (order,))
    stored = sim_state.get("A_SalesOrder", (order,))
    assert result.outcome is WriteOutcome.UPDATED, result.error
    assert stored is not None and stored["HeaderBillingBlockReason"] == "01"
    assert after == before


async def test_a_failing_item_rolls_back_the_header_and_every_other_item(
    connector: SapConnector, sim_state: SapState
) -> None:
    order = await _create(connector, "SF-ATOMIC", [("L1", "TG0011", "1"), ("L2", "TG0012", "2")])
    header_before = dict(sim_state.get("A_SalesOrder", (order,)) or {})
    items_before = _items(sim_state, order)
    result = await _update(
        connector,
        order,
        "SF-ATOMIC",
        [("L1", "TG0011", "9"), ("L3", "NO-SUCH-MATERIAL", "1")],
        HeaderBillingBlockReason="01",
    )
    assert result.outcome is WriteOutcome.FAILED
    assert isinstance(result.error, ValidationError)
    assert "Material NO-SUCH-MATERIAL is not defined" in result.error.message
    assert result.error.field == "Material"
    assert _items(sim_state, order) == items_before
    assert sim_state.get("A_SalesOrder", (order,)) == header_before


async def test_rejecting_every_line_rejects_the_order_and_clears_its_value(
    connector: SapConnector, sim_state: SapState
) -> None:
    order = await _create(connector, "SF-REJECT", [("L1", "TG0011", "1"), ("L2", "TG0012", "2")])
    body = _order("SF-REJECT", [("L1", "TG0011", "1"), ("L2", "TG0012", "2")])
    for line in body["to_Item"]:  # type: ignore[attr-defined]
        line["SalesDocumentRjcnReason"] = "Z1"
    [result] = await connector.write(
        "A_SalesOrder", [WriteOp(WriteMode.UPDATE, body, target_id=order)]
    )
    stored = sim_state.get("A_SalesOrder", (order,))
    items = sim_state.related("A_SalesOrderItem", ("SalesOrder",), (order,))
    assert result.outcome is WriteOutcome.UPDATED, result.error
    assert {i["SalesDocumentRjcnReason"] for i in items} == {"Z1"}
    assert stored is not None
    assert (stored["OverallSDDocumentRejectionSts"], stored["TotalNetAmount"]) == ("C", 0)
    assert Rules(sim_state).tick() >= 0
    assert sim_state.get("A_SalesOrder", (order,))["OverallTotalDeliveryStatus"] == "A"  # type: ignore[index]


async def test_change_after_delivery_is_refused_with_sap_text_and_a_hint(
    connector: SapConnector, sim_state: SapState
) -> None:
    lines = [("L1", "TG0011", "1")]
    order = await _create(connector, "SF-DELIVERED", lines)
    Rules(sim_state).tick()  # one business day: the order is delivered
    body = _order("SF-DELIVERED", lines)
    body["to_Item"][0]["SalesDocumentRjcnReason"] = "Z1"  # type: ignore[index]
    [result] = await connector.write(
        "A_SalesOrder", [WriteOp(WriteMode.UPDATE, body, target_id=order)]
    )
    error = result.error
    assert result.outcome is WriteOutcome.FAILED
    assert isinstance(error, ValidationError)
    assert "has already been delivered" in error.message  # SAP's own text, kept verbatim
    assert error.hint is not None
    assert error.hint.startswith(f"SAP order {order} is already delivered; cancel it in SAP")
    item = sim_state.get("A_SalesOrderItem", (order, "10"))
    assert item is not None and not item["SalesDocumentRjcnReason"]


async def test_removing_a_delivered_line_is_refused(
    connector: SapConnector, sim_state: SapState
) -> None:
    order = await _create(connector, "SF-KEEP", [("L1", "TG0011", "1"), ("L2", "TG0012", "1")])
    Rules(sim_state).tick()
    result = await _update(connector, order, "SF-KEEP", [("L1", "TG0011", "1")])
    assert result.outcome is WriteOutcome.FAILED
    assert "cannot be deleted: subsequent documents exist" in str(result.error)
    assert set(_items(sim_state, order)) == {"L1", "L2"}


async def test_items_without_a_reference_are_adopted_by_material_not_duplicated(
    connector: SapConnector, sim_state: SapState
) -> None:
    legacy = _order("SF-LEGACY", [("", "TG0011", "1"), ("", "TG0012", "2")])
    [created] = await connector.write("A_SalesOrder", [WriteOp(WriteMode.CREATE, legacy)])
    order = str(created.target_id)
    result = await _update(
        connector, order, "SF-LEGACY", [("L1", "TG0011", "1"), ("L2", "TG0012", "3")]
    )
    assert result.outcome is WriteOutcome.UPDATED, result.error
    assert _items(sim_state, order) == {
        "L1": ("10", "TG0011", Decimal(1)),
        "L2": ("20", "TG0012", Decimal(3)),
    }


def _changing_before_batch(app: Callable, state: SapState, order: str) -> Callable:
    """An ASGI wrapper: someone changes the order in SAP just before our $batch arrives."""

    async def wrapped(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "http" and scope["path"].endswith("$batch"):
            Rules(state).update(
                state.sets["A_SalesOrder"],
                (order,),
                {"DeliveryBlockReason": "01"},
                replace=False,
            )
        await app(scope, receive, send)

    return wrapped


async def test_order_changed_in_sap_since_the_read_is_a_conflict(
    connector: SapConnector, sim_state: SapState, faults: object
) -> None:
    order = await _create(connector, "SF-RACE", [("L1", "TG0011", "1")])
    transport = httpx.ASGITransport(app=_changing_before_batch(faults, sim_state, order))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport) as http:
        racing = SapConnector(settings(), http)
        result = await _update(racing, order, "SF-RACE", [("L1", "TG0011", "7")])
    assert result.outcome is WriteOutcome.FAILED
    assert isinstance(result.error, ConflictError)
    assert _items(sim_state, order)["L1"][2] == Decimal(1)


async def test_upsert_by_key_updates_lines_too(
    connector: SapConnector, sim_state: SapState
) -> None:
    order = await _create(connector, "SF-UPSERT", [("L1", "TG0011", "1")])
    op = WriteOp(
        WriteMode.UPSERT,
        _order("SF-UPSERT", [("L1", "TG0011", "2"), ("L2", "TG0012", "1")]),
        key_field="PurchaseOrderByCustomer",
        key_value="SF-UPSERT",
    )
    [result] = await connector.write("A_SalesOrder", [op])
    assert (result.outcome, result.target_id) == (WriteOutcome.UPDATED, order)
    assert _items(sim_state, order) == {
        "L1": ("10", "TG0011", Decimal(2)),
        "L2": ("20", "TG0012", Decimal(1)),
    }


async def test_many_item_requests_are_split_into_several_batch_calls_never_a_changeset(
    sim_state: SapState, faults: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from erpbridge.connectors.sap import connector as sap_connector

    calls: list[str] = []

    async def counting(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "http" and scope["path"].endswith("$batch"):
            calls.append(scope["path"])
        await faults(scope, receive, send)  # type: ignore[operator]

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=counting)) as http:
        conn = SapConnector(settings(), http)
        orders = [await _create(conn, f"SF-SPLIT-{n}", [("L1", "TG0011", "1")]) for n in range(3)]
        monkeypatch.setattr(sap_connector, "MAX_BATCH_REQUESTS", 3)
        calls.clear()
        ops = [
            WriteOp(
                WriteMode.UPDATE,
                _order(f"SF-SPLIT-{n}", [("L1", "TG0011", "2"), ("L2", "TG0012", "1")]),
                target_id=order,
            )
            for n, order in enumerate(orders)
        ]
        results = await conn.write("A_SalesOrder", ops)
    assert [r.outcome for r in results] == [WriteOutcome.UPDATED] * 3
    assert len(calls) == 3  # header + 2 item requests each: one changeset per call
    assert all(set(_items(sim_state, o)) == {"L1", "L2"} for o in orders)


async def test_two_lines_with_one_reference_are_refused_naming_both(
    connector: SapConnector, sim_state: SapState
) -> None:
    order = await _create(connector, "SF-DUP", [("L1", "TG0011", "1")])
    before = _items(sim_state, order)
    result = await _update(
        connector,
        order,
        "SF-DUP",
        [("L1", "TG0011", "1"), ("L2", "TG0012", "1"), ("L1", "TG0013", "1")],
    )
    assert result.outcome is WriteOutcome.FAILED
    assert isinstance(result.error, ValidationError)
    assert "to_Item lines 1 and 3 carry the same ExternalItemID 'L1'" in result.error.message
    assert result.error.field == "to_Item.ExternalItemID"
    assert _items(sim_state, order) == before


async def test_a_copied_item_with_a_reference_already_matched_is_removed(
    connector: SapConnector, sim_state: SapState
) -> None:
    order = await _create(connector, "SF-COPY", [("L1", "TG0011", "1"), ("L1", "TG0011", "1")])
    result = await _update(connector, order, "SF-COPY", [("L1", "TG0011", "2")])
    items = sim_state.related("A_SalesOrderItem", ("SalesOrder",), (order,))
    assert result.outcome is WriteOutcome.UPDATED, result.error
    assert [(i["SalesOrderItem"], i["RequestedQuantity"]) for i in items] == [("10", 2)]


async def test_retry_after_a_lost_answer_adds_no_second_item(
    connector: SapConnector, sim_state: SapState, faults: FaultMiddleware
) -> None:
    order = await _create(connector, "SF-LOSTLINE", [("L1", "TG0011", "1")])
    lines = [("L1", "TG0011", "2"), ("L2", "TG0012", "1")]
    faults.configure(
        FaultConfig(
            lost_reply_rate=1.0, path_prefix="/sap/opu/odata/sap/API_SALES_ORDER_SRV/$batch"
        )
    )
    with pytest.raises(TransientError):
        await _update(connector, order, "SF-LOSTLINE", lines)  # applied, answer lost
    faults.configure(FaultConfig())
    retry = await _update(connector, order, "SF-LOSTLINE", lines)
    assert retry.outcome is WriteOutcome.UPDATED, retry.error
    assert _items(sim_state, order) == {
        "L1": ("10", "TG0011", Decimal(2)),
        "L2": ("20", "TG0012", Decimal(1)),
    }


async def test_an_order_reactivated_in_the_crm_takes_its_rejection_back(
    connector: SapConnector, sim_state: SapState
) -> None:
    lines = [("L1", "TG0011", "1"), ("L2", "TG0012", "2")]
    order = await _create(connector, "SF-UNDO", lines)
    value = (sim_state.get("A_SalesOrder", (order,)) or {})["TotalNetAmount"]
    rejected = _order("SF-UNDO", lines)
    for line in rejected["to_Item"]:  # type: ignore[attr-defined]
        line["SalesDocumentRjcnReason"] = "Z1"
    await connector.write("A_SalesOrder", [WriteOp(WriteMode.UPDATE, rejected, target_id=order)])
    restored = _order("SF-UNDO", lines)
    for line in restored["to_Item"]:  # type: ignore[attr-defined]
        line["SalesDocumentRjcnReason"] = ""
    [result] = await connector.write(
        "A_SalesOrder", [WriteOp(WriteMode.UPDATE, restored, target_id=order)]
    )
    stored = sim_state.get("A_SalesOrder", (order,))
    assert result.outcome is WriteOutcome.UPDATED, result.error
    assert stored is not None
    assert (stored["OverallSDDocumentRejectionSts"], stored["OverallSDProcessStatus"]) == ("A", "A")
    assert stored["TotalNetAmount"] == value
