"""The spi's field list on Salesforce: the SOQL selects the asked fields, lines when asked."""

from __future__ import annotations

import httpx

from erpbridge.connectors.salesforce import SalesforceConnector
from erpbridge.sims.salesforce.app import SalesforceSim
from erpbridge.spi.records import Record
from tests.connectors.sent import sent

ASKED = {"Status", "OrderNumber", "AccountId"}


def _queries(http: httpx.AsyncClient) -> list[str]:
    """The SOQL of every query the connector sends from now on."""
    return sent(http, lambda request: request.url.params.get("q"))


async def _orders(conn: SalesforceConnector, fields: set[str] | None) -> list[Record]:
    return [r async for p in conn.read_changes("Order", None, 50, fields) for r in p.records]


async def test_changes_carry_the_asked_fields_and_no_unasked_lines(
    connector: SalesforceConnector, sim: SalesforceSim, http: httpx.AsyncClient
) -> None:
    queries = _queries(http)
    records = await _orders(connector, ASKED)
    assert len(records) == len(sim.org.records["Order"])
    assert all(set(r.fields) >= ASKED for r in records)
    assert all("OrderItems" not in r.fields and "EffectiveDate" not in r.fields for r in records)
    assert queries and all("OrderItems" not in q and "EffectiveDate" not in q for q in queries)


async def test_a_field_list_keeps_ids_versions_stamps_and_tombstones(
    connector: SalesforceConnector,
) -> None:
    narrow = await _orders(connector, ASKED)
    full = await _orders(connector, None)
    assert [(r.id, r.version, r.stamp, r.deleted) for r in narrow] == [
        (r.id, r.version, r.stamp, r.deleted) for r in full
    ]
    assert all(f.fields[n] == r.fields[n] for f, r in zip(full, narrow, strict=True) for n in ASKED)


async def test_asked_lines_are_read(connector: SalesforceConnector, sim: SalesforceSim) -> None:
    records = await _orders(connector, {"OrderItems"})
    for record in records:
        live = {
            r["Id"]
            for r in sim.org.records["OrderItem"].values()
            if r["OrderId"] == record.id and not r["IsDeleted"]
        }
        assert {i["Id"] for i in record.fields["OrderItems"]} == live  # type: ignore[attr-defined]


async def test_get_honours_the_field_list_with_and_without_lines(
    connector: SalesforceConnector, sim: SalesforceSim
) -> None:
    ids = sorted(sim.org.records["Order"])[:3]
    plain = await connector.get("Order", ids, ASKED)
    lines = await connector.get("Order", ids, {"OrderItems", "Status"})
    full = await connector.get("Order", ids)
    assert sorted(r.id for r in plain) == sorted(r.id for r in lines) == sorted(ids)
    assert all(set(r.fields) >= ASKED and "OrderItems" not in r.fields for r in plain)
    assert all("OrderItems" in r.fields and "OrderNumber" not in r.fields for r in lines)
    assert {r.id: r.version for r in plain} == {r.id: r.version for r in full}
    assert all({"OrderItems", "EffectiveDate"} <= set(r.fields) for r in full)


async def test_unknown_names_in_the_list_are_ignored(connector: SalesforceConnector) -> None:
    records = await _orders(connector, {"Status", "No_Such_Field__c"})
    assert records and all("Status" in r.fields for r in records)
    assert all("No_Such_Field__c" not in r.fields for r in records)
