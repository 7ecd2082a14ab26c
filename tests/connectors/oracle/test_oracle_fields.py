"""The spi's field list on Oracle: child collections are expanded only when asked."""

from __future__ import annotations

import httpx

from erpbridge.connectors.oracle import OracleConnector
from erpbridge.spi.records import Record
from tests.connectors.sent import sent

ORDERS = "salesOrdersForOrderHub"


async def _orders(conn: OracleConnector, fields: set[str] | None) -> list[Record]:
    return [r async for p in conn.read_changes(ORDERS, None, 50, fields) for r in p.records]


async def test_orders_read_without_their_children_are_not_expanded(
    connector: OracleConnector, http: httpx.AsyncClient
) -> None:
    urls = sent(http)
    narrow = await _orders(connector, {"OrderNumber", "StatusCode"})
    assert urls and not any("expand" in u for u in urls)
    full = await _orders(connector, None)
    assert [(r.id, r.version, r.stamp) for r in narrow] == [
        (r.id, r.version, r.stamp) for r in full
    ]
    assert all("lines" not in r.fields and "OrderNumber" in r.fields for r in narrow)
    assert all(isinstance(r.fields["lines"], list) for r in full)


async def test_asked_children_alone_are_expanded(
    connector: OracleConnector, http: httpx.AsyncClient
) -> None:
    urls = sent(http)
    records = await _orders(connector, {"lines"})
    got = await connector.get(ORDERS, [records[0].id], {"lines"})
    assert all(isinstance(r.fields["lines"], list) for r in [*records, *got])
    assert all("billToCustomer" not in r.fields for r in [*records, *got])
    assert all("expand=lines&" in u or u.endswith("expand=lines") for u in urls if "expand" in u)
