"""API_PURCHASEREQ_PROCESS_SRV: the unmodified pyodata client (over requests) against the
simulator, plus the sandbox controls that stand in for the approver and the buyer."""

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

PR_ROOT = "/sap/opu/odata/sap/API_PURCHASEREQ_PROCESS_SRV/"
DELIVERY = datetime(2026, 3, 20, tzinfo=UTC)


def _session(server: RunningServer) -> requests.Session:
    session = requests.Session()
    session.auth = (SANDBOX_USER, SANDBOX_PASSWORD)
    answer = session.head(server.base_url + PR_ROOT, headers={"x-csrf-token": "fetch"})
    session.headers.update({"x-csrf-token": answer.headers["x-csrf-token"]})
    return session


@pytest.fixture
def session(sap_server: RunningServer) -> requests.Session:
    return _session(sap_server)


@pytest.fixture
def reqs(sap_server: RunningServer, session: requests.Session) -> Service:
    return pyodata.Client(sap_server.base_url + PR_ROOT, session)


def _material(sap_state: SapState, n: int = 0) -> dict[str, object]:
    return sap_state.rows("A_Product")[n]


def _create(reqs: Service, items: list[dict[str, object]], text: str = "SF-00001001") -> str:
    created = (
        reqs.entity_sets.A_PurchaseRequisitionHeader.create_entity()
        .set(PurchaseRequisitionType="NB", PurReqnDescription=text, to_PurchaseReqnItem=items)
        .execute()
    )
    return str(created.PurchaseRequisition)


def _item(material: object, quantity: str = "4", **extra: object) -> dict[str, object]:
    return {
        "Material": material,
        "Plant": "1710",
        "RequestedQuantity": quantity,
        "DeliveryDate": DELIVERY,
        **extra,
    }


def _control(server: RunningServer, path: str) -> requests.Response:
    plain = requests.Session()
    plain.auth = (SANDBOX_USER, SANDBOX_PASSWORD)
    return plain.post(server.base_url + path)


def test_pyodata_parses_requisition_metadata(reqs: Service) -> None:
    sets = sorted(s.name for s in reqs.schema.entity_sets)
    header = reqs.schema.entity_type("A_PurchaseRequisitionHeaderType")
    item = reqs.schema.entity_type("A_PurchaseRequisitionItemType")
    assert sets == ["A_PurchaseRequisitionHeader", "A_PurchaseRequisitionItem"]
    assert header.nav_proprty("to_PurchaseReqnItem") is not None
    assert [p.name for p in item.key_proprties] == [
        "PurchaseRequisition",
        "PurchaseRequisitionItem",
    ]
    assert item.proprty("LastChangeDateTime").typ.name == "Edm.DateTimeOffset"


def test_deep_insert_creates_requisition_with_numbered_items_and_material_defaults(
    reqs: Service, sap_state: SapState
) -> None:
    product = _material(sap_state)
    number = _create(
        reqs,
        [
            _item(product["Product"], PurchasingGroup="002"),
            {
                "PurchaseRequisitionItemText": "Seal kit for pump P-7",
                "MaterialGroup": "L002",
                "BaseUnit": "PC",
                "Plant": "1310",
                "RequestedQuantity": "2",
                "DeliveryDate": DELIVERY,
            },
        ],
    )
    read = (
        reqs.entity_sets.A_PurchaseRequisitionHeader.get_entity(number)
        .expand("to_PurchaseReqnItem")
        .execute()
    )
    first, second = read.to_PurchaseReqnItem
    assert (read.PurchaseRequisitionType, read.PurReqnDescription) == ("NB", "SF-00001001")
    assert [first.PurchaseRequisitionItem, second.PurchaseRequisitionItem] == ["00010", "00020"]
    assert (first.BaseUnit, first.MaterialGroup) == (product["BaseUnit"], product["ProductGroup"])
    assert (first.PurchasingGroup, second.PurchasingGroup) == ("002", "001")
    assert (second.Material, second.CompanyCode) == ("", "1310")
    assert Decimal(first.ItemNetAmount) == Decimal(first.PurchaseRequisitionPrice) * 4
    assert (first.PurReqnReleaseStatus, first.ProcessingStatus, first.IsDeleted) == ("03", "N", "")
    assert first.DeliveryDate.date() == DELIVERY.date()
    assert first.LastChangeDateTime > datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("item", "code", "target"),
    [
        ({"Material": "NO-SUCH-MAT"}, "M3/305", "Material"),
        ({"Material": None, "PurchaseRequisitionItemText": "Gasket"}, "ME/083", "MaterialGroup"),
        ({"Plant": "9999"}, "ME/046", "Plant"),
        ({"RequestedQuantity": "0"}, "ME/083", "RequestedQuantity"),
        ({"DeliveryDate": None}, "ME/083", "DeliveryDate"),
    ],
)
def test_refused_requisition_names_the_field_and_keeps_nothing(
    reqs: Service, sap_state: SapState, item: dict[str, object], code: str, target: str
) -> None:
    good = _item(_material(sap_state)["Product"])
    request = reqs.entity_sets.A_PurchaseRequisitionHeader.create_entity().set(
        PurchaseRequisitionType="NB",
        PurReqnDescription="SF-bad",
        to_PurchaseReqnItem=[good, {**good, **item}],
    )
    with pytest.raises(HttpError) as info:
        request.execute()
    error = info.value.response.json()["error"]
    assert info.value.response.status_code == 400
    assert error["code"] == code
    assert error["innererror"]["errordetails"][0]["target"] == target
    assert sap_state.rows("A_PurchaseRequisitionHeader") == []
    assert sap_state.rows("A_PurchaseRequisitionItem") == []


def test_requisition_without_items_or_with_other_type_is_refused(reqs: Service) -> None:
    codes = []
    for fields in (
        {"PurchaseRequisitionType": "NB", "to_PurchaseReqnItem": []},
        {"PurchaseRequisitionType": "FO", "to_PurchaseReqnItem": [_item("X")]},
    ):
        with pytest.raises(HttpError) as info:
            reqs.entity_sets.A_PurchaseRequisitionHeader.create_entity().set(**fields).execute()
        codes.append(info.value.response.json()["error"]["code"])
    assert codes == ["W5/002", "ME/070"]


def test_items_changed_since_a_stamp_are_found_by_filter_and_order(
    reqs: Service, sap_state: SapState
) -> None:
    first = _create(reqs, [_item(_material(sap_state)["Product"])], "SF-1")
    stamp = sap_state.rows("A_PurchaseRequisitionItem")[0]["LastChangeDateTime"]
    second = _create(reqs, [_item(_material(sap_state, 1)["Product"])], "SF-2")
    changed = (
        reqs.entity_sets.A_PurchaseRequisitionItem.get_entities()
        .filter(f"LastChangeDateTime gt datetimeoffset'{stamp.isoformat()}'")
        .order_by("LastChangeDateTime asc,PurchaseRequisition asc")
        .execute()
    )
    assert first != second
    assert [i.PurchaseRequisition for i in changed] == [second]


def test_approver_releases_and_business_day_orders_then_item_is_locked(
    reqs: Service, sap_state: SapState, sap_server: RunningServer
) -> None:
    number = _create(reqs, [_item(_material(sap_state)["Product"])])
    items = reqs.entity_sets.A_PurchaseRequisitionItem

    def read() -> object:
        return items.get_entity(
            PurchaseRequisition=number, PurchaseRequisitionItem="00010"
        ).execute()

    before = read()
    answer = _control(sap_server, f"/sim/requisitions/{number}/release")
    released = read()
    assert _control(sap_server, "/sim/tick").status_code == 200
    ordered = read()
    with pytest.raises(HttpError) as info:
        items.update_entity(PurchaseRequisition=number, PurchaseRequisitionItem="00010").set(
            RequestedQuantity="9"
        ).execute()
    assert answer.json() == {"changed": 1}
    assert (released.PurReqnReleaseStatus, released.ProcessingStatus) == ("05", "N")
    assert released.LastChangeDateTime > before.LastChangeDateTime
    assert (ordered.ProcessingStatus, ordered.PurchasingDocument) == ("B", "4500000000")
    assert info.value.response.json()["error"]["code"] == "ME/164"
    assert _control(sap_server, "/sim/requisitions/99999999/release").status_code == 404


def test_rejected_requisition_stays_unordered(
    reqs: Service, sap_state: SapState, sap_server: RunningServer
) -> None:
    number = _create(reqs, [_item(_material(sap_state)["Product"])])
    _control(sap_server, f"/sim/requisitions/{number}/reject")
    _control(sap_server, "/sim/tick")
    item = reqs.entity_sets.A_PurchaseRequisitionItem.get_entity(
        PurchaseRequisition=number, PurchaseRequisitionItem="00010"
    ).execute()
    assert (item.PurReqnReleaseStatus, item.ProcessingStatus) == ("08", "N")


def test_item_change_reprices_and_sends_a_released_item_back_to_approval(
    reqs: Service, sap_state: SapState, sap_server: RunningServer
) -> None:
    number = _create(reqs, [_item(_material(sap_state)["Product"])])
    _control(sap_server, f"/sim/requisitions/{number}/release")
    items = reqs.entity_sets.A_PurchaseRequisitionItem
    items.update_entity(PurchaseRequisition=number, PurchaseRequisitionItem="00010").set(
        RequestedQuantity="8", PurchaseRequisitionItemText="two more"
    ).execute()
    item = items.get_entity(PurchaseRequisition=number, PurchaseRequisitionItem="00010").execute()
    assert Decimal(item.RequestedQuantity) == 8
    assert Decimal(item.ItemNetAmount) == Decimal(item.PurchaseRequisitionPrice) * 8
    assert (item.PurchaseRequisitionItemText, item.PurReqnReleaseStatus) == ("two more", "03")


def test_header_changes_only_its_description_and_cannot_be_deleted(
    reqs: Service, sap_state: SapState, session: requests.Session, sap_server: RunningServer
) -> None:
    number = _create(reqs, [_item(_material(sap_state)["Product"])])
    headers = reqs.entity_sets.A_PurchaseRequisitionHeader
    headers.update_entity(PurchaseRequisition=number).set(
        PurReqnDescription="SF-renamed", PurchaseRequisitionType="ZZ"
    ).execute()
    read = headers.get_entity(number).execute()
    deleted = session.delete(
        f"{sap_server.base_url}{PR_ROOT}A_PurchaseRequisitionHeader('{number}')"
    )
    assert (read.PurReqnDescription, read.PurchaseRequisitionType) == ("SF-renamed", "NB")
    assert deleted.status_code == 405


def test_item_added_through_navigation_and_deleted_item_is_flagged(
    reqs: Service, sap_state: SapState, session: requests.Session, sap_server: RunningServer
) -> None:
    number = _create(reqs, [_item(_material(sap_state)["Product"])])
    url = (
        f"{sap_server.base_url}{PR_ROOT}A_PurchaseRequisitionHeader('{number}')/to_PurchaseReqnItem"
    )
    body = {**_item(_material(sap_state, 2)["Product"]), "DeliveryDate": "/Date(1773964800000)/"}
    added = session.post(url, json=body, headers={"Accept": "application/json"})
    item_url = (
        f"{sap_server.base_url}{PR_ROOT}A_PurchaseRequisitionItem("
        f"PurchaseRequisition='{number}',PurchaseRequisitionItem='00010')"
    )
    deleted = session.delete(item_url)
    items = (
        reqs.entity_sets.A_PurchaseRequisitionHeader.get_entity(number)
        .expand("to_PurchaseReqnItem")
        .execute()
        .to_PurchaseReqnItem
    )
    assert (added.status_code, added.json()["d"]["PurchaseRequisitionItem"]) == (201, "00020")
    assert deleted.status_code == 204
    assert [(i.PurchaseRequisitionItem, i.IsDeleted) for i in items] == [
        ("00010", "X"),
        ("00020", ""),
    ]
