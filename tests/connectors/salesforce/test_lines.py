"""Order lines: OrderItems read with their Order as a LINES field."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from erpbridge.connectors.salesforce import SalesforceConnector
from erpbridge.sims.salesforce.app import SalesforceSim
from erpbridge.spi.errors import ConnectorError
from erpbridge.spi.records import Cursor, WriteMode, WriteOp, WriteOutcome
from erpbridge.spi.schema import FieldType

from .conftest import FakeClock


def _items_of(sim: SalesforceSim, order_id: str) -> set[str]:
    return {
        str(r["Id"])
        for r in sim.org.records["OrderItem"].values()
        if r["OrderId"] == order_id and not r["IsDeleted"]
    }


async def test_describe_shows_order_items_as_lines(connector: SalesforceConnector) -> None:
    order = (await connector.describe()).objects["Order"]
    lines = order.field("OrderItems")
    assert lines is not None
    assert (lines.type, lines.read_only) == (FieldType.LINES, True)
    assert lines.lines is not None
    assert lines.lines.field("Quantity") is not None


async def test_order_changes_carry_their_items(
    connector: SalesforceConnector, sim: SalesforceSim
) -> None:
    records = [r async for page in connector.read_changes("Order", None, 50) for r in page.records]
    assert len(records) == len(sim.org.records["Order"])
    for record in records:
        items = record.fields["OrderItems"]
        assert isinstance(items, list)
        assert {item["Id"] for item in items} == _items_of(sim, record.id)
        assert all("attributes" not in item for item in items)


async def test_a_changed_item_brings_its_order_back_with_the_new_line(
    connector: SalesforceConnector, sim: SalesforceSim, clock: FakeClock
) -> None:
    order = next(r for r in sim.org.records["Order"].values() if r["Status"] == "Draft")
    item = next(r for r in sim.org.records["OrderItem"].values() if r["OrderId"] == order["Id"])
    clock.now += timedelta(days=1)
    written = await connector.write(
        "OrderItem", [WriteOp(WriteMode.UPDATE, {"Quantity": 999}, target_id=str(item["Id"]))]
    )
    cursor = Cursor(stamp=clock.now - timedelta(seconds=1))
    changed = [
        r async for page in connector.read_changes("Order", cursor, 10) for r in page.records
    ]
    assert written[0].outcome is WriteOutcome.UPDATED
    assert [r.id for r in changed] == [order["Id"]]
    quantities = {i["Id"]: i["Quantity"] for i in changed[0].fields["OrderItems"]}  # type: ignore[attr-defined,index]
    assert quantities[item["Id"]] == 999.0


async def test_get_returns_orders_with_their_items(
    connector: SalesforceConnector, sim: SalesforceSim
) -> None:
    order_id = sorted(sim.org.records["Order"])[0]
    [record] = await connector.get("Order", [order_id, "801Sm0000000zzzAAA"])
    assert {i["Id"] for i in record.fields["OrderItems"]} == _items_of(sim, order_id)  # type: ignore[attr-defined]


async def test_writing_lines_through_the_parent_is_refused_per_record(
    connector: SalesforceConnector, sim: SalesforceSim
) -> None:
    order_id = sorted(sim.org.records["Order"])[0]
    op = WriteOp(WriteMode.UPDATE, {"OrderItems": [{"Quantity": 1}]}, target_id=order_id)
    [result] = await connector.write("Order", [op])
    assert result.outcome is WriteOutcome.FAILED
    assert result.error is not None
    assert "write the child object's records" in result.error.message


async def test_lines_can_be_turned_off(make_connector: Callable[..., SalesforceConnector]) -> None:
    order = await make_connector(lines={}).schema("Order")
    assert order.field("OrderItems") is None


async def test_unknown_line_relationship_is_reported(
    make_connector: Callable[..., SalesforceConnector],
) -> None:
    with pytest.raises(ConnectorError, match="no child relationship 'Lines'"):
        await make_connector(lines={"Order": ("Lines",)}).schema("Order")
