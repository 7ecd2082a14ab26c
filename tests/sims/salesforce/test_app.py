"""The Salesforce simulator's own behaviour, in-process: errors, SOQL, rules, persistence."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from erpbridge.sims._common.faults import FaultMiddleware
from erpbridge.sims.salesforce import build_app
from erpbridge.sims.salesforce.app import SalesforceSim
from erpbridge.sims.salesforce.schema import OBJECTS
from erpbridge.sims.salesforce.seed import SeedSize
from erpbridge.sims.salesforce.soql import format_datetime
from erpbridge.spi.errors import ConfigError

from .conftest import BASE

Org = tuple[FaultMiddleware, SalesforceSim]


async def _query(api: httpx.AsyncClient, soql: str) -> dict[str, object]:
    response = await api.get(f"{BASE}/query/", params={"q": soql})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def _error_code(response: httpx.Response) -> str:
    return str(response.json()[0]["errorCode"])


# --- bad input: Salesforce's answers, never a traceback ---------------------------------


async def test_missing_session_is_401_invalid_session_id(org_app: Org) -> None:
    transport = httpx.ASGITransport(app=org_app[0])
    async with httpx.AsyncClient(transport=transport, base_url="https://sf.test") as anon:
        response = await anon.get(f"{BASE}/sobjects/")
    assert response.status_code == 401
    assert response.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/services/data/v99.0/sobjects/", 404, "NOT_FOUND"),
        ("GET", f"{BASE}/nothing/here", 404, "NOT_FOUND"),
        ("GET", f"{BASE}/sobjects/Nope__c/describe", 404, "NOT_FOUND"),
        ("PUT", f"{BASE}/sobjects/Account/", 405, "METHOD_NOT_ALLOWED"),
        ("POST", f"{BASE}/query/", 405, "METHOD_NOT_ALLOWED"),
        ("GET", f"{BASE}/query/", 400, "MALFORMED_QUERY"),
        ("GET", f"{BASE}/query/01gSm0000000099-2000", 400, "INVALID_QUERY_LOCATOR"),
        (
            "GET",
            f"{BASE}/sobjects/Account/updated/?start=yesterday&end=now",
            400,
            "INVALID_REPLICATION_DATE",
        ),
        ("GET", f"{BASE}/sobjects/Account/updated/", 400, "MISSING_ARGUMENT"),
    ],
)
async def test_bad_requests_get_salesforce_error_bodies(
    api: httpx.AsyncClient, method: str, path: str, status: int, code: str
) -> None:
    response = await api.request(method, path)
    assert (response.status_code, _error_code(response)) == (status, code)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "JSON_PARSER_ERROR"),
        (b"", "JSON_PARSER_ERROR"),
        (b"[1, 2]", "JSON_PARSER_ERROR"),
        (json.dumps({"Name": "x", "Bogus": 1}).encode(), "INVALID_FIELD"),
        (json.dumps({"Name": "x" * 256}).encode(), "STRING_TOO_LONG"),
        (
            json.dumps({"Name": "x", "Type": "Alien"}).encode(),
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        ),
        (json.dumps({"Name": "x", "NumberOfEmployees": "many"}).encode(), "JSON_PARSER_ERROR"),
        (
            json.dumps({"Name": "x", "CreatedDate": "2024-01-01T00:00:00Z"}).encode(),
            "INVALID_FIELD_FOR_INSERT_UPDATE",
        ),
        (json.dumps({"Name": "x", "OwnerId": "bad-id"}).encode(), "MALFORMED_ID"),
    ],
)
async def test_bad_create_bodies_are_refused_with_the_field_named(
    api: httpx.AsyncClient, org_app: Org, body: bytes, code: str
) -> None:
    before = len(org_app[1].org.records["Account"])
    response = await api.post(f"{BASE}/sobjects/Account/", content=body)
    assert (response.status_code, _error_code(response)) == (400, code)
    assert len(org_app[1].org.records["Account"]) == before


async def test_head_answers_like_get_without_a_body(api: httpx.AsyncClient) -> None:
    head = await api.head(f"{BASE}/sobjects/Account/describe")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == "application/json"


async def test_garbage_soap_login_gets_a_soap_fault_not_a_traceback(org_app: Org) -> None:
    transport = httpx.ASGITransport(app=org_app[0])
    async with httpx.AsyncClient(transport=transport, base_url="https://sf.test") as anon:
        response = await anon.post("/services/Soap/u/59.0", content=b"<<<")
    assert response.status_code == 500
    assert "<faultcode>soapenv:Client</faultcode>" in response.text


# --- SOQL ----------------------------------------------------------------------------------


async def test_soql_text_equality_and_like_ignore_case(api: httpx.AsyncClient) -> None:
    await api.post(f"{BASE}/sobjects/Account/", json={"Name": "Mixed Case Trading"})
    exact = await _query(api, "SELECT Id FROM Account WHERE Name = 'mixed case trading'")
    like = await _query(api, "SELECT Id FROM Account WHERE Name LIKE 'MIXED%trad%'")
    assert exact["totalSize"] == like["totalSize"] == 1


async def test_soql_in_not_and_parentheses(api: httpx.AsyncClient, org_app: Org) -> None:
    rows = org_app[1].org.records["Case"].values()
    expected = sum(1 for r in rows if r["Status"] in ("New", "Closed") and r["Priority"] != "High")
    result = await _query(
        api,
        "SELECT COUNT() FROM Case WHERE Status IN ('New', 'Closed') AND NOT (Priority = 'High')",
    )
    assert result["totalSize"] == expected


async def test_soql_order_by_desc_puts_nulls_last_and_limit_offset_page(
    api: httpx.AsyncClient,
) -> None:
    result = await _query(
        api, "SELECT Id, ERP_Customer_Id__c FROM Account ORDER BY ERP_Customer_Id__c DESC LIMIT 50"
    )
    keys = [r["ERP_Customer_Id__c"] for r in result["records"]]  # type: ignore[index,union-attr]
    present = [k for k in keys if k is not None]
    assert present == sorted(present, reverse=True)
    assert keys[: len(present)] == present
    second = await _query(api, "SELECT Id FROM Account ORDER BY Id LIMIT 2 OFFSET 1")
    first_three = await _query(api, "SELECT Id FROM Account ORDER BY Id LIMIT 3")
    assert second["records"] == first_three["records"][1:]  # type: ignore[index]


async def test_soql_datetime_range_uses_instants_across_offsets(
    api: httpx.AsyncClient, org_app: Org
) -> None:
    stamps = [str(r["SystemModstamp"]) for r in org_app[1].org.records["Product2"].values()]
    middle = sorted(stamps)[len(stamps) // 2]
    # the same wall-clock time written with +08:00 is an instant 8 hours earlier
    literal = middle[:19] + "+08:00"
    instant = format_datetime(datetime.fromisoformat(literal))
    result = await _query(api, f"SELECT COUNT() FROM Product2 WHERE SystemModstamp >= {literal}")
    assert result["totalSize"] == sum(1 for stamp in stamps if stamp >= instant)


async def test_soql_quoted_datetime_is_refused_like_salesforce(api: httpx.AsyncClient) -> None:
    response = await api.get(
        f"{BASE}/query/", params={"q": "SELECT Id FROM Account WHERE SystemModstamp > '2024-01-01'"}
    )
    assert _error_code(response) == "INVALID_FIELD"


async def test_soql_unsupported_constructs_name_themselves(api: httpx.AsyncClient) -> None:
    response = await api.get(
        f"{BASE}/query/", params={"q": "SELECT Id FROM Account WHERE CreatedDate = THIS_MONTH"}
    )
    assert _error_code(response) == "MALFORMED_QUERY"
    assert "'THIS_MONTH' is not supported" in response.json()[0]["message"]


async def test_soql_date_literals_cover_whole_utc_days(
    api: httpx.AsyncClient, org_app: Org
) -> None:
    today = datetime.now(UTC).date()
    orders = org_app[1].org.records["Order"].values()
    created_today = sum(1 for r in orders if str(r["CreatedDate"])[:10] == today.isoformat())
    window = {(today - timedelta(days=d)).isoformat() for d in range(0, 8)}
    effective_last_7 = sum(1 for r in orders if r["EffectiveDate"] in window)
    q = "SELECT COUNT() FROM Order WHERE "
    assert (await _query(api, q + "CreatedDate = LAST_N_DAYS:30"))["totalSize"] == len(orders)
    assert (await _query(api, q + "CreatedDate > TODAY"))["totalSize"] == 0
    assert (await _query(api, q + "CreatedDate = TODAY"))["totalSize"] == created_today
    assert (await _query(api, q + "EffectiveDate = LAST_N_DAYS:7"))["totalSize"] == effective_last_7


async def test_soql_date_literal_on_a_text_field_is_refused(api: httpx.AsyncClient) -> None:
    response = await api.get(
        f"{BASE}/query/", params={"q": "SELECT Id FROM Account WHERE Name = TODAY"}
    )
    assert _error_code(response) == "INVALID_FIELD"


async def test_soql_child_subquery_nests_filtered_sorted_limited_children(
    api: httpx.AsyncClient, org_app: Org
) -> None:
    org = org_app[1].org
    result = await _query(
        api,
        "SELECT Id, (SELECT Id, Quantity FROM OrderItems WHERE Quantity > 1 "
        "ORDER BY Quantity DESC LIMIT 2) FROM Order ORDER BY Id",
    )
    for record in result["records"]:  # type: ignore[attr-defined]
        expected = sorted(
            (
                float(r["Quantity"])
                for r in org.records["OrderItem"].values()
                if r["OrderId"] == record["Id"] and float(r["Quantity"]) > 1
            ),
            reverse=True,
        )[:2]
        nested = record["OrderItems"]
        got = [r["Quantity"] for r in nested["records"]] if nested else []
        assert got == expected


async def test_soql_unknown_child_relationship_is_invalid_type(api: httpx.AsyncClient) -> None:
    response = await api.get(
        f"{BASE}/query/", params={"q": "SELECT Id, (SELECT Id FROM Lines) FROM Order"}
    )
    assert _error_code(response) == "INVALID_TYPE"
    assert "Didn't understand relationship 'Lines'" in response.json()[0]["message"]


# --- writes and object rules ---------------------------------------------------------------


async def test_all_or_none_failure_leaves_nothing_behind(
    api: httpx.AsyncClient, org_app: Org
) -> None:
    before = len(org_app[1].org.records["Account"])
    body = {
        "allOrNone": True,
        "records": [
            {"attributes": {"type": "Account"}, "Name": "Kept?"},
            {"attributes": {"type": "Account"}, "Name": "x" * 300},
        ],
    }
    results = (await api.post(f"{BASE}/composite/sobjects", json=body)).json()
    assert [r["errors"][0]["statusCode"] for r in results] == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "STRING_TOO_LONG",
    ]
    assert len(org_app[1].org.records["Account"]) == before


async def test_more_than_200_collection_records_are_refused(api: httpx.AsyncClient) -> None:
    records = [{"attributes": {"type": "Account"}, "Name": str(i)} for i in range(201)]
    response = await api.post(f"{BASE}/composite/sobjects", json={"records": records})
    assert (response.status_code, _error_code(response)) == (400, "EXCEEDED_ID_LIMIT")


async def test_order_item_updates_order_total_and_its_modstamp(
    api: httpx.AsyncClient, org_app: Org
) -> None:
    org = org_app[1].org
    book = next(r for r in org.records["Pricebook2"].values() if r["IsStandard"])
    entry = next(
        r for r in org.records["PricebookEntry"].values() if r["Pricebook2Id"] == book["Id"]
    )
    account = next(iter(org.records["Account"]))
    order_id = (
        await api.post(
            f"{BASE}/sobjects/Order/",
            json={"AccountId": account, "EffectiveDate": "2024-05-01", "Pricebook2Id": book["Id"]},
        )
    ).json()["id"]
    stamp_before = org.records["Order"][order_id]["SystemModstamp"]
    item = await api.post(
        f"{BASE}/sobjects/OrderItem/",
        json={"OrderId": order_id, "PricebookEntryId": entry["Id"], "Quantity": 3, "UnitPrice": 10},
    )
    order = org.records["Order"][order_id]
    assert item.status_code == 201
    assert order["TotalAmount"] == 30.0
    assert order["SystemModstamp"] >= stamp_before
    assert order["OrderNumber"]


async def test_items_of_an_activated_order_cannot_be_added(
    api: httpx.AsyncClient, org_app: Org
) -> None:
    org = org_app[1].org
    order = next(r for r in org.records["Order"].values() if r["Status"] == "Activated")
    entry = next(
        r
        for r in org.records["PricebookEntry"].values()
        if r["Pricebook2Id"] == order["Pricebook2Id"]
    )
    response = await api.post(
        f"{BASE}/sobjects/OrderItem/",
        json={
            "OrderId": order["Id"],
            "PricebookEntryId": entry["Id"],
            "Quantity": 1,
            "UnitPrice": 1,
        },
    )
    assert _error_code(response) == "FIELD_INTEGRITY_EXCEPTION"


async def test_parent_can_be_referenced_by_external_id(
    api: httpx.AsyncClient, org_app: Org
) -> None:
    account = next(r for r in org_app[1].org.records["Account"].values() if r["ERP_Customer_Id__c"])
    response = await api.post(
        f"{BASE}/sobjects/Contact/",
        json={"LastName": "Ref", "Account": {"ERP_Customer_Id__c": account["ERP_Customer_Id__c"]}},
    )
    contact = org_app[1].org.records["Contact"][response.json()["id"]]
    assert contact["AccountId"] == account["Id"]


async def test_account_with_orders_cannot_be_deleted(api: httpx.AsyncClient, org_app: Org) -> None:
    order = next(iter(org_app[1].org.records["Order"].values()))
    response = await api.delete(f"{BASE}/sobjects/Account/{order['AccountId']}")
    assert _error_code(response) == "DELETE_FAILED"


async def test_every_answer_carries_sforce_limit_info(api: httpx.AsyncClient) -> None:
    first = await api.get(f"{BASE}/limits/")
    second = await api.get(f"{BASE}/sobjects/Nope/describe")
    assert first.headers["sforce-limit-info"] == "api-usage=1/15000"
    assert second.headers["sforce-limit-info"] == "api-usage=2/15000"
    assert first.json()["DailyApiRequests"] == {"Max": 15000, "Remaining": 14999}


async def test_outbound_admin_refuses_unknown_objects(api: httpx.AsyncClient) -> None:
    response = await api.put("/_sim/outbound", json=[{"url": "http://x.test/", "object": "Nope"}])
    assert (response.status_code, _error_code(response)) == (400, "INVALID_INPUT")


# --- persistence ---------------------------------------------------------------------------


async def test_restarted_simulator_keeps_its_records(tmp_path: Path) -> None:
    _, sim = build_app(tmp_path, size=SeedSize.small())
    record_id = sim.org.create(OBJECTS["Account"], {"Name": "Survives restart"})
    counts = {name: len(rows) for name, rows in sim.org.records.items()}
    sim.org.store.close()
    _, again = build_app(tmp_path, size=SeedSize.small(), seed=99)
    assert again.org.records["Account"][record_id]["Name"] == "Survives restart"
    assert {name: len(rows) for name, rows in again.org.records.items()} == counts


async def test_outbound_configuration_survives_a_restart(tmp_path: Path) -> None:
    app, sim = build_app(tmp_path, size=SeedSize.small())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://sf.test") as client:
        token = sim.sessions.issue()
        response = await client.put(
            "/_sim/outbound",
            json=[{"url": "http://hub.test/hooks/sf", "object": "Order"}],
            headers={"Authorization": f"Bearer {token}"},
        )
    sim.org.store.close()
    _, again = build_app(tmp_path, size=SeedSize.small())
    assert response.json() == {"configured": 1}
    assert [(c.url, c.object) for c in again.outbound.configs] == [
        ("http://hub.test/hooks/sf", "Order")
    ]


def test_outbound_target_can_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERPBRIDGE_SALESFORCE_OUTBOUND_URL", "http://127.0.0.1:9/hooks/sf")
    monkeypatch.setenv("ERPBRIDGE_SALESFORCE_OUTBOUND_OBJECTS", "Account, Case")
    _, sim = build_app(tmp_path, size=SeedSize.small())
    assert [c.object for c in sim.outbound.configs] == ["Account", "Case"]


def test_bad_outbound_environment_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERPBRIDGE_SALESFORCE_OUTBOUND_URL", "http://127.0.0.1:9/hooks/sf")
    monkeypatch.setenv("ERPBRIDGE_SALESFORCE_OUTBOUND_OBJECTS", "Acount")
    with pytest.raises(ConfigError, match="unknown sObject 'Acount'"):
        build_app(tmp_path, size=SeedSize.small())


async def test_bulk_v1_answers_its_own_error_shape(org_app: Org, api: httpx.AsyncClient) -> None:
    transport = httpx.ASGITransport(app=org_app[0])
    async with httpx.AsyncClient(transport=transport, base_url="https://sf.test") as anon:
        no_session = await anon.post("/services/async/59.0/job", json={})
    bad_job = await api.post(
        "/services/async/59.0/job",
        json={"operation": "merge", "object": "Account"},
        headers={"X-SFDC-Session": api.headers["Authorization"].removeprefix("Bearer ")},
    )
    assert (no_session.status_code, no_session.json()["exceptionCode"]) == (400, "InvalidSessionId")
    assert bad_job.json() == {
        "exceptionCode": "InvalidJob",
        "exceptionMessage": "Invalid operation: merge",
    }
