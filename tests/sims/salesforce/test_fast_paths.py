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


async def test_children_without_order_by_come_as_stored_a_deleted_one_left_out(
    api: httpx.AsyncClient, org_app: Org
) -> None:
    org = org_app[1].org
    with_items = [i for i in org.records["OrderItem"].values() if not i["IsDeleted"]]
    gone = with_items[0]
    deleted = await api.delete(f"{BASE}/sobjects/OrderItem/{gone['Id']}")
    assert deleted.status_code == 204, deleted.text
    parent = str(gone["OrderId"])
    response = await api.get(
        f"{BASE}/query/",
        params={"q": f"SELECT Id, (SELECT Id FROM OrderItems) FROM Order WHERE Id = '{parent}'"},
    )

    assert response.status_code == 200, response.text
    [record] = response.json()["records"]
    expected = [  # the table's own order, read whole (what the index must agree with)
        r["Id"]
        for r in org.records["OrderItem"].values()
        if r["OrderId"] == parent and not r["IsDeleted"]
    ]
    nested = record["OrderItems"]
    assert ([r["Id"] for r in nested["records"]] if nested else []) == expected
    assert gone["Id"] not in expected


async def _ids(api: httpx.AsyncClient, soql: str, *, all_rows: bool = False) -> list[str]:
    ids: list[str] = []
    page = await api.get(f"{BASE}/{'queryAll' if all_rows else 'query'}/", params={"q": soql})
    while True:
        assert page.status_code == 200, page.text
        body = page.json()
        ids += [r["Id"] for r in body["records"]]
        if body["done"]:
            return ids
        page = await api.get(body["nextRecordsUrl"])


async def test_a_read_from_a_stamp_answers_what_reading_every_row_would(
    api: httpx.AsyncClient, org_app: Org
) -> None:
    org = org_app[1].org
    # move some orders' stamps on (an update), and delete one, so the stamp index is tried
    orders = list(org.records["Order"])
    for rid in orders[:3]:
        moved = await api.patch(f"{BASE}/sobjects/Order/{rid}", json={"Description": "moved"})
        assert moved.status_code == 204, moved.text
    deleted = await api.delete(f"{BASE}/sobjects/Order/{orders[3]}")
    assert deleted.status_code == 204, deleted.text
    # and writes rolled back (an update, a create): their stamps go back with them
    rolled_back = [
        {"attributes": {"type": "Order"}, "id": orders[4], "Description": "undone"},
        {"attributes": {"type": "Order"}, "id": "801Sm00000000zzIAA", "Description": "x"},
    ]
    answer = await api.patch(
        f"{BASE}/composite/sobjects", json={"allOrNone": True, "records": rolled_back}
    )
    assert all(not r["success"] for r in answer.json()), answer.text
    created = [
        {"attributes": {"type": "Account"}, "Name": "Kept?"},
        {"attributes": {"type": "Account"}, "Name": "x" * 300},
    ]
    answer = await api.post(
        f"{BASE}/composite/sobjects", json={"allOrNone": True, "records": created}
    )
    assert all(not r["success"] for r in answer.json()), answer.text
    accounts = [str(r["Id"]) for r in org.records["Account"].values() if not r["IsDeleted"]]
    assert await _ids(
        api, "SELECT Id FROM Account WHERE SystemModstamp > 2000-01-01T00:00:00Z"
    ) == (accounts)
    stamps = sorted({str(r["SystemModstamp"]) for r in org.records["Order"].values()})
    cuts = [stamps[0], stamps[len(stamps) // 2], stamps[-1], "2000-01-01T00:00:00.000+0000"]

    def scan(since: str, op: str, extra: bool, deleted_too: bool) -> list[str]:
        return [  # every row, in the table's order (what the org answered before its index)
            str(r["Id"])
            for r in org.records["Order"].values()
            if (deleted_too or not r["IsDeleted"])
            and (
                str(r["SystemModstamp"]) >= since
                if op == ">="
                else str(r["SystemModstamp"]) > since
            )
            and (not extra or r.get("Status") == "Draft")
        ]

    for since in cuts:
        literal = since.replace(".000+0000", "Z")
        for op in (">=", ">"):
            for extra in (False, True):
                where = f"SystemModstamp {op} {literal}" + (
                    " AND Status = 'Draft'" if extra else ""
                )
                for deleted_too in (False, True):
                    got = await _ids(
                        api, f"SELECT Id FROM Order WHERE {where}", all_rows=deleted_too
                    )
                    assert got == scan(since, op, extra, deleted_too), (where, deleted_too)
                ordered = await _ids(
                    api, f"SELECT Id FROM Order WHERE {where} ORDER BY SystemModstamp, Id"
                )
                assert sorted(ordered) == sorted(scan(since, op, extra, False))
    # an OR is read whole, as before
    either = f"SystemModstamp >= {cuts[2].replace('.000+0000', 'Z')} OR Status = 'Draft'"
    assert set(await _ids(api, f"SELECT Id FROM Order WHERE {either}")) == {
        str(r["Id"])
        for r in org.records["Order"].values()
        if not r["IsDeleted"]
        and (str(r["SystemModstamp"]) >= cuts[2] or r.get("Status") == "Draft")
    }


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
