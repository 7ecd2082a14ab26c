"""The Oracle simulator against the documented protocol, with plain httpx (reference §1-§7)."""

from __future__ import annotations

import httpx
import jsonschema
import pytest

from erpbridge.sims.oracle.state import OracleState
from tests.sims.oracle.conftest import ORDERS, ROOT, new_order
from tests.sims.oracle.schemas import BY_RESOURCE, ERROR, SALES_ORDER, collection


async def _all(client: httpx.AsyncClient, path: str, **params: str) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    offset = 0
    while True:
        page = (
            await client.get(path, params={**params, "limit": "7", "offset": str(offset)})
        ).json()
        items.extend(page["items"])
        if not page["hasMore"]:
            return items
        offset += page["count"]


async def _party(client: httpx.AsyncClient) -> str:
    page = await client.get(f"{ROOT}/receivablesCustomerAccountActivities", params={"limit": "1"})
    return str(page.json()["items"][0]["CustomerName"])


# --- auth ---------------------------------------------------------------------------------


async def test_wrong_password_gets_401_with_basic_challenge(fusion: httpx.AsyncClient) -> None:
    response = await fusion.get(ORDERS, auth=("erpbridge.integration", "wrong"))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")


async def test_missing_credentials_get_401(fusion: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(
        transport=fusion._transport, base_url="http://fusion.test"
    ) as anonymous:
        response = await anonymous.get(ORDERS)
    assert response.status_code == 401


# --- paging --------------------------------------------------------------------------------


async def test_paging_walks_every_order_once(
    fusion: httpx.AsyncClient, oracle_state: OracleState
) -> None:
    items = await _all(fusion, ORDERS, onlyData="true", fields="HeaderId")
    ids = [i["HeaderId"] for i in items]
    assert len(ids) == len(set(ids)) == len(oracle_state.tables["salesOrdersForOrderHub"])


async def test_total_results_counts_the_whole_filtered_collection(
    fusion: httpx.AsyncClient,
) -> None:
    everything = await _all(fusion, ORDERS, q="StatusCode='OPEN'", onlyData="true")
    page = (
        await fusion.get(
            ORDERS, params={"q": "StatusCode='OPEN'", "limit": "3", "totalResults": "true"}
        )
    ).json()
    assert (page["totalResults"], page["count"], page["hasMore"]) == (len(everything), 3, True)


async def test_limit_over_500_is_cut_to_500(fusion: httpx.AsyncClient) -> None:
    page = (await fusion.get(ORDERS, params={"limit": "100000"})).json()
    assert page["limit"] == 500


async def test_default_page_is_25(fusion: httpx.AsyncClient) -> None:
    page = (await fusion.get(ORDERS)).json()
    assert (page["limit"], page["count"], page["offset"]) == (25, 25, 0)


@pytest.mark.parametrize("param", ["limit=-1", "limit=abc", "offset=1.5", "limit=１０", "limit=0"])
async def test_bad_paging_parameter_is_400(fusion: httpx.AsyncClient, param: str) -> None:
    response = await fusion.get(f"{ORDERS}?{param}")
    assert response.status_code == 400
    jsonschema.validate(response.json(), ERROR)


# --- q filters -------------------------------------------------------------------------------


async def test_last_update_date_range_returns_exactly_the_records_in_it(
    fusion: httpx.AsyncClient,
) -> None:
    everything = await _all(fusion, ORDERS, onlyData="true", fields="HeaderId,LastUpdateDate")
    stamps = sorted(str(i["LastUpdateDate"]) for i in everything)
    low, high = stamps[5], stamps[15]
    q = f"LastUpdateDate >= '{low}' and LastUpdateDate < '{high}'"
    found = await _all(fusion, ORDERS, q=q, onlyData="true", fields="HeaderId,LastUpdateDate")
    expected = {i["HeaderId"] for i in everything if low <= str(i["LastUpdateDate"]) < high}
    assert {i["HeaderId"] for i in found} == expected and len(expected) == 10


async def test_date_time_literal_with_offset_equals_its_utc_instant(
    fusion: httpx.AsyncClient,
) -> None:
    utc = await _all(fusion, ORDERS, q="LastUpdateDate > '2026-02-15T00:00:00Z'", fields="HeaderId")
    shanghai = await _all(
        fusion, ORDERS, q="LastUpdateDate > '2026-02-15T08:00:00+08:00'", fields="HeaderId"
    )
    assert [i["HeaderId"] for i in utc] == [i["HeaderId"] for i in shanghai] and utc


async def test_or_parentheses_and_like_combine(fusion: httpx.AsyncClient) -> None:
    everything = await _all(fusion, ORDERS, onlyData="true")
    q = "(StatusCode = 'DOO_DRAFT' or SourceTransactionNumber LIKE 'CRM-1000%') and HeaderId > 0"
    found = await _all(fusion, ORDERS, q=q, onlyData="true")
    expected = {
        i["HeaderId"]
        for i in everything
        if i["StatusCode"] == "DOO_DRAFT"
        or str(i["SourceTransactionNumber"]).startswith("CRM-1000")
    }
    assert {i["HeaderId"] for i in found} == expected and expected


async def test_in_between_and_is_null(fusion: httpx.AsyncClient) -> None:
    q = "SourceTransactionId IN ('10001', '10003') and HeaderId BETWEEN 1 AND 999999999999999999 and LastUpdateDate IS NOT NULL"
    found = await _all(fusion, ORDERS, q=q, onlyData="true")
    assert sorted(str(i["SourceTransactionId"]) for i in found) == ["10001", "10003"]


async def test_query_by_example_and_expression_readings_agree(
    fusion: httpx.AsyncClient, fusion_v1: httpx.AsyncClient
) -> None:
    party = await _party(fusion)
    qbe = await _all(fusion_v1, ORDERS, q=f"StatusCode=OPEN;BuyingPartyName={party}")
    expr = await _all(fusion, ORDERS, q=f"StatusCode = 'OPEN' and BuyingPartyName = '{party}'")
    assert [i["HeaderId"] for i in qbe] == [i["HeaderId"] for i in expr]


@pytest.mark.parametrize(
    ("q", "why"),
    [
        ("LastUpdateDate >> '2026-01-01'", "position"),
        ("LastUpdateDate > 'yesterday'", "ISO-8601"),
        ("NoSuchField = 'x'", "unknown attribute"),
        ("__import__('os').system('id')", "position"),
        ("StatusCode = 'OPEN' and", "position"),
        ("(StatusCode = 'OPEN'", "position"),
        ("HeaderId = 'abc'", "number"),
        ("StatusCode = 'OPEN' ; drop", "position"),
    ],
)
async def test_bad_filter_is_refused_with_where_and_why(
    fusion: httpx.AsyncClient, q: str, why: str
) -> None:
    response = await fusion.get(ORDERS, params={"q": q})
    assert response.status_code == 400
    body = response.json()
    jsonschema.validate(body, ERROR)
    assert why in body["o:errorDetails"][0]["detail"]


async def test_version_1_errors_are_plain_text(fusion_v1: httpx.AsyncClient) -> None:
    response = await fusion_v1.get(ORDERS, params={"q": "Nope=1"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert "Nope" in response.text


# --- fields, onlyData, expand ------------------------------------------------------------------


async def test_fields_and_only_data_shape_the_items(fusion: httpx.AsyncClient) -> None:
    page = (
        await fusion.get(ORDERS, params={"fields": "HeaderId,StatusCode", "onlyData": "true"})
    ).json()
    assert all(set(i) == {"HeaderId", "StatusCode"} for i in page["items"])
    assert "links" not in page


async def test_without_only_data_items_carry_self_links(fusion: httpx.AsyncClient) -> None:
    item = (await fusion.get(ORDERS, params={"limit": "1"})).json()["items"][0]
    rels = {link["rel"] for link in item["links"]}
    self_link = next(link for link in item["links"] if link["rel"] == "self")
    assert {"self", "canonical", "child"} <= rels
    assert self_link["href"].endswith(f"/salesOrdersForOrderHub/{item['HeaderId']}")


async def test_child_fields_imply_the_child(fusion: httpx.AsyncClient) -> None:
    page = (
        await fusion.get(
            ORDERS, params={"fields": "HeaderId;lines:LineId,ProductNumber", "onlyData": "true"}
        )
    ).json()
    lines = page["items"][0]["lines"]["items"]
    assert lines and all(set(line) == {"LineId", "ProductNumber"} for line in lines)


async def test_expanded_children_are_collections_from_version_3_arrays_before(
    oracle_app: object, fusion: httpx.AsyncClient
) -> None:
    v4 = (await fusion.get(ORDERS, params={"expand": "lines", "limit": "1"})).json()
    v2 = (
        await fusion.get(
            ORDERS,
            params={"expand": "lines", "limit": "1"},
            headers={"REST-Framework-Version": "2"},
        )
    ).json()
    assert isinstance(v4["items"][0]["lines"], dict) and isinstance(v2["items"][0]["lines"], list)
    assert v4["items"][0]["lines"]["items"] == v2["items"][0]["lines"]


async def test_unknown_field_or_child_is_400(fusion: httpx.AsyncClient) -> None:
    bad_field = await fusion.get(ORDERS, params={"fields": "Nope"})
    bad_child = await fusion.get(ORDERS, params={"expand": "nope"})
    assert (bad_field.status_code, bad_child.status_code) == (400, 400)


# --- create, get, update, ETag -----------------------------------------------------------------


async def test_create_answers_201_with_location_etag_and_server_fields(
    fusion: httpx.AsyncClient,
) -> None:
    response = await fusion.post(ORDERS, json=new_order(await _party(fusion), "N-1"))
    body = response.json()
    assert response.status_code == 201
    assert response.headers["location"].endswith(f"/salesOrdersForOrderHub/{body['HeaderId']}")
    assert response.headers["etag"].startswith('"')
    assert body["StatusCode"] == "OPEN" and body["OrderNumber"]
    jsonschema.validate(body, SALES_ORDER)


async def test_order_key_system_colon_id_reads_the_same_order(fusion: httpx.AsyncClient) -> None:
    created = (await fusion.post(ORDERS, json=new_order(await _party(fusion), "N-2"))).json()
    by_source = (await fusion.get(f"{ORDERS}/CRM:N-2", params={"onlyData": "true"})).json()
    by_id = (
        await fusion.get(f"{ORDERS}/{created['HeaderId']}", params={"onlyData": "true"})
    ).json()
    assert by_source == by_id and by_id["HeaderId"] == created["HeaderId"]


async def test_patch_with_current_etag_succeeds_and_stale_etag_gets_412(
    fusion: httpx.AsyncClient,
) -> None:
    created = await fusion.post(ORDERS, json=new_order(await _party(fusion), "N-3"))
    url, etag = created.headers["location"], created.headers["etag"]
    first = await fusion.patch(url, json={"CustomerPONumber": "PO-A"}, headers={"If-Match": etag})
    stale = await fusion.patch(url, json={"CustomerPONumber": "PO-B"}, headers={"If-Match": etag})
    now = (await fusion.get(url)).json()
    assert (first.status_code, stale.status_code) == (200, 412)
    assert first.headers["etag"] != etag and now["CustomerPONumber"] == "PO-A"
    jsonschema.validate(stale.json(), ERROR)


async def test_if_none_match_with_current_etag_is_304(fusion: httpx.AsyncClient) -> None:
    first = await fusion.get(f"{ORDERS}/CRM:10002")
    again = await fusion.get(
        f"{ORDERS}/CRM:10002", headers={"If-None-Match": first.headers["etag"]}
    )
    assert (first.status_code, again.status_code, again.content) == (200, 304, b"")


async def test_update_moves_last_update_date(fusion: httpx.AsyncClient) -> None:
    before = (await fusion.get(f"{ORDERS}/CRM:10004")).json()
    after = (await fusion.patch(f"{ORDERS}/CRM:10004", json={"CustomerPONumber": "X"})).json()
    assert after["LastUpdateDate"] > before["LastUpdateDate"]


async def test_duplicate_create_is_409_and_upsert_mode_updates_instead(
    fusion: httpx.AsyncClient, oracle_state: OracleState
) -> None:
    body = new_order(await _party(fusion), "N-4")
    first = await fusion.post(ORDERS, json=body)
    duplicate = await fusion.post(ORDERS, json=body)
    upsert = await fusion.post(
        ORDERS, json={**body, "CustomerPONumber": "PO-U"}, headers={"Upsert-Mode": "true"}
    )
    order = oracle_state.get("salesOrdersForOrderHub", str(first.json()["HeaderId"]))
    assert (first.status_code, duplicate.status_code, upsert.status_code) == (201, 409, 200)
    assert order is not None and order["CustomerPONumber"] == "PO-U"
    assert len(order["lines"]) == 1  # type: ignore[arg-type]  # the resent line is matched


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"Bogus": 1}, "/Bogus"),
        ({"HeaderId": 5}, "/HeaderId"),
        ({"SubmittedFlag": "yes"}, "/SubmittedFlag"),
        ({"TransactionOn": "tomorrow"}, "/TransactionOn"),
        ({"lines": [{"ProductNumber": "NO-SUCH", "OrderedQuantity": 1}]}, "/lines/0/ProductNumber"),
        (
            {"lines": [{"ProductNumber": "AS54888", "OrderedQuantity": 0}]},
            "/lines/0/OrderedQuantity",
        ),
        ({"BuyingPartyName": "Nobody Ltd"}, "/BuyingPartyName"),
        ({"SourceTransactionId": None}, "/SourceTransactionId"),
    ],
)
async def test_invalid_order_is_400_naming_the_path_and_writes_nothing(
    fusion: httpx.AsyncClient, oracle_state: OracleState, change: dict[str, object], path: str
) -> None:
    before = len(oracle_state.tables["salesOrdersForOrderHub"])
    body = {**new_order(await _party(fusion), "BAD-1"), **change}
    response = await fusion.post(ORDERS, json=body)
    assert response.status_code == 400
    assert response.json()["o:errorDetails"][0]["o:errorPath"] == path
    assert len(oracle_state.tables["salesOrdersForOrderHub"]) == before


async def test_body_that_is_not_json_is_400_and_wrong_media_type_415(
    fusion: httpx.AsyncClient,
) -> None:
    broken = await fusion.post(
        ORDERS, content=b"{oops", headers={"Content-Type": "application/json"}
    )
    xml = await fusion.post(ORDERS, content=b"<a/>", headers={"Content-Type": "application/xml"})
    assert (broken.status_code, xml.status_code) == (400, 415)


async def test_read_only_resource_refuses_post_with_405(fusion: httpx.AsyncClient) -> None:
    response = await fusion.post(f"{ROOT}/receivablesCustomerAccountActivities", json={})
    assert response.status_code == 405
    assert "POST action not supported" in response.json()["o:errorDetails"][0]["detail"]


async def test_unknown_resource_version_and_key_are_404(fusion: httpx.AsyncClient) -> None:
    answers = [
        await fusion.get(f"{ROOT}/noSuchResource"),
        await fusion.get("/fscmRestApi/resources/99.99/salesOrdersForOrderHub"),
        await fusion.get(f"{ORDERS}/42"),
        await fusion.get(f"{ORDERS}/CRM:nope"),
    ]
    assert [a.status_code for a in answers] == [404, 404, 404, 404]


async def test_delete_removes_the_order(fusion: httpx.AsyncClient) -> None:
    created = await fusion.post(ORDERS, json=new_order(await _party(fusion), "N-5"))
    deleted = await fusion.delete(created.headers["location"])
    gone = await fusion.get(created.headers["location"])
    assert (deleted.status_code, gone.status_code) == (204, 404)


# --- children ------------------------------------------------------------------------------------


async def test_child_lines_collection_and_post(fusion: httpx.AsyncClient) -> None:
    url = f"{ORDERS}/CRM:10005/child/lines"
    before = (await fusion.get(url)).json()
    added = await fusion.post(url, json={"ProductNumber": "CM-1001", "OrderedQuantity": 2})
    after = (await fusion.get(url)).json()
    line = await fusion.get(added.headers["location"])
    assert added.status_code == 201 and after["count"] == before["count"] + 1
    assert line.json()["ProductNumber"] == "CM-1001"


# --- credit, describe ----------------------------------------------------------------------------


async def test_submitted_order_raises_the_accounts_credit_exposure(
    fusion: httpx.AsyncClient,
) -> None:
    account = (
        await fusion.get(f"{ROOT}/receivablesCustomerAccountActivities", params={"limit": "1"})
    ).json()["items"][0]
    url = f"{ROOT}/customerCreditProfiles/{account['CustomerAccountId']}"
    before = (await fusion.get(url)).json()
    order = new_order(str(account["CustomerName"]), "N-6")
    created = (await fusion.post(ORDERS, json=order)).json()
    after = (await fusion.get(url)).json()
    value = (
        created["lines"]["items"][0]["OrderedQuantity"]
        * created["lines"]["items"][0]["UnitSellingPrice"]
    )
    assert after["CreditExposure"] == pytest.approx(before["CreditExposure"] + value)
    assert after["AvailableCredit"] == pytest.approx(
        after["OverallCreditLimit"] - after["CreditExposure"]
    )
    assert after["LastUpdateDate"] > before["LastUpdateDate"]


async def test_describe_lists_attributes_with_types_and_children(fusion: httpx.AsyncClient) -> None:
    body = (await fusion.get(f"{ORDERS}/describe")).json()
    resource = body["Resources"]["salesOrdersForOrderHub"]
    types = {a["name"]: a["type"] for a in resource["attributes"]}
    assert types["LastUpdateDate"] == "datetime" and types["HeaderId"] == "integer"
    assert "lines" in resource["children"]


# --- JSON Schema of every resource ----------------------------------------------------------------


@pytest.mark.parametrize("resource", sorted(BY_RESOURCE))
async def test_collection_answers_match_the_documented_shape(
    fusion: httpx.AsyncClient, resource: str
) -> None:
    page = (await fusion.get(f"{ROOT}/{resource}", params={"expand": "all", "limit": "5"})).json()
    jsonschema.validate(page, collection(BY_RESOURCE[resource]))
    assert page["items"]


@pytest.mark.parametrize("resource", sorted(BY_RESOURCE))
async def test_item_answers_match_the_documented_shape(
    fusion: httpx.AsyncClient, resource: str
) -> None:
    page = (await fusion.get(f"{ROOT}/{resource}", params={"limit": "1"})).json()
    href = next(link["href"] for link in page["items"][0]["links"] if link["rel"] == "self")
    item = await fusion.get(href, params={"expand": "all"})
    assert item.status_code == 200 and item.headers["etag"]
    jsonschema.validate(item.json(), BY_RESOURCE[resource])


async def test_equality_filter_follows_updates(fusion: httpx.AsyncClient) -> None:
    old = (await fusion.get(f"{ORDERS}/CRM:10006")).json()["CustomerPONumber"]
    before_old = await _all(fusion, ORDERS, q=f"CustomerPONumber = '{old}'")
    await fusion.patch(f"{ORDERS}/CRM:10006", json={"CustomerPONumber": "MOVED-1"})
    after_old = await _all(fusion, ORDERS, q=f"CustomerPONumber IN ('{old}')")
    after_new = await _all(fusion, ORDERS, q="CustomerPONumber = 'MOVED-1'")
    assert len(before_old) == len(after_old) + 1
    assert [i["SourceTransactionId"] for i in after_new] == ["10006"]


async def test_links_parameter_keeps_only_the_asked_relations(fusion: httpx.AsyncClient) -> None:
    page = (
        await fusion.get(ORDERS, params={"links": "self", "expand": "lines", "limit": "2"})
    ).json()
    rels = {link["rel"] for item in page["items"] for link in item["links"]}
    line_rels = {
        link["rel"]
        for item in page["items"]
        for line in item["lines"]["items"]
        for link in line["links"]
    }
    bad = await fusion.get(ORDERS, params={"links": "self,nonsense"})
    assert rels == line_rels == {"self"} and bad.status_code == 400
