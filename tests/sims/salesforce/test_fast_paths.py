"""The simulator's cheaper paths answer what the plain ones did (no wire change)."""

from __future__ import annotations

import contextlib

import httpx
from hypothesis import given
from hypothesis import strategies as st
from starlette.responses import JSONResponse

from erpbridge.sims._common.faults import FaultMiddleware
from erpbridge.sims.salesforce.app import SalesforceSim
from erpbridge.sims.salesforce.errors import SfError
from erpbridge.sims.salesforce.rest import _JsonResponse
from erpbridge.sims.salesforce.schema import OBJECTS

from .conftest import BASE

Org = tuple[FaultMiddleware, SalesforceSim]

# Floats the standard encoder writes without an exponent below 1 (orjson writes 1e-05 as
# 0.00001: the same JSON number, other text), plus every other JSON value.
_FLOATS = st.floats(allow_nan=False, allow_infinity=False).filter(
    lambda f: f == 0 or abs(f) >= 1e-4
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | _FLOATS | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(_JSON)
def test_json_answers_are_the_standard_encoders_text(content: object) -> None:
    fast = _JsonResponse(content).body

    assert fast == JSONResponse(content).body


def test_json_answers_fall_back_for_integers_orjson_refuses() -> None:
    content = {"big": 2**70}

    assert _JsonResponse(content).body == JSONResponse(content).body


async def test_child_subquery_of_some_orders_nests_exactly_their_children(
    api: httpx.AsyncClient, org_app: Org
) -> None:
    org = org_app[1].org
    response = await api.get(
        f"{BASE}/query/",
        params={
            "q": "SELECT Id, (SELECT Id FROM OrderItems ORDER BY Id) FROM Order "
            "ORDER BY Id DESC LIMIT 3"
        },
    )

    assert response.status_code == 200, response.text
    records = response.json()["records"]
    assert len(records) == 3
    for record in records:
        expected = sorted(
            r["Id"]
            for r in org.records["OrderItem"].values()
            if r["OrderId"] == record["Id"] and not r["IsDeleted"]
        )
        nested = record["OrderItems"]
        assert ([r["Id"] for r in nested["records"]] if nested else []) == expected


async def test_nan_in_a_json_body_is_a_json_parser_error(api: httpx.AsyncClient) -> None:
    response = await api.post(
        f"{BASE}/sobjects/Account/",
        content=b'{"Name": "NaN Trading", "AnnualRevenue": NaN}',
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    assert "NaN" in response.json()[0]["message"]


def _scan(org: object, order_id: str) -> list[object]:
    records = org.records["OrderItem"].values()  # type: ignore[attr-defined]
    return [r for r in records if r["OrderId"] == order_id and not r["IsDeleted"]]


def test_an_orders_items_come_from_the_index_as_a_scan_finds_them(org_app: Org) -> None:
    org = org_app[1].org
    order_id, order = next(
        (i, r) for i, r in org.records["Order"].items() if r["Status"] == "Draft"
    )
    entry = next(
        r
        for r in org.records["PricebookEntry"].values()
        if r["Pricebook2Id"] == order["Pricebook2Id"] and not r["IsDeleted"]
    )
    item = {"OrderId": order_id, "PricebookEntryId": entry["Id"], "Quantity": 2, "UnitPrice": 5}
    first = org.create(OBJECTS["OrderItem"], item)
    org.create(OBJECTS["OrderItem"], {**item, "Quantity": 3})
    org.update(OBJECTS["OrderItem"], first, {"Quantity": 4})
    with contextlib.suppress(SfError), org.unit():  # a failed unit leaves nothing behind
        org.create(OBJECTS["OrderItem"], {**item, "Quantity": 9})
        org.update(OBJECTS["OrderItem"], first, {"Quantity": 7})
        raise SfError(400, "TEST", "roll back")
    org.delete(OBJECTS["OrderItem"], first)

    for some_order in org.records["Order"]:
        assert org.children("OrderItem", "OrderId", some_order) == _scan(org, some_order)
    assert [r["Quantity"] for r in org.children("OrderItem", "OrderId", order_id)][-1] == 3
