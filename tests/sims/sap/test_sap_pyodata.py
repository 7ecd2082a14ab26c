"""Contract tests: the unmodified pyodata client (over requests) against the simulator.

pyodata does not fetch the CSRF token itself; the tests fetch it through the requests
session as real users do (reference §9).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pyodata
import pytest
import requests
from pyodata.exceptions import HttpError
from pyodata.v2.service import Service

from erpbridge.sims._common.server import RunningServer
from erpbridge.sims.sap import SANDBOX_PASSWORD, SANDBOX_USER
from erpbridge.sims.sap.state import SapState
from tests.sims.sap.conftest import BP_ROOT, SO_ROOT


def _session(server: RunningServer, root: str) -> requests.Session:
    session = requests.Session()
    session.auth = (SANDBOX_USER, SANDBOX_PASSWORD)
    answer = session.head(server.base_url + root, headers={"x-csrf-token": "fetch"})
    session.headers.update({"x-csrf-token": answer.headers["x-csrf-token"]})
    return session


@pytest.fixture
def orders(sap_server: RunningServer) -> Service:
    return pyodata.Client(sap_server.base_url + SO_ROOT, _session(sap_server, SO_ROOT))


@pytest.fixture
def partners(sap_server: RunningServer) -> Service:
    return pyodata.Client(sap_server.base_url + BP_ROOT, _session(sap_server, BP_ROOT))


def test_pyodata_parses_metadata_of_every_service(sap_server: RunningServer) -> None:
    session = _session(sap_server, SO_ROOT)
    names = {}
    for service in (
        "API_BUSINESS_PARTNER",
        "API_SALES_ORDER_SRV",
        "API_PRODUCT_SRV",
        "API_MATERIAL_STOCK_SRV",
        "API_CRDTMBUSINESSPARTNER",
    ):
        client = pyodata.Client(f"{sap_server.base_url}/sap/opu/odata/sap/{service}/", session)
        names[service] = sorted(s.name for s in client.schema.entity_sets)
    assert names["API_SALES_ORDER_SRV"] == ["A_SalesOrder", "A_SalesOrderItem"]
    assert "A_Customer" in names["API_BUSINESS_PARTNER"]
    assert names["API_MATERIAL_STOCK_SRV"] == ["A_MaterialStock", "A_MatlStkInAcctMod"]


def test_pyodata_reads_changed_orders_with_filter_expand_and_inline_count(
    orders: Service, sap_state: SapState
) -> None:
    stamps = sorted(r["LastChangeDateTime"] for r in sap_state.rows("A_SalesOrder"))
    since = stamps[len(stamps) // 2]
    expected = sum(1 for s in stamps if s > since)  # type: ignore[operator]
    page = (
        orders.entity_sets.A_SalesOrder.get_entities()
        .filter(f"LastChangeDateTime gt datetimeoffset'{since.isoformat()}'")  # type: ignore[union-attr]
        .expand("to_Item")
        .order_by("LastChangeDateTime")
        .top(10)
        .count(inline=True)
        .execute()
    )
    assert page.total_count == expected
    assert len(page) == 10
    assert all(o.LastChangeDateTime > since for o in page)
    assert [o.LastChangeDateTime for o in page] == sorted(o.LastChangeDateTime for o in page)
    assert all(len(o.to_Item) >= 1 for o in page)


def test_pyodata_follows_next_link_through_server_paging(orders: Service) -> None:
    seen: list[str] = []
    result = orders.entity_sets.A_SalesOrder.get_entities().count(inline=True).execute()
    total = result.total_count
    seen += [o.SalesOrder for o in result]
    while result.next_url:
        result = orders.entity_sets.A_SalesOrder.get_entities().next_url(result.next_url).execute()
        seen += [o.SalesOrder for o in result]
    assert len(seen) == total == 60
    assert len(set(seen)) == 60


def test_pyodata_filter_by_orm_keywords_and_skip(orders: Service, sap_state: SapState) -> None:
    customer = sap_state.rows("A_SalesOrder")[0]["SoldToParty"]
    expected = sorted(
        r["SalesOrder"] for r in sap_state.rows("A_SalesOrder") if r["SoldToParty"] == customer
    )
    result = (
        orders.entity_sets.A_SalesOrder.get_entities()
        .filter(SoldToParty=customer)
        .order_by("SalesOrder")
        .skip(1)
        .execute()
    )
    assert [o.SalesOrder for o in result] == expected[1:]


def test_pyodata_creates_sales_order_with_items_by_deep_insert(
    orders: Service, sap_state: SapState
) -> None:
    customer = sap_state.rows("A_Customer")[3]["Customer"]
    created = (
        orders.entity_sets.A_SalesOrder.create_entity()
        .set(
            SalesOrderType="OR",
            SalesOrganization="1710",
            DistributionChannel="10",
            OrganizationDivision="00",
            SoldToParty=customer,
            PurchaseOrderByCustomer="SF-00012345",
            to_Item=[
                {"Material": "TG0011", "RequestedQuantity": "5"},
                {"Material": "TG0012", "RequestedQuantity": "2"},
            ],
        )
        .execute()
    )
    read = (
        orders.entity_sets.A_SalesOrder.get_entity(created.SalesOrder).expand("to_Item").execute()
    )
    assert read.PurchaseOrderByCustomer == "SF-00012345"
    assert [i.SalesOrderItem for i in read.to_Item] == ["10", "20"]
    # pyodata leaves Edm.Decimal as the wire string
    assert Decimal(read.TotalNetAmount) == sum(Decimal(i.NetAmount) for i in read.to_Item) > 0
    assert read.OverallSDProcessStatus == "A"


def test_pyodata_create_with_unknown_sold_to_party_raises_with_sap_message(
    orders: Service,
) -> None:
    request = orders.entity_sets.A_SalesOrder.create_entity().set(
        SalesOrderType="OR",
        SalesOrganization="1710",
        DistributionChannel="10",
        OrganizationDivision="00",
        SoldToParty="99999",
        to_Item=[{"Material": "TG0011", "RequestedQuantity": "1"}],
    )
    with pytest.raises(HttpError) as info:
        request.execute()
    body = info.value.response.json()
    assert info.value.response.status_code == 400
    assert body["error"]["code"] == "V1/302"
    assert "Sold-to party 99999" in body["error"]["message"]["value"]


def test_pyodata_updates_business_partner(partners: Service, sap_state: SapState) -> None:
    number = sap_state.rows("A_BusinessPartner")[0]["BusinessPartner"]
    before = partners.entity_sets.A_BusinessPartner.get_entity(number).execute()
    partners.entity_sets.A_BusinessPartner.update_entity(BusinessPartner=number).set(
        SearchTerm1="NEWTERM"
    ).execute()
    after = partners.entity_sets.A_BusinessPartner.get_entity(number).execute()
    assert after.SearchTerm1 == "NEWTERM"
    assert after.etag != before.etag


def test_pyodata_write_without_csrf_token_is_refused(sap_server: RunningServer) -> None:
    session = requests.Session()
    session.auth = (SANDBOX_USER, SANDBOX_PASSWORD)
    client = pyodata.Client(sap_server.base_url + BP_ROOT, session)
    number = "17100001"
    with pytest.raises(HttpError) as info:
        client.entity_sets.A_BusinessPartner.update_entity(BusinessPartner=number).set(
            SearchTerm1="X"
        ).execute()
    assert info.value.response.status_code == 403
    assert info.value.response.headers["x-csrf-token"] == "Required"


def test_pyodata_batch_changeset_and_retrieve(orders: Service, sap_state: SapState) -> None:
    order = sap_state.rows("A_SalesOrder")[-1]["SalesOrder"]
    batch = orders.create_batch()
    changeset = orders.create_changeset()
    changeset.add_request(
        orders.entity_sets.A_SalesOrder.update_entity(SalesOrder=order).set(
            PurchaseOrderByCustomer="BATCHED"
        )
    )
    batch.add_request(changeset)
    batch.add_request(orders.entity_sets.A_SalesOrder.get_entity(order))
    answers = batch.execute()
    assert answers[0] == [None]  # the changeset's update: 204
    assert answers[1].PurchaseOrderByCustomer == "BATCHED"


def test_pyodata_failed_changeset_rolls_back_every_operation(
    orders: Service, sap_state: SapState
) -> None:
    order = sap_state.rows("A_SalesOrder")[-1]["SalesOrder"]
    batch = orders.create_batch()
    changeset = orders.create_changeset()
    changeset.add_request(
        orders.entity_sets.A_SalesOrder.update_entity(SalesOrder=order).set(
            PurchaseOrderByCustomer="MUST-NOT-STAY"
        )
    )
    changeset.add_request(
        orders.entity_sets.A_SalesOrder.update_entity(SalesOrder="0000000").set(
            PurchaseOrderByCustomer="X"
        )
    )
    batch.add_request(changeset)
    with pytest.raises(HttpError, match="Changeset cannot be processed"):
        batch.execute()
    assert sap_state.get("A_SalesOrder", (order,))["PurchaseOrderByCustomer"] != "MUST-NOT-STAY"  # type: ignore[index]


def test_pyodata_reads_stock_of_material_at_plant(sap_server: RunningServer) -> None:
    root = "/sap/opu/odata/sap/API_MATERIAL_STOCK_SRV/"
    client = pyodata.Client(sap_server.base_url + root, _session(sap_server, root))
    rows = (
        client.entity_sets.A_MatlStkInAcctMod.get_entities()
        .filter("Material eq 'TG0011' and Plant eq '1710' and InventoryStockType eq '01'")
        .execute()
    )
    assert len(rows) == 1
    assert Decimal(rows[0].MatlWrhsStkQtyInMatlBaseUnit) > 0


def test_pyodata_sees_status_flow_after_business_day(
    orders: Service, sap_state: SapState, sap_server: RunningServer
) -> None:
    open_orders = (
        orders.entity_sets.A_SalesOrder.get_entities()
        .filter("OverallTotalDeliveryStatus eq 'A' and TotalCreditCheckStatus eq 'A'")
        .execute()
    )
    number = open_orders[0].SalesOrder
    session = requests.Session()
    session.auth = (SANDBOX_USER, SANDBOX_PASSWORD)
    assert session.post(sap_server.base_url + "/sim/tick").status_code == 200
    delivered = orders.entity_sets.A_SalesOrder.get_entity(number).execute()
    session.post(sap_server.base_url + "/sim/tick")
    invoiced = orders.entity_sets.A_SalesOrder.get_entity(number).execute()
    assert delivered.OverallTotalDeliveryStatus == "C"
    assert delivered.OverallSDProcessStatus == "B"
    assert invoiced.OverallOrdReltdBillgStatus == "C"
    assert invoiced.OverallSDProcessStatus == "C"
    assert (
        invoiced.LastChangeDateTime
        > delivered.LastChangeDateTime
        > datetime(2020, 1, 1, tzinfo=UTC)
    )


def test_pyodata_counts_and_navigates_between_order_and_items(orders: Service) -> None:
    count = orders.entity_sets.A_SalesOrder.get_entities().count().execute()
    items = (
        orders.entity_sets.A_SalesOrder.get_entity("1000001")
        .nav("to_Item")
        .get_entities()
        .execute()
    )
    item = orders.entity_sets.A_SalesOrderItem.get_entity(
        SalesOrder="1000001", SalesOrderItem=items[0].SalesOrderItem
    ).execute()
    ranged = (
        orders.entity_sets.A_SalesOrder.get_entities()
        .filter(SalesOrder__range=("1000001", "1000004"))
        .execute()
    )
    assert count == 60
    assert [i.SalesOrderItem for i in items][:1] == ["10"]
    assert item.nav("to_SalesOrder").execute().SalesOrder == "1000001"
    assert len(ranged) == 4  # pyodata's __range sends gte/lte; accepted leniently


def test_pyodata_changes_and_deletes_items_until_sap_delivers_them(
    orders: Service, sap_state: SapState, sap_server: RunningServer
) -> None:
    customer = sap_state.rows("A_Customer")[4]["Customer"]
    created = (
        orders.entity_sets.A_SalesOrder.create_entity()
        .set(
            SalesOrderType="OR",
            SalesOrganization="1710",
            DistributionChannel="10",
            OrganizationDivision="00",
            SoldToParty=customer,
            to_Item=[
                {"Material": "TG0011", "RequestedQuantity": "1", "ExternalItemID": "802A"},
                {"Material": "TG0012", "RequestedQuantity": "1", "ExternalItemID": "802B"},
            ],
        )
        .execute()
    )
    number = created.SalesOrder
    items = orders.entity_sets.A_SalesOrderItem
    items.update_entity(SalesOrder=number, SalesOrderItem="10").set(RequestedQuantity="4").execute()
    items.delete_entity(SalesOrder=number, SalesOrderItem="20").execute()
    session = requests.Session()
    session.auth = (SANDBOX_USER, SANDBOX_PASSWORD)
    session.post(sap_server.base_url + "/sim/tick")  # delivered
    with pytest.raises(HttpError) as info:
        items.update_entity(SalesOrder=number, SalesOrderItem="10").set(
            SalesDocumentRjcnReason="Z1"
        ).execute()
    read = orders.entity_sets.A_SalesOrder.get_entity(number).expand("to_Item").execute()
    assert [(i.SalesOrderItem, Decimal(i.RequestedQuantity)) for i in read.to_Item] == [
        ("10", Decimal(4))
    ]
    assert read.to_Item[0].ExternalItemID == "802A"
    body = info.value.response.json()
    assert info.value.response.status_code == 400
    assert "has already been delivered" in body["error"]["message"]["value"]
