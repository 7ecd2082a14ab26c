"""The spi's field list on YonBIP: sales orders without their lines cost no detail call."""

from __future__ import annotations

import httpx

from erpbridge.connectors.yonbip import YonBipConnector
from erpbridge.spi.records import Record
from tests.connectors.sent import sent

STATUS = {"code", "status", "nextStatusName"}


def _details(http: httpx.AsyncClient) -> list[str]:
    """URLs of the order detail calls made from now on."""
    return sent(
        http,
        lambda request: (
            str(request.url) if request.url.path.endswith("/voucherorder/detail") else None
        ),
    )


async def _orders(conn: YonBipConnector, fields: set[str] | None) -> list[Record]:
    return [r async for p in conn.read_changes("voucherorder", None, 4, fields) for r in p.records]


async def test_orders_read_without_lines_make_no_detail_calls(
    connector: YonBipConnector, http: httpx.AsyncClient
) -> None:
    details = _details(http)
    narrow = await _orders(connector, STATUS)
    assert details == []
    full = await _orders(connector, None)
    assert len(details) == len(full) == len(narrow) == 15
    assert [(r.id, r.stamp) for r in narrow] == [(r.id, r.stamp) for r in full]
    assert all(
        n.fields[f] == r.fields[f] for n, r in zip(narrow, full, strict=True) for f in STATUS
    )
    assert all("orderDetails" not in r.fields for r in narrow)


async def test_asked_lines_are_read_in_detail(
    connector: YonBipConnector, http: httpx.AsyncClient
) -> None:
    details = _details(http)
    records = await _orders(connector, {"code", "orderDetails"})
    assert len(details) == len(records) == 15
    assert all(r.fields["orderDetails"] for r in records)


async def test_a_header_lacking_an_asked_field_is_read_in_detail(
    connector: YonBipConnector, http: httpx.AsyncClient
) -> None:
    details = _details(http)
    records = await _orders(connector, {"code", "not_on_the_list_row"})
    assert len(details) == len(records) == 15  # the detail may have it: never fewer fields
