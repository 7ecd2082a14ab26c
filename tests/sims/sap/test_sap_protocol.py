"""The simulator's OData V2 protocol in-process: auth, CSRF, queries, errors, batch, persistence."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from erpbridge.sims._common.persist import DocumentStore
from erpbridge.sims.sap import SANDBOX_PASSWORD, SANDBOX_USER, SapSimApp, SeedSize, build_app
from erpbridge.sims.sap.seed import seed_state
from erpbridge.sims.sap.state import SapState
from tests.sims.sap.conftest import BP_ROOT, SO_ROOT


async def _token(client: httpx.AsyncClient) -> str:
    answer = await client.get(SO_ROOT, headers={"X-CSRF-Token": "Fetch"})
    return answer.headers["x-csrf-token"]


def _error(answer: httpx.Response) -> dict[str, object]:
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert set(body["error"]) >= {"code", "message", "innererror"}
    return body["error"]  # type: ignore[no-any-return]


async def test_wrong_password_gets_401_with_sap_realm(sap_app: SapSimApp) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sap_app), base_url="http://sap.test", auth=("X", "Y")
    ) as client:
        answer = await client.get(SO_ROOT)
    assert answer.status_code == 401
    assert "SAP NetWeaver" in answer.headers["www-authenticate"]
    assert "Traceback" not in answer.text


async def test_session_cookie_alone_authenticates_after_login(sap_app: SapSimApp) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sap_app), base_url="http://sap.test"
    ) as client:
        first = await client.get(SO_ROOT, auth=(SANDBOX_USER, SANDBOX_PASSWORD))
        second = await client.get(SO_ROOT + "A_SalesOrder?$top=1")
    assert first.status_code == 200
    assert second.status_code == 200


async def test_modifying_call_without_token_gets_403_required(sap_http: httpx.AsyncClient) -> None:
    answer = await sap_http.patch(SO_ROOT + "A_SalesOrder('1000000')", json={})
    assert answer.status_code == 403
    assert answer.headers["x-csrf-token"] == "Required"
    assert answer.text == "CSRF token validation failed"


async def test_token_stops_working_when_sessions_expire(
    sap_http: httpx.AsyncClient, sap_app: SapSimApp
) -> None:
    token = await _token(sap_http)
    sap_app.expire_sessions()
    answer = await sap_http.patch(
        SO_ROOT + "A_SalesOrder('1000000')", json={}, headers={"X-CSRF-Token": token}
    )
    assert answer.status_code == 403


async def test_patch_with_token_returns_204_and_bumps_change_stamp(
    sap_http: httpx.AsyncClient, sap_state: SapState
) -> None:
    before = sap_state.get("A_SalesOrder", ("1000000",))["LastChangeDateTime"]  # type: ignore[index]
    answer = await sap_http.patch(
        SO_ROOT + "A_SalesOrder('1000000')",
        json={"PurchaseOrderByCustomer": "NEW-REF"},
        headers={"X-CSRF-Token": await _token(sap_http)},
    )
    after = sap_state.get("A_SalesOrder", ("1000000",))
    assert answer.status_code == 204
    assert after["PurchaseOrderByCustomer"] == "NEW-REF"  # type: ignore[index]
    assert after["LastChangeDateTime"] > before  # type: ignore[index,operator]


async def test_stale_if_match_gets_412(sap_http: httpx.AsyncClient) -> None:
    token = await _token(sap_http)
    read = await sap_http.get(SO_ROOT + "A_SalesOrder('1000001')")
    etag = read.headers["etag"]
    assert read.json()["d"]["__metadata"]["etag"] == etag
    await sap_http.patch(
        SO_ROOT + "A_SalesOrder('1000001')",
        json={"PurchaseOrderByCustomer": "A"},
        headers={"X-CSRF-Token": token, "If-Match": etag},
    )
    stale = await sap_http.patch(
        SO_ROOT + "A_SalesOrder('1000001')",
        json={"PurchaseOrderByCustomer": "B"},
        headers={"X-CSRF-Token": token, "If-Match": etag},
    )
    assert stale.status_code == 412


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("$filter=SoldToParty eq", "unexpected end"),
        ("$filter=Nope eq 'x'", "Property 'Nope' not found"),
        ("$filter=SoldToParty eq 5", "not defined for operands"),
        ("$filter=(SalesOrder eq '1'", "unexpected end"),
        ("$filter=(SalesOrder eq '1' 'x')", "expected ')'"),
        ("$filter=SalesOrder eq '1' $", "unexpected character"),
        ("$top=-1", "$top"),
        ("$orderby=SalesOrder sideways", "Invalid $orderby"),
        ("$select=Bogus", "Property 'Bogus' is invalid"),
        ("$expand=to_Nothing", "Navigation property 'to_Nothing'"),
        ("$inlinecount=some", "$inlinecount"),
    ],
)
async def test_bad_query_gets_400_with_odata_error_body(
    sap_http: httpx.AsyncClient, query: str, fragment: str
) -> None:
    answer = await sap_http.get(SO_ROOT + "A_SalesOrder?" + query)
    assert answer.status_code == 400
    assert fragment in _error(answer)["message"]["value"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("substringof('PO-202400', PurchaseOrderByCustomer) eq true", 10),
        ("startswith(PurchaseOrderByCustomer, 'PO-202400') and SalesOrder ne '1000000'", 9),
        ("endswith(PurchaseOrderByCustomer,'05') or SalesOrder eq '1000010'", 2),
        ("not (SalesOrder lt '1000050')", 10),
        ("TotalNetAmount gt 0M and length(SalesOrder) eq 7", 60),
        ("tolower(SalesOrderType) eq 'or'", 60),
        ("SalesOrder eq '1000001' or SalesOrder eq '1000002' or SalesOrder eq 'nope'", 2),
        ("SalesOrderType eq 'OR' and (SalesOrder eq '1000005' or SalesOrder eq '1000006')", 2),
        ("SalesOrder eq '1000001' or SalesOrderType eq 'OR'", 60),
        ("'1000001' eq SalesOrder", 1),
    ],
)
async def test_filter_functions_select_the_right_orders(
    sap_http: httpx.AsyncClient, expression: str, expected: int
) -> None:
    answer = await sap_http.get(SO_ROOT + "A_SalesOrder/$count", params={"$filter": expression})
    assert answer.status_code == 200
    assert int(answer.text) == expected


async def test_select_returns_only_chosen_properties(sap_http: httpx.AsyncClient) -> None:
    answer = await sap_http.get(SO_ROOT + "A_SalesOrder?$top=2&$select=SalesOrder,SoldToParty")
    rows = answer.json()["d"]["results"]
    assert [sorted(r) for r in rows] == [["SalesOrder", "SoldToParty", "__metadata"]] * 2


async def test_collection_is_paged_with_next_link_keeping_the_query(
    sap_http: httpx.AsyncClient,
) -> None:
    first = (await sap_http.get(SO_ROOT + "A_SalesOrder?$filter=SalesOrderType eq 'OR'")).json()
    second = (await sap_http.get(first["d"]["__next"])).json()
    third = (await sap_http.get(second["d"]["__next"])).json()
    numbers = [r["SalesOrder"] for p in (first, second, third) for r in p["d"]["results"]]
    assert "__next" not in third["d"]
    assert len(numbers) == len(set(numbers)) == 60


async def test_unknown_set_entity_and_service_get_404(sap_http: httpx.AsyncClient) -> None:
    answers = [
        await sap_http.get(SO_ROOT + "A_Nothing"),
        await sap_http.get(SO_ROOT + "A_SalesOrder('999')"),
        await sap_http.get("/sap/opu/odata/sap/API_NOPE_SRV/"),
    ]
    assert [a.status_code for a in answers] == [404, 404, 404]
    assert _error(answers[1])["code"] == "/IWBEP/CM_MGW_RT/020"


async def test_method_not_allowed_gets_405(sap_http: httpx.AsyncClient) -> None:
    token = await _token(sap_http)
    answer = await sap_http.delete(
        BP_ROOT + "A_BusinessPartner('17100001')", headers={"X-CSRF-Token": token}
    )
    assert answer.status_code == 405
    assert _error(answer)["code"] == "/IWBEP/CM_MGW_RT/101"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object is expected"),
        (b'{"SalesOrderType": "OR"}', "is required"),
        (b'{"Bogus": 1}', "Property 'Bogus' is invalid"),
        (
            b'{"SalesOrderType":"OR","SalesOrganization":"1710","DistributionChannel":"10",'
            b'"OrganizationDivision":"00","SoldToParty":"17100001",'
            b'"to_Item":[{"Material":"NOPE","RequestedQuantity":"1"}]}',
            "Material NOPE is not defined",
        ),
        (
            b'{"SalesOrderType":"OR","SalesOrganization":"1710","DistributionChannel":"10",'
            b'"OrganizationDivision":"00","SoldToParty":"17100001",'
            b'"to_Item":[{"Material":"TG0011","RequestedQuantity":"lots"}]}',
            "has invalid value 'lots'",
        ),
        (b'{"SalesOrderType":"TOOLONG"}', "longer than 4"),
    ],
)
async def test_bad_create_gets_400_and_writes_nothing(
    sap_http: httpx.AsyncClient, sap_state: SapState, body: bytes, fragment: str
) -> None:
    before = (len(sap_state.tables["A_SalesOrder"]), len(sap_state.tables["A_SalesOrderItem"]))
    answer = await sap_http.post(
        SO_ROOT + "A_SalesOrder",
        content=body,
        headers={"X-CSRF-Token": await _token(sap_http), "Content-Type": "application/json"},
    )
    after = (len(sap_state.tables["A_SalesOrder"]), len(sap_state.tables["A_SalesOrderItem"]))
    assert answer.status_code == 400
    assert fragment in _error(answer)["message"]["value"]  # type: ignore[index]
    assert after == before


async def test_deep_insert_accepts_results_wrapper_and_answers_201_with_location(
    sap_http: httpx.AsyncClient,
) -> None:
    answer = await sap_http.post(
        SO_ROOT + "A_SalesOrder",
        json={
            "SalesOrderType": "OR",
            "SalesOrganization": "1710",
            "DistributionChannel": "10",
            "OrganizationDivision": "00",
            "SoldToParty": "17100002",
            "to_Item": {"results": [{"Material": "TG0013", "RequestedQuantity": "3"}]},
        },
        headers={"X-CSRF-Token": await _token(sap_http)},
    )
    created = answer.json()["d"]
    assert answer.status_code == 201
    assert answer.headers["location"].endswith(f"A_SalesOrder('{created['SalesOrder']}')")
    assert created["to_Item"]["results"][0]["SalesOrderItem"] == "10"


def _batch_body(boundary: str, changeset: str, operations: list[str]) -> str:
    lines = ["", f"--{boundary}", f"Content-Type: multipart/mixed;boundary={changeset}", ""]
    for op in operations:
        lines += [
            f"--{changeset}",
            "Content-Type: application/http",
            "Content-Transfer-Encoding:binary",
            "",
            op,
        ]
    lines += [f"--{changeset}--", f"--{boundary}--"]
    return "\r\n".join(lines)


async def test_batch_refuses_malformed_multipart_with_400(sap_http: httpx.AsyncClient) -> None:
    answer = await sap_http.post(
        SO_ROOT + "$batch",
        content=b"--b\r\ngarbage",
        headers={
            "X-CSRF-Token": await _token(sap_http),
            "Content-Type": "multipart/mixed;boundary=b",
        },
    )
    assert answer.status_code == 400
    assert "Invalid batch request" in _error(answer)["message"]["value"]  # type: ignore[index]


async def test_batch_changeset_answers_each_operation_in_order(
    sap_http: httpx.AsyncClient, sap_state: SapState
) -> None:
    patch = (
        "PATCH A_SalesOrder('1000002') HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
        + json.dumps({"PurchaseOrderByCustomer": "BATCH-1"})
    )
    body = _batch_body("batch_1", "changeset_1", [patch, patch.replace("1000002", "1000003")])
    answer = await sap_http.post(
        SO_ROOT + "$batch",
        content=body.encode(),
        headers={
            "X-CSRF-Token": await _token(sap_http),
            "Content-Type": "multipart/mixed;boundary=batch_1",
        },
    )
    assert answer.status_code == 202
    assert answer.text.count("HTTP/1.1 204 No Content") == 2
    assert sap_state.get("A_SalesOrder", ("1000003",))["PurchaseOrderByCustomer"] == "BATCH-1"  # type: ignore[index]


def test_restart_keeps_records_written_before(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path / "sap.sqlite")
    state = SapState(store)
    seed_state(state, size=SeedSize(partners=5, products=4, orders=8))
    app = build_app(state)
    with state.transaction():
        row = dict(state.get("A_SalesOrder", ("1000000",)) or {})
        row["PurchaseOrderByCustomer"] = "KEPT"
        state.put("A_SalesOrder", row)
    app.tick()
    store.close()
    reopened = SapState(DocumentStore(tmp_path / "sap.sqlite"))
    assert reopened.load()
    assert reopened.get("A_SalesOrder", ("1000000",))["PurchaseOrderByCustomer"] == "KEPT"  # type: ignore[index]
    assert reopened.tables["A_SalesOrder"] == state.tables["A_SalesOrder"]
    assert reopened.counters == state.counters


def test_sandbox_serves_sap_and_a_restart_keeps_its_data(tmp_path: Path) -> None:
    from erpbridge.sims._common.server import run_simulator
    from erpbridge.sims.sandbox import load_simulator

    spec = load_simulator("sap")
    with run_simulator(spec, tmp_path / "sap") as running:
        entry = running.entry
        auth = (str(entry["username"]), str(entry["password"]))
        with httpx.Client(base_url=str(entry["base_url"]), auth=auth) as client:
            first = client.get(SO_ROOT + "A_SalesOrder/$count").text
            token = client.get(SO_ROOT, headers={"X-CSRF-Token": "Fetch"}).headers["x-csrf-token"]
            client.patch(
                BP_ROOT + "A_BusinessPartner('17100001')",
                json={"SearchTerm2": "RESTART"},
                headers={"X-CSRF-Token": token},
            )
    with (
        run_simulator(spec, tmp_path / "sap") as running,
        httpx.Client(base_url=str(running.entry["base_url"]), auth=auth) as client,
    ):
        again = client.get(SO_ROOT + "A_SalesOrder/$count").text
        partner = client.get(BP_ROOT + "A_BusinessPartner('17100001')").json()["d"]
    assert int(first) == int(again) == 3000
    assert partner["SearchTerm2"] == "RESTART"


async def test_business_days_pass_with_wall_clock_when_configured(sap_state: SapState) -> None:
    seconds = [0.0]
    app = SapSimApp(
        sap_state,
        username=SANDBOX_USER,
        password=SANDBOX_PASSWORD,
        day_s=60.0,
        monotonic=lambda: seconds[0],
    )
    open_order = next(
        r["SalesOrder"]
        for r in sap_state.rows("A_SalesOrder")
        if r["OverallTotalDeliveryStatus"] == "A" and r["TotalCreditCheckStatus"] == "A"
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://sap.test",
        auth=(SANDBOX_USER, SANDBOX_PASSWORD),
    ) as client:
        before = (await client.get(SO_ROOT + f"A_SalesOrder('{open_order}')")).json()["d"]
        seconds[0] = 150.0  # two and a half days
        after = (await client.get(SO_ROOT + f"A_SalesOrder('{open_order}')")).json()["d"]
    assert before["OverallSDProcessStatus"] == "A"
    assert after["OverallTotalDeliveryStatus"] == "C"
    assert after["OverallOrdReltdBillgStatus"] == "C"  # delivered on day 1, invoiced on day 2


def test_credit_exposure_follows_orders_and_invoices(sap_state: SapState) -> None:
    from erpbridge.sims.sap.rules import Rules

    rules = Rules(sap_state)
    partner = "17100004"
    account = sap_state.related("A_CreditManagementAccount", ("BusinessPartner",), (partner,))[0]
    assert account["CreditExposureAmount"] == rules.exposure_of(partner)
    for _ in range(3):
        rules.tick()
    after = sap_state.related("A_CreditManagementAccount", ("BusinessPartner",), (partner,))[0]
    open_value = sum(
        r["TotalNetAmount"]
        for r in sap_state.rows("A_SalesOrder")
        if r["SoldToParty"] == partner
        and r["OverallOrdReltdBillgStatus"] != "C"
        and r["TotalCreditCheckStatus"] != "B"
    )
    assert after["CreditExposureAmount"] == open_value == rules.exposure_of(partner)


async def test_merge_tunnelled_through_post_updates_and_put_clears_omitted_fields(
    sap_http: httpx.AsyncClient, sap_state: SapState
) -> None:
    token = await _token(sap_http)
    merged = await sap_http.post(
        BP_ROOT + "A_BusinessPartner('17100005')",
        json={"SearchTerm2": "MERGED"},
        headers={"X-CSRF-Token": token, "X-HTTP-Method": "MERGE"},
    )
    put = await sap_http.put(
        BP_ROOT + "A_BusinessPartner('17100006')",
        json={"BusinessPartnerCategory": "2", "OrganizationBPName1": "Replaced Ltd"},
        headers={"X-CSRF-Token": token},
    )
    replaced = sap_state.get("A_BusinessPartner", ("17100006",))
    assert merged.status_code == put.status_code == 204
    assert sap_state.get("A_BusinessPartner", ("17100005",))["SearchTerm2"] == "MERGED"  # type: ignore[index]
    assert replaced["OrganizationBPName1"] == "Replaced Ltd"  # type: ignore[index]
    assert replaced["SearchTerm1"] is None  # type: ignore[index]
    assert replaced["BusinessPartner"] == "17100006"  # type: ignore[index]


async def test_failed_changeset_restores_the_order_an_item_create_repriced(
    sap_http: httpx.AsyncClient, sap_state: SapState
) -> None:
    before = dict(sap_state.get("A_SalesOrder", ("1000004",)) or {})
    add_item = (
        "POST A_SalesOrder('1000004')/to_Item HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
        + json.dumps({"Material": "TG0011", "RequestedQuantity": "4"})
    )
    failing = (
        "PATCH A_SalesOrder('0000000') HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
        + json.dumps({"PurchaseOrderByCustomer": "X"})
    )
    answer = await sap_http.post(
        SO_ROOT + "$batch",
        content=_batch_body("batch_9", "changeset_9", [add_item, failing]).encode(),
        headers={
            "X-CSRF-Token": await _token(sap_http),
            "Content-Type": "multipart/mixed;boundary=batch_9",
        },
    )
    assert answer.status_code == 202
    assert "HTTP/1.1 404" in answer.text
    assert sap_state.get("A_SalesOrder", ("1000004",)) == before
    assert len(sap_state.related("A_SalesOrderItem", ("SalesOrder",), ("1000004",))) == len(
        [r for r in sap_state.rows("A_SalesOrderItem") if r["SalesOrder"] == "1000004"]
    )


async def test_update_ignores_read_only_fields_but_refuses_a_key_change(
    sap_http: httpx.AsyncClient, sap_state: SapState
) -> None:
    token = await _token(sap_http)
    before = dict(sap_state.get("A_SalesOrder", ("1000007",)) or {})
    ignored = await sap_http.patch(
        SO_ROOT + "A_SalesOrder('1000007')",
        json={"TotalNetAmount": "1.00", "PurchaseOrderByCustomer": "KEPT-REF"},
        headers={"X-CSRF-Token": token},
    )
    refused = await sap_http.patch(
        SO_ROOT + "A_SalesOrder('1000007')",
        json={"SalesOrder": "1000008"},
        headers={"X-CSRF-Token": token},
    )
    after = sap_state.get("A_SalesOrder", ("1000007",))
    assert ignored.status_code == 204
    assert after["TotalNetAmount"] == before["TotalNetAmount"]  # type: ignore[index]
    assert after["PurchaseOrderByCustomer"] == "KEPT-REF"  # type: ignore[index]
    assert refused.status_code == 400
    assert "Key property 'SalesOrder'" in _error(refused)["message"]["value"]  # type: ignore[index]
