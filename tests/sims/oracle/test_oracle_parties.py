"""Parties (/crmRestApi hubOrganizations), the sandbox's Receivables stand-in, item rules,
requisition lines by item and the /sim/tick business day, with plain httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from erpbridge.sims.oracle import SANDBOX_PASSWORD, SANDBOX_USER, build_app
from erpbridge.sims.oracle.state import OracleState
from tests.sims.oracle.conftest import ORDERS, ROOT, new_order

CRM_ROOT = "/crmRestApi/resources/11.13.18.05"
PARTIES = f"{CRM_ROOT}/hubOrganizations"


def _party_body(reference: str, **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "OrganizationName": f"无锡 Party Test {reference}",
        "PartyUsageCode": "CUSTOMER",
        "SourceSystem": "SFDC",
        "SourceSystemReferenceValue": reference,
        "City": "无锡",
        "Country": "CN",
    }
    body.update(extra)
    return body


@pytest.fixture
async def pod_without_clerk(oracle_state: OracleState) -> AsyncIterator[httpx.AsyncClient]:
    """A pod where nobody opens Receivables accounts for new parties (a real pod's REST)."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_app(oracle_state, auto_accounts=False)),
        base_url="http://fusion.test",
        auth=(SANDBOX_USER, SANDBOX_PASSWORD),
        headers={"REST-Framework-Version": "4"},
    ) as client:
        yield client


async def test_party_lives_under_crm_rest_api_only(fusion: httpx.AsyncClient) -> None:
    assert (await fusion.get(PARTIES)).status_code == 200
    assert (await fusion.get(f"{ROOT}/hubOrganizations")).status_code == 404
    assert (await fusion.get(f"{CRM_ROOT}/salesOrdersForOrderHub")).status_code == 404
    catalog = (await fusion.get(f"{CRM_ROOT}/")).json()
    assert [link["name"] for link in catalog["links"]] == ["hubOrganizations"]


async def test_created_customer_party_gets_a_receivables_account_and_credit_profile(
    fusion: httpx.AsyncClient,
) -> None:
    created = await fusion.post(PARTIES, json=_party_body("001A1"))
    assert created.status_code == 201
    party = created.json()
    assert party["PartyNumber"].startswith("CDRM_") and party["Status"] == "A"
    assert created.headers["location"].endswith(f"/hubOrganizations/{party['PartyNumber']}")
    accounts = await fusion.get(
        f"{ROOT}/receivablesCustomerAccountActivities",
        params={"q": f"PartyNumber = '{party['PartyNumber']}'", "onlyData": "true"},
    )
    [account] = accounts.json()["items"]
    assert (account["PartyId"], account["AccountStatus"]) == (party["PartyId"], "A")
    credit = await fusion.get(f"{ROOT}/customerCreditProfiles/{account['CustomerAccountId']}")
    assert (credit.json()["CurrencyCode"], credit.json()["OverallCreditLimit"]) == ("CNY", 100000)


async def test_order_for_the_new_party_bills_its_account(fusion: httpx.AsyncClient) -> None:
    party = (await fusion.post(PARTIES, json=_party_body("001A2"))).json()
    body = new_order("", "P-1", BuyingPartyNumber=party["PartyNumber"])
    del body["BuyingPartyName"]
    order = await fusion.post(ORDERS, json=body, params={"expand": "billToCustomer"})
    assert order.status_code == 201, order.text
    assert order.json()["BuyingPartyName"] == party["OrganizationName"]


async def test_party_without_account_cannot_buy(pod_without_clerk: httpx.AsyncClient) -> None:
    party = (await pod_without_clerk.post(PARTIES, json=_party_body("001A3"))).json()
    body = new_order("", "P-2", BuyingPartyNumber=party["PartyNumber"])
    del body["BuyingPartyName"]
    refused = await pod_without_clerk.post(ORDERS, json=body)
    assert refused.status_code == 400
    [detail] = refused.json()["o:errorDetails"]
    assert detail["o:errorCode"] == "DOO-SIM-NO-ACCOUNT"
    assert "no active customer account" in detail["detail"]


async def test_duplicate_source_reference_is_409_and_upsert_mode_updates(
    fusion: httpx.AsyncClient,
) -> None:
    first = (await fusion.post(PARTIES, json=_party_body("001A4"))).json()
    again = await fusion.post(PARTIES, json=_party_body("001A4", City="苏州"))
    assert again.status_code == 409
    upsert = await fusion.post(
        PARTIES, json=_party_body("001A4", City="苏州"), headers={"Upsert-Mode": "true"}
    )
    assert upsert.status_code == 200
    assert (upsert.json()["PartyNumber"], upsert.json()["City"]) == (first["PartyNumber"], "苏州")


async def test_parties_without_a_source_reference_do_not_collide(fusion: httpx.AsyncClient) -> None:
    plain = {"OrganizationName": "No reference Ltd"}
    assert (await fusion.post(PARTIES, json=plain)).status_code == 201
    assert (await fusion.post(PARTIES, json=plain)).status_code == 201


async def test_bad_country_is_400_naming_the_attribute(fusion: httpx.AsyncClient) -> None:
    refused = await fusion.post(PARTIES, json=_party_body("001A5", Country="中国"))
    assert refused.status_code == 400
    assert refused.json()["o:errorDetails"][0]["o:errorPath"] == "/Country"


async def test_renamed_party_shows_its_new_name_on_the_account(fusion: httpx.AsyncClient) -> None:
    party = (await fusion.post(PARTIES, json=_party_body("001A6"))).json()
    renamed = await fusion.patch(
        f"{PARTIES}/{party['PartyNumber']}", json={"OrganizationName": "新名称 Ltd"}
    )
    assert renamed.status_code == 200
    accounts = await fusion.get(
        f"{ROOT}/receivablesCustomerAccountActivities",
        params={"q": f"PartyId = {party['PartyId']}", "onlyData": "true"},
    )
    assert accounts.json()["items"][0]["CustomerName"] == "新名称 Ltd"


async def test_order_line_by_product_id_and_an_inactive_item_is_refused(
    fusion: httpx.AsyncClient,
) -> None:
    item = (await fusion.get(f"{ROOT}/itemsV2", params={"q": "ItemNumber = 'CM-1001'"})).json()
    item_id = item["items"][0]["ItemId"]
    party = (await fusion.post(PARTIES, json=_party_body("001A7"))).json()
    body = new_order("", "P-3", BuyingPartyNumber=party["PartyNumber"])
    del body["BuyingPartyName"]
    body["lines"] = [{"SourceTransactionLineId": "1", "ProductId": item_id, "OrderedQuantity": 2}]
    order = await fusion.post(ORDERS, json=body, params={"expand": "lines"})
    assert order.json()["lines"]["items"][0]["ProductNumber"] == "CM-1001"
    await fusion.patch(f"{ROOT}/itemsV2/{item_id}", json={"ItemStatusCode": "Inactive"})
    body["SourceTransactionId"] = "P-4"
    refused = await fusion.post(ORDERS, json=body)
    assert refused.status_code == 400
    [detail] = refused.json()["o:errorDetails"]
    assert (detail["o:errorCode"], detail["o:errorPath"]) == (
        "DOO-SIM-ITEM-STATUS",
        "/lines/0/ProductId",
    )


async def test_item_with_an_unknown_unit_of_measure_is_refused(fusion: httpx.AsyncClient) -> None:
    refused = await fusion.post(
        f"{ROOT}/itemsV2",
        json={"ItemNumber": "X-UOM-1", "OrganizationCode": "M1", "PrimaryUOMCode": "Pallet"},
    )
    assert refused.status_code == 400
    assert "PrimaryUOMCode isn't valid" in refused.json()["o:errorDetails"][0]["detail"]


async def test_requisition_line_by_item_id_and_resent_line_matches_its_number(
    fusion: httpx.AsyncClient,
) -> None:
    item = (await fusion.get(f"{ROOT}/itemsV2", params={"q": "ItemNumber = 'PK-0100'"})).json()
    line = {"LineNumber": 1, "ItemId": item["items"][0]["ItemId"], "Quantity": 5}
    created = await fusion.post(
        f"{ROOT}/purchaseRequisitions",
        json={"RequisitioningBUId": 1011, "Description": "SF-0001", "lines": [line]},
        params={"expand": "lines"},
    )
    assert created.status_code == 201, created.text
    [made] = created.json()["lines"]["items"]
    assert (made["ItemNumber"], made["UnitOfMeasure"]) == ("PK-0100", "Box")
    key = created.json()["RequisitionHeaderId"]
    resent = await fusion.patch(
        f"{ROOT}/purchaseRequisitions/{key}", json={"lines": [{**line, "Quantity": 7}]}
    )
    [kept] = resent.json()["lines"]["items"]
    assert kept["Quantity"] == 7


async def test_business_day_moves_orders_and_requisitions_a_step(
    fusion: httpx.AsyncClient, oracle_state: OracleState
) -> None:
    order = (await fusion.post(ORDERS, json=new_order(await _name(fusion), "T-1"))).json()
    requisition = (
        await fusion.post(
            f"{ROOT}/purchaseRequisitions", json={"RequisitioningBUId": 204, "Description": "T"}
        )
    ).json()
    statuses = []
    for _ in range(3):
        assert (await fusion.post("/sim/tick")).status_code == 200
        row = oracle_state.get("salesOrdersForOrderHub", str(order["HeaderId"])) or {}
        lines = row.get("lines") or []
        statuses.append((row["StatusCode"], lines[0]["StatusCode"]))  # type: ignore[index]
    assert statuses == [("OPEN", "AWAIT_BILLING"), ("OPEN", "BILLED"), ("CLOSED", "CLOSED")]
    after = await fusion.get(f"{ROOT}/purchaseRequisitions/{requisition['RequisitionHeaderId']}")
    assert after.json()["DocumentStatus"] == "Approved"
    anonymous = await fusion.post("/sim/tick", auth=("erpbridge.integration", "wrong"))
    assert anonymous.status_code == 401


async def _name(fusion: httpx.AsyncClient) -> str:
    page = await fusion.get(f"{ROOT}/receivablesCustomerAccountActivities", params={"limit": "1"})
    return str(page.json()["items"][0]["CustomerName"])


async def test_batch_under_the_crm_root_runs_party_parts(fusion: httpx.AsyncClient) -> None:
    answer = await fusion.post(
        f"{CRM_ROOT}/",
        json={
            "parts": [
                {
                    "id": "a",
                    "path": "/hubOrganizations",
                    "operation": "create",
                    "payload": _party_body("001B1"),
                }
            ]
        },
        headers={"Content-Type": "application/vnd.oracle.adf.batch+json"},
    )
    assert answer.status_code == 200
    assert answer.json()["parts"][0]["payload"]["SourceSystemReferenceValue"] == "001B1"


async def test_receivables_control_stops_and_catches_up_the_clerk(
    fusion: httpx.AsyncClient,
) -> None:
    stopped = await fusion.post("/sim/receivables", json={"auto_accounts": False})
    assert stopped.json() == {"auto_accounts": False, "opened": 0}
    party = (await fusion.post(PARTIES, json=_party_body("001C1"))).json()
    query = {"q": f"PartyId = {party['PartyId']}"}
    accounts = f"{ROOT}/receivablesCustomerAccountActivities"
    assert (await fusion.get(accounts, params=query)).json()["items"] == []
    caught_up = await fusion.post("/sim/receivables", json={"open_accounts": True})
    assert caught_up.json()["opened"] == 1
    assert len((await fusion.get(accounts, params=query)).json()["items"]) == 1
    refused = await fusion.post("/sim/receivables", json={"clerk": "asleep"})
    assert refused.status_code == 400
