"""Goods movements through API_MATERIAL_DOCUMENT_SRV over real HTTP (httpx, and pyodata).

A posted material document changes A_MatlStkInAcctMod (and A_MaterialStock) for its
material, plant and storage location; an issue beyond the stock is M7 021 and posts
nothing; the document reads back by key with its items.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pyodata
import pytest
import requests

from erpbridge.sims._common.persist import DocumentStore
from erpbridge.sims._common.server import RunningServer
from erpbridge.sims.sap import SANDBOX_PASSWORD, SANDBOX_USER, SeedSize, build_app
from erpbridge.sims.sap.seed import seed_state
from erpbridge.sims.sap.state import SapState

MD_ROOT = "/sap/opu/odata/sap/API_MATERIAL_DOCUMENT_SRV/"
STOCK_ROOT = "/sap/opu/odata/sap/API_MATERIAL_STOCK_SRV/"


@pytest.fixture
async def http(sap_server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    """A client on loopback with a session and its CSRF token, as SAP clients work."""
    async with httpx.AsyncClient(
        base_url=sap_server.base_url, auth=(SANDBOX_USER, SANDBOX_PASSWORD), timeout=30
    ) as client:
        fetched = await client.get(MD_ROOT, headers={"X-CSRF-Token": "Fetch"})
        client.headers["X-CSRF-Token"] = fetched.headers["x-csrf-token"]
        yield client


def _unrestricted(state: SapState, material: str, plant: str, sloc: str) -> Decimal | None:
    row = state.get("A_MatlStkInAcctMod", (material, plant, sloc, "", "", "", "", "", "", "", "01"))
    return None if row is None else row["MatlWrhsStkQtyInMatlBaseUnit"]  # type: ignore[return-value]


def _document(code: str, *items: dict[str, object]) -> dict[str, object]:
    return {
        "GoodsMovementCode": code,
        "PostingDate": "/Date(1772409600000)/",  # 2026-03-02
        "MaterialDocumentHeaderText": "erpbridge test",
        "to_MaterialDocumentItem": list(items),
    }


async def _stock_of(http: httpx.AsyncClient, material: str) -> dict[tuple[str, str, str], str]:
    """(plant, storage location, stock type) -> quantity, read through the stock API."""
    answer = await http.get(
        STOCK_ROOT + f"A_MaterialStock('{material}')", params={"$expand": "to_MatlStkInAcctMod"}
    )
    answer.raise_for_status()
    rows = answer.json()["d"]["to_MatlStkInAcctMod"]["results"]
    return {
        (r["Plant"], r["StorageLocation"], r["InventoryStockType"]): r[
            "MatlWrhsStkQtyInMatlBaseUnit"
        ]
        for r in rows
    }


def test_pyodata_posts_initial_stock_for_a_new_material_and_reads_the_document_back(
    sap_server: RunningServer, sap_state: SapState
) -> None:
    session = requests.Session()
    session.auth = (SANDBOX_USER, SANDBOX_PASSWORD)
    root = sap_server.base_url + MD_ROOT
    token = session.head(root, headers={"x-csrf-token": "fetch"}).headers["x-csrf-token"]
    session.headers.update({"x-csrf-token": token})
    # A material the CRM just created in SAP: no stock yet.
    products = pyodata.Client(sap_server.base_url + "/sap/opu/odata/sap/API_PRODUCT_SRV/", session)
    products.entity_sets.A_Product.create_entity().set(
        Product="CRM-4711", ProductType="FERT", BaseUnit="PC"
    ).execute()
    service = pyodata.Client(root, session)
    assert sorted(s.name for s in service.schema.entity_sets) == [
        "A_MaterialDocumentHeader",
        "A_MaterialDocumentItem",
    ]

    posted = (
        service.entity_sets.A_MaterialDocumentHeader.create_entity()
        .set(
            GoodsMovementCode="05",
            PostingDate=datetime(2026, 3, 2, tzinfo=UTC),
            to_MaterialDocumentItem=[
                {
                    "Material": "CRM-4711",
                    "Plant": "1710",
                    "StorageLocation": "171A",
                    "GoodsMovementType": "561",
                    "QuantityInEntryUnit": "120",
                    "EntryUnit": "PC",
                },
                {
                    "Material": "CRM-4711",
                    "Plant": "1310",
                    "StorageLocation": "131A",
                    "GoodsMovementType": "561",
                    "QuantityInEntryUnit": "7.5",
                },
            ],
        )
        .execute()
    )
    read = (
        service.entity_sets.A_MaterialDocumentHeader.get_entity(
            MaterialDocumentYear="2026", MaterialDocument=posted.MaterialDocument
        )
        .expand("to_MaterialDocumentItem")
        .execute()
    )

    assert posted.MaterialDocument.startswith("49")
    assert (read.GoodsMovementCode, read.InventoryTransactionType) == ("05", "WA")
    assert [
        (i.MaterialDocumentItem, i.Plant, i.GoodsMovementType, Decimal(str(i.QuantityInBaseUnit)))
        for i in read.to_MaterialDocumentItem
    ] == [("1", "1710", "561", Decimal(120)), ("2", "1310", "561", Decimal("7.5"))]
    assert all(i.MaterialBaseUnit == "PC" for i in read.to_MaterialDocumentItem)
    assert _unrestricted(sap_state, "CRM-4711", "1710", "171A") == Decimal(120)
    assert _unrestricted(sap_state, "CRM-4711", "1310", "131A") == Decimal("7.5")
    assert sap_state.get("A_MaterialStock", ("CRM-4711",)) is not None


async def test_issue_changes_the_stock_the_stock_api_serves(
    http: httpx.AsyncClient, sap_state: SapState
) -> None:
    before = await _stock_of(http, "TG0011")
    have = Decimal(before[("1710", "171A", "01")])

    answer = await http.post(
        MD_ROOT + "A_MaterialDocumentHeader",
        json=_document(
            "03",
            {
                "Material": "TG0011",
                "Plant": "1710",
                "StorageLocation": "171A",
                "GoodsMovementType": "201",
                "CostCenter": "17101101",
                "QuantityInEntryUnit": "40",
            },
        ),
    )

    assert answer.status_code == 201, answer.text
    body = answer.json()["d"]
    assert answer.headers["location"].endswith(
        f"A_MaterialDocumentHeader(MaterialDocumentYear='2026',MaterialDocument='{body['MaterialDocument']}')"
    )
    assert body["to_MaterialDocumentItem"]["results"][0]["QuantityInBaseUnit"] == "40"
    after = await _stock_of(http, "TG0011")
    assert Decimal(after[("1710", "171A", "01")]) == have - 40
    assert after[("1310", "131A", "01")] == before[("1310", "131A", "01")]


async def test_issue_beyond_stock_is_m7_021_and_posts_nothing(
    http: httpx.AsyncClient, sap_state: SapState
) -> None:
    have = _unrestricted(sap_state, "TG0012", "1710", "171A")
    assert have is not None
    headers_before = len(sap_state.rows("A_MaterialDocumentHeader"))
    # The first item alone would post; the second asks for 5 more than is left after it.
    receipt = {
        "Material": "TG0012",
        "Plant": "1710",
        "StorageLocation": "171A",
        "GoodsMovementType": "201",
        "CostCenter": "17101101",
        "QuantityInEntryUnit": "10",
    }
    greedy = {**receipt, "QuantityInEntryUnit": str(have - 10 + 5)}

    answer = await http.post(
        MD_ROOT + "A_MaterialDocumentHeader", json=_document("03", receipt, greedy)
    )

    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "M7/021"
    assert error["message"]["value"] == "Deficit of SL Unrestricted-use 5 PC : TG0012 1710 171A"
    assert error["innererror"]["errordetails"][0]["message"] == error["message"]["value"]
    assert _unrestricted(sap_state, "TG0012", "1710", "171A") == have
    assert len(sap_state.rows("A_MaterialDocumentHeader")) == headers_before


async def test_transfer_posting_moves_stock_to_the_receiving_location_in_two_lines(
    http: httpx.AsyncClient, sap_state: SapState
) -> None:
    have = _unrestricted(sap_state, "TG0013", "1710", "171A")
    assert have is not None

    answer = await http.post(
        MD_ROOT + "A_MaterialDocumentHeader",
        json=_document(
            "04",
            {
                "Material": "TG0013",
                "Plant": "1710",
                "StorageLocation": "171A",
                "IssuingOrReceivingStorageLoc": "171B",
                "GoodsMovementType": "311",
                "QuantityInEntryUnit": "25",
            },
        ),
    )

    assert answer.status_code == 201, answer.text
    lines = answer.json()["d"]["to_MaterialDocumentItem"]["results"]
    assert [(i["StorageLocation"], i["IsAutomaticallyCreated"]) for i in lines] == [
        ("171A", None),
        ("171B", "X"),
    ]
    assert _unrestricted(sap_state, "TG0013", "1710", "171A") == have - 25
    assert _unrestricted(sap_state, "TG0013", "1710", "171B") == Decimal(25)


@pytest.mark.parametrize(
    ("change", "code", "text"),
    [
        ({"Material": "NO-SUCH"}, "M3/305", "The material NO-SUCH does not exist"),
        ({"Plant": "9999"}, "M7/010", "Plant 9999 does not exist"),
        ({"StorageLocation": "131A"}, "M7/011", "Storage location 131A does not exist in plant"),
        ({"GoodsMovementType": "101"}, "M7/104", "Movement type 101 is not supported"),
        ({"GoodsMovementType": "201"}, "M7/105", "not allowed with goods movement code 05"),
        (
            {"GoodsMovementType": "311", "_code": "04"},
            "/IWBEP/CM_MGW_RT/024",
            "'IssuingOrReceivingStorageLoc'",
        ),
        ({"EntryUnit": "KG"}, "M7/014", "Unit of entry KG is not defined for material TG0014"),
        ({"QuantityInEntryUnit": "0"}, "M7/017", "greater than zero"),
        ({"QuantityInEntryUnit": "abc"}, "/IWBEP/CM_MGW_RT/", "QuantityInEntryUnit"),
        ({"Colour": "red"}, "/IWBEP/CM_MGW_RT/021", "Property 'Colour' is invalid"),
    ],
)
async def test_bad_item_gets_sap_error_naming_it_and_posts_nothing(
    http: httpx.AsyncClient,
    sap_state: SapState,
    change: dict[str, object],
    code: str,
    text: str,
) -> None:
    item = {
        "Material": "TG0014",
        "Plant": "1710",
        "StorageLocation": "171A",
        "GoodsMovementType": "561",
        "QuantityInEntryUnit": "1",
        **change,
    }
    movement_code = str(item.pop("_code", "05"))
    have = _unrestricted(sap_state, "TG0014", "1710", "171A")

    answer = await http.post(
        MD_ROOT + "A_MaterialDocumentHeader", json=_document(movement_code, item)
    )

    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"].startswith(code)
    assert text in error["message"]["value"]
    assert _unrestricted(sap_state, "TG0014", "1710", "171A") == have
    assert sap_state.rows("A_MaterialDocumentHeader") == []


async def test_document_is_immutable_and_items_come_only_with_their_header(
    http: httpx.AsyncClient,
) -> None:
    posted = await http.post(
        MD_ROOT + "A_MaterialDocumentHeader",
        json=_document(
            "05",
            {
                "Material": "TG0015",
                "Plant": "1310",
                "StorageLocation": "131B",
                "GoodsMovementType": "501",
                "QuantityInEntryUnit": "3",
            },
        ),
    )
    number = posted.json()["d"]["MaterialDocument"]
    path = f"A_MaterialDocumentHeader(MaterialDocumentYear='2026',MaterialDocument='{number}')"

    changed = await http.patch(MD_ROOT + path, json={"MaterialDocumentHeaderText": "x"})
    deleted = await http.delete(MD_ROOT + path)
    lone_item = await http.post(MD_ROOT + "A_MaterialDocumentItem", json={"Material": "TG0015"})
    no_code = await http.post(MD_ROOT + "A_MaterialDocumentHeader", json={"PostingDate": None})
    items = await http.get(MD_ROOT + path + "/to_MaterialDocumentItem")
    header = await http.get(
        MD_ROOT + f"A_MaterialDocumentItem(MaterialDocumentYear='2026',MaterialDocument="
        f"'{number}',MaterialDocumentItem='1')/to_MaterialDocumentHeader"
    )

    assert (changed.status_code, deleted.status_code, lone_item.status_code) == (405, 405, 405)
    assert no_code.status_code == 400
    assert [i["StorageLocation"] for i in items.json()["d"]["results"]] == ["131B"]
    assert header.json()["d"]["MaterialDocument"] == number


def test_documents_and_stock_survive_a_restart_and_numbers_go_on(tmp_path: Path) -> None:
    path = tmp_path / "sap.sqlite"
    store = DocumentStore(path)
    state = SapState(store)
    seed_state(state, seed=3, size=SeedSize(partners=2, products=3, orders=2))
    app = build_app(state)
    item = {
        "Material": "TG0011",
        "Plant": "1710",
        "StorageLocation": "171C",
        "GoodsMovementType": "501",
        "QuantityInEntryUnit": "9",
    }
    header_set = state.sets["A_MaterialDocumentHeader"]
    first = app.service.rules.create(header_set, _document("05", item))
    store.close()

    store = DocumentStore(path)
    again = SapState(store)
    again.load()
    second = build_app(again).service.rules.create(header_set, _document("05", item))
    store.close()

    assert int(str(second["MaterialDocument"])) == int(str(first["MaterialDocument"])) + 1
    assert _unrestricted(again, "TG0011", "1710", "171C") == Decimal(18)
