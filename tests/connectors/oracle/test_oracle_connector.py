"""The oracle connector against the simulator: every spi operation, paging, writes, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import ValidationError as PydanticValidationError
from structlog.testing import capture_logs

from erpbridge.connectors.oracle import OracleConnector, OracleSettings
from erpbridge.connectors.oracle.errors import classify_response
from erpbridge.sims._common.faults import FaultKind, FaultMiddleware
from erpbridge.sims.oracle import SANDBOX_PASSWORD, SANDBOX_USER, OracleState, build_app
from erpbridge.spi.connector import Connector
from erpbridge.spi.errors import (
    AuthError,
    ConflictError,
    NotFoundError,
    RateLimitedError,
    TransientError,
    ValidationError,
)
from erpbridge.spi.records import Cursor, Record, WriteMode, WriteOp, WriteOutcome
from erpbridge.spi.registry import ConnectorRegistry
from erpbridge.spi.schema import FieldType
from tests.connectors.oracle.conftest import BASE_URL, StepClock, order_fields, settings

ORDERS = "salesOrdersForOrderHub"
ROOT = f"{BASE_URL}/fscmRestApi/resources/11.13.18.05"


async def _read_all(
    connector: OracleConnector, object: str, cursor: Cursor | None, page_size: int
) -> tuple[list[Record], Cursor | None]:
    records: list[Record] = []
    last = cursor
    async for page in connector.read_changes(object, cursor, page_size):
        records.extend(page.records)
        last = page.cursor
    return records, last


def _party(state: OracleState) -> str:
    account = next(iter(state.tables["receivablesCustomerAccountActivities"].values()))
    return str(account["CustomerName"])


# --- check, describe, registry ---------------------------------------------------------------


async def test_check_passes_with_good_credentials(connector: OracleConnector) -> None:
    result = await connector.check()
    assert result.ok and result.details["api_version"] == "11.13.18.05"


async def test_check_names_refused_credentials_without_the_password(
    http: httpx.AsyncClient,
) -> None:
    conn = OracleConnector(settings(password="Wrong-Secret-Value-42"), http)
    result = await conn.check()
    assert not result.ok and result.details["error_class"] == "AuthError"
    assert "refused" in result.reason and "Wrong-Secret-Value-42" not in result.reason


async def test_describe_gives_types_lines_keys_and_stamp(connector: OracleConnector) -> None:
    catalog = await connector.describe()
    orders = catalog.objects[ORDERS]
    lines = orders.field("lines")
    assert set(catalog.objects) >= {ORDERS, "itemsV2", "onhandQuantityDetails"}
    assert orders.field("LastUpdateDate").type is FieldType.DATETIME  # type: ignore[union-attr]
    assert orders.field("HeaderId").read_only  # type: ignore[union-attr]
    assert lines is not None and lines.type is FieldType.LINES and lines.lines is not None
    assert (
        orders.stamp_field == "LastUpdateDate" and "SourceTransactionNumber" in orders.natural_keys
    )


def test_registry_builds_a_connector_that_satisfies_the_protocol() -> None:
    spec = ConnectorRegistry(use_entry_points=False).get("oracle")
    conn = spec.create(settings(), None)
    assert isinstance(conn, Connector) and spec.kind == "erp"


# --- read_changes ------------------------------------------------------------------------------


async def test_read_from_start_returns_every_order_once_in_stamp_id_order(
    connector: OracleConnector, sim_state: OracleState
) -> None:
    records, cursor = await _read_all(connector, ORDERS, None, 7)
    order = [(r.stamp, r.id) for r in records]
    assert len(records) == len(sim_state.tables[ORDERS]) == len({r.id for r in records})
    assert order == sorted(order) and cursor is not None and cursor.last_id == records[-1].id
    assert isinstance(records[0].fields["lines"], list) and "links" not in records[0].fields


async def test_read_from_cursor_returns_edited_records(
    connector: OracleConnector, sim_state: OracleState
) -> None:
    _, cursor = await _read_all(connector, ORDERS, None, 50)
    ops = [
        WriteOp(WriteMode.UPDATE, {"CustomerPONumber": "EDIT"}, target_id=key, ref=key)
        for key in list(sim_state.tables[ORDERS])[:3]
    ]
    await connector.write(ORDERS, ops)
    assert cursor is not None
    again, _ = await _read_all(
        connector, ORDERS, Cursor(cursor.stamp, cursor.last_id, timedelta(0)), 2
    )
    # "at or after read_from": the cursor's own record comes again (the engine drops it)
    assert {r.id for r in again} == {*(op.target_id for op in ops), cursor.last_id}


async def test_same_millisecond_edits_across_page_boundaries_are_never_skipped(
    connector: OracleConnector, sim_state: OracleState, clock: StepClock
) -> None:
    _, cursor = await _read_all(connector, ORDERS, None, 50)
    clock.step = timedelta(0)  # every edit below gets the very same LastUpdateDate
    keys = list(sim_state.tables[ORDERS])[5:12]
    await connector.write(
        ORDERS, [WriteOp(WriteMode.UPDATE, {"CustomerPONumber": "T"}, target_id=k) for k in keys]
    )
    assert cursor is not None
    again, last = await _read_all(
        connector, ORDERS, Cursor(cursor.stamp, cursor.last_id, timedelta(0)), 2
    )
    assert sorted(r.id for r in again if r.id != cursor.last_id) == sorted(keys)
    assert last is not None and last.last_id == max(keys)


async def test_overlap_rereads_the_window_before_the_cursor(connector: OracleConnector) -> None:
    records, cursor = await _read_all(connector, ORDERS, None, 50)
    assert cursor is not None
    window = Cursor(cursor.stamp, cursor.last_id, overlap=cursor.stamp - records[-3].stamp)  # type: ignore[operator]
    again, _ = await _read_all(connector, ORDERS, window, 50)
    assert [r.id for r in again] == [r.id for r in records[-3:]]


async def test_opaque_key_object_reads_and_gets_by_self_link_id(connector: OracleConnector) -> None:
    records, _ = await _read_all(connector, "onhandQuantityDetails", None, 6)
    fetched = await connector.get("onhandQuantityDetails", [records[0].id, "00DEAD"])
    assert len(records) == 20 and len({r.id for r in records}) == 20
    assert [r.id for r in fetched] == [records[0].id]


# --- get, find ---------------------------------------------------------------------------------


async def test_get_returns_present_ids_and_skips_missing(
    connector: OracleConnector, sim_state: OracleState
) -> None:
    keys = list(sim_state.tables[ORDERS])[:3]
    records = await connector.get(ORDERS, [*keys, "999"])
    assert sorted(r.id for r in records) == sorted(keys)


@pytest.mark.parametrize(
    ("object", "key_field", "values", "count"),
    [
        (ORDERS, "SourceTransactionNumber", ["CRM-10001", "CRM-10002", "CRM-none"], 2),
        ("receivablesCustomerAccountActivities", "AccountNumber", ["10000", "10003"], 2),
        ("itemsV2", "ItemNumber", ["AS54888", "CM-1001", "O'Brien"], 2),
        ("customerCreditProfiles", "AccountNumber", ["10001"], 1),
    ],
)
async def test_find_by_natural_key(
    connector: OracleConnector, object: str, key_field: str, values: list[object], count: int
) -> None:
    records = await connector.find(object, key_field, values)
    assert len(records) == count
    assert {r.fields[key_field] for r in records} <= set(values)


async def test_find_pages_past_the_500_record_limit_is_not_needed_for_small_sets(
    connector: OracleConnector, sim_state: OracleState
) -> None:
    numbers = [f"CRM-{10000 + n}" for n in range(45)]
    records = await connector.find(ORDERS, "SourceTransactionNumber", numbers)
    assert len(records) == 45  # two IN chunks of at most 40


# --- write -------------------------------------------------------------------------------------


async def test_batch_create_gives_a_result_per_op_and_the_orders_exist(
    connector: OracleConnector, sim_state: OracleState
) -> None:
    party = _party(sim_state)
    ops = [
        WriteOp(
            WriteMode.CREATE,
            order_fields(party, f"W-{n}"),
            key_field="SourceTransactionNumber",
            key_value=f"CRM-W-{n}",
            ref=f"job-{n}",
        )
        for n in range(3)
    ]
    results = await connector.write(ORDERS, ops)
    assert [r.outcome for r in results] == [WriteOutcome.CREATED] * 3
    assert [r.ref for r in results] == ["job-0", "job-1", "job-2"]
    assert all(sim_state.get(ORDERS, str(r.target_id)) is not None for r in results)


async def test_one_bad_record_fails_alone_and_the_rest_is_written(
    connector: OracleConnector, sim_state: OracleState
) -> None:
    party = _party(sim_state)
    bad = order_fields(party, "W-BAD", lines=[{"ProductNumber": "NO-SUCH", "OrderedQuantity": 1}])
    ops = [
        WriteOp(WriteMode.CREATE, order_fields(party, "W-A")),
        WriteOp(WriteMode.CREATE, bad),
        WriteOp(WriteMode.CREATE, order_fields(party, "W-B")),
    ]
    results = await connector.write(ORDERS, ops)
    assert [r.outcome for r in results] == [
        WriteOutcome.CREATED,
        WriteOutcome.FAILED,
        WriteOutcome.CREATED,
    ]
    error = results[1].error
    assert isinstance(error, ValidationError) and error.field == "ProductNumber"
    assert "NO-SUCH" in error.message
    assert sim_state.by_alt_key(ORDERS, ("CRM", "W-B")) is not None
    assert sim_state.by_alt_key(ORDERS, ("CRM", "W-BAD")) is None


async def test_upsert_by_natural_key_updates_the_existing_order(
    connector: OracleConnector, sim_state: OracleState
) -> None:
    existing = sim_state.by_alt_key(ORDERS, ("CRM", "10004"))
    op = WriteOp(
        WriteMode.UPSERT,
        {"CustomerPONumber": "UP-1"},
        key_field="SourceTransactionNumber",
        key_value="CRM-10004",
    )
    [result] = await connector.write(ORDERS, [op])
    assert (result.outcome, result.target_id) == (WriteOutcome.UPDATED, existing)
    assert sim_state.tables[ORDERS][str(existing)]["CustomerPONumber"] == "UP-1"


async def test_update_without_target_id_fails_without_a_call(connector: OracleConnector) -> None:
    [result] = await connector.write(ORDERS, [WriteOp(WriteMode.UPDATE, {"CustomerPONumber": "x"})])
    assert result.outcome is WriteOutcome.FAILED and isinstance(result.error, ValidationError)


async def test_update_of_missing_record_is_not_found(connector: OracleConnector) -> None:
    op = WriteOp(WriteMode.UPDATE, {"CustomerPONumber": "x"}, target_id="12345")
    [result] = await connector.write(ORDERS, [op])
    assert isinstance(result.error, NotFoundError)


async def test_create_of_item_and_requisition(
    connector: OracleConnector, sim_state: OracleState
) -> None:
    item = WriteOp(
        WriteMode.CREATE,
        {
            "ItemNumber": "NEW-1",
            "OrganizationCode": "M1",
            "ItemDescription": "新物料 New item",
            "PrimaryUOMCode": "Ea",
        },
        key_field="ItemNumber",
        key_value="NEW-1",
    )
    req = WriteOp(
        WriteMode.CREATE,
        {
            "RequisitioningBUId": 204,
            "Description": "备件 parts",
            "lines": [{"ItemDescription": "Pump", "Quantity": 2}],
        },
    )
    [item_result] = await connector.write("itemsV2", [item])
    [req_result] = await connector.write("purchaseRequisitions", [req])
    assert item_result.outcome is req_result.outcome is WriteOutcome.CREATED
    assert sim_state.get("purchaseRequisitions", str(req_result.target_id)) is not None


async def test_lost_reply_then_resend_updates_instead_of_duplicating(
    connector: OracleConnector, sim_state: OracleState, faults: FaultMiddleware
) -> None:
    fields = order_fields(_party(sim_state), "LOST-1")
    faults.force(FaultKind.LOST_REPLY)  # the batch call itself (no lookup without a key)
    with pytest.raises(TransientError):
        await connector.write(ORDERS, [WriteOp(WriteMode.CREATE, fields)])
    resend = WriteOp(
        WriteMode.CREATE, fields, key_field="SourceTransactionNumber", key_value="CRM-LOST-1"
    )
    [result] = await connector.write(ORDERS, [resend])
    matching = [
        o for o in sim_state.tables[ORDERS].values() if o["SourceTransactionId"] == "LOST-1"
    ]
    # Oracle already holds exactly this order: nothing is sent again (revisions.py).
    assert result.outcome is WriteOutcome.UNCHANGED and len(matching) == 1
    assert result.target_id == str(matching[0]["HeaderId"])


async def test_resend_without_a_key_is_kept_single_by_upsert_mode(
    connector: OracleConnector, sim_state: OracleState, faults: FaultMiddleware
) -> None:
    op = WriteOp(WriteMode.CREATE, order_fields(_party(sim_state), "LOST-2"))
    faults.force(FaultKind.LOST_REPLY)
    with pytest.raises(TransientError):
        await connector.write(ORDERS, [op])
    [result] = await connector.write(ORDERS, [op])
    matching = [
        o for o in sim_state.tables[ORDERS].values() if o["SourceTransactionId"] == "LOST-2"
    ]
    assert result.outcome is not WriteOutcome.FAILED and len(matching) == 1


async def test_read_only_object_write_fails_with_validation(connector: OracleConnector) -> None:
    [result] = await connector.write(
        "receivablesCustomerAccountActivities", [WriteOp(WriteMode.CREATE, {"AccountNumber": "1"})]
    )
    assert (
        isinstance(result.error, ValidationError)
        and "POST action not supported" in result.error.message
    )


# --- errors ------------------------------------------------------------------------------------


async def test_throttling_is_rate_limited_with_retry_after(
    connector: OracleConnector, faults: FaultMiddleware
) -> None:
    faults.force(FaultKind.THROTTLE)
    with pytest.raises(RateLimitedError) as caught:
        await connector.get(ORDERS, ["1"])
    assert caught.value.retry_after_s == 1.0


async def test_server_error_is_transient(
    connector: OracleConnector, faults: FaultMiddleware
) -> None:
    faults.force(FaultKind.ERROR)
    with pytest.raises(TransientError):
        await connector.find(ORDERS, "SourceTransactionNumber", ["CRM-10001"])


async def test_bad_credentials_on_a_read_are_auth_errors(http: httpx.AsyncClient) -> None:
    conn = OracleConnector(settings(password="nope-nope"), http)
    with pytest.raises(AuthError):
        await conn.get(ORDERS, ["1"])


async def test_unknown_object_is_not_found(connector: OracleConnector) -> None:
    with pytest.raises(NotFoundError):
        await connector.get("noSuchObject", ["1"])


async def test_duplicate_create_and_stale_etag_classify_as_conflicts(
    http: httpx.AsyncClient, sim_state: OracleState
) -> None:
    auth = (SANDBOX_USER, SANDBOX_PASSWORD)
    headers = {"REST-Framework-Version": "4"}
    body = order_fields(_party(sim_state), "C-1")
    await http.post(f"{ROOT}/{ORDERS}", json=body, auth=auth, headers=headers)
    duplicate = await http.post(f"{ROOT}/{ORDERS}", json=body, auth=auth, headers=headers)
    stale = await http.patch(
        f"{ROOT}/{ORDERS}/CRM:C-1",
        json={},
        auth=auth,
        headers={**headers, "If-Match": '"ACED0005BEEF"'},
    )
    assert isinstance(classify_response(duplicate, ORDERS), ConflictError)
    assert isinstance(classify_response(stale, ORDERS), ConflictError)


async def test_plain_text_errors_of_old_framework_versions_are_understood(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get(
        f"{ROOT}/{ORDERS}", params={"q": "Nope=1"}, auth=(SANDBOX_USER, SANDBOX_PASSWORD)
    )
    error = classify_response(response, ORDERS)
    assert isinstance(error, ValidationError) and "Nope" in error.message


async def test_password_never_reaches_logs_or_errors(
    http: httpx.AsyncClient, sim_state: OracleState
) -> None:
    conn = OracleConnector(settings(password="Top-Secret-Password-77"), http)
    with capture_logs() as logs:
        result = await conn.check()
        with pytest.raises(AuthError) as caught:
            await conn.write(
                ORDERS, [WriteOp(WriteMode.CREATE, order_fields(_party(sim_state), "S"))]
            )
    error = caught.value
    text = repr(logs) + repr(conn) + result.reason + repr(conn.client) + str(error) + str(error.raw)
    assert "Top-Secret-Password-77" not in text and not result.ok


async def test_stamps_come_back_as_aware_utc(connector: OracleConnector) -> None:
    [record] = await connector.get(ORDERS, [str(300_100_571_000_001)])
    assert record.stamp is not None and record.stamp.tzinfo is UTC
    assert record.stamp > datetime(2026, 1, 1, tzinfo=UTC)


async def test_non_numeric_ids_are_simply_absent(connector: OracleConnector) -> None:
    assert await connector.get(ORDERS, ["abc", "x'y"]) == []


async def test_paged_expanded_lines_are_read_to_the_end(sim_state: OracleState) -> None:
    # Whether Fusion pages expanded children is undocumented: the simulator can (1 per page).
    paged = build_app(sim_state, child_limit=1)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=paged)) as http:
        conn = OracleConnector(settings(), http)
        records, _ = await _read_all(conn, ORDERS, None, 20)
    many = [r for r in records if len(sim_state.tables[ORDERS][r.id]["lines"]) > 1]  # type: ignore[arg-type]
    assert many
    for record in records:
        stored = sim_state.tables[ORDERS][record.id]["lines"]
        assert [line["LineId"] for line in record.fields["lines"]] == [  # type: ignore[attr-defined]
            line["LineId"]
            for line in stored  # type: ignore[attr-defined]
        ]


@pytest.mark.parametrize("version", [2, 3])
async def test_older_framework_versions_read_and_fail_the_same_way(
    http: httpx.AsyncClient, sim_state: OracleState, version: int
) -> None:
    conn = OracleConnector(settings(framework_version=version), http)
    records, _ = await _read_all(conn, ORDERS, None, 10)
    bad = order_fields(
        _party(sim_state), "V-BAD", lines=[{"ProductNumber": "NOPE", "OrderedQuantity": 1}]
    )
    [result] = await conn.write(ORDERS, [WriteOp(WriteMode.CREATE, bad)])
    assert len(records) == len(sim_state.tables[ORDERS])
    assert all(isinstance(r.fields["lines"], list) and r.fields["lines"] for r in records)
    assert isinstance(result.error, ValidationError) and "NOPE" in result.error.message


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"base_url": "ftp://pod"}, "base_url"),
        ({"base_url": "https://pod/fscmRestApi"}, "base_url"),
        ({"api_version": "v1; drop"}, "api_version"),
        ({"framework_version": 1}, "framework_version"),
        ({"resources": {"customerCreditProfiles": "../etc"}}, "resources"),
        ({"password": "plain-text-password"}, "password"),
        ({"tenant": "x"}, "tenant"),
    ],
)
def test_bad_settings_are_refused_at_load_naming_the_field(
    change: dict[str, object], field: str
) -> None:
    raw: dict[str, object] = {
        "base_url": "https://pod.example.com",
        "username": "u",
        "password": "${env:ORACLE_PASSWORD}",
        **change,
    }
    with pytest.raises(PydanticValidationError) as caught:
        OracleSettings.model_validate(raw)
    assert caught.value.errors()[0]["loc"][0] == field
    assert "plain-text-password" not in str(caught.value)


async def test_two_edits_in_one_millisecond_have_different_versions(
    connector: OracleConnector, sim_state: OracleState, clock: StepClock
) -> None:
    key = next(iter(sim_state.tables[ORDERS]))
    clock.step = timedelta(0)
    [first] = await connector.write(
        ORDERS, [WriteOp(WriteMode.UPDATE, {"CustomerPONumber": "A"}, target_id=key)]
    )
    [read_a] = await connector.get(ORDERS, [key])
    [second] = await connector.write(
        ORDERS, [WriteOp(WriteMode.UPDATE, {"CustomerPONumber": "B"}, target_id=key)]
    )
    [read_b] = await connector.get(ORDERS, [key])
    assert read_a.stamp == read_b.stamp
    assert read_a.version != read_b.version
    assert (first.version, second.version) == (read_a.version, read_b.version)


# --- trading community parties (/crmRestApi) -------------------------------------------------


async def test_party_is_written_and_read_under_the_crm_root(connector: OracleConnector) -> None:
    fields = {
        "OrganizationName": "常州 Connector Party",
        "PartyUsageCode": "CUSTOMER",
        "SourceSystem": "SFDC",
        "SourceSystemReferenceValue": "001CONN1",
        "Country": "CN",
    }
    op = WriteOp(
        mode=WriteMode.UPSERT,
        fields=fields,
        key_field="SourceSystemReferenceValue",
        key_value="001CONN1",
    )
    [created] = await connector.write("hubOrganizations", [op])
    assert created.outcome is WriteOutcome.CREATED
    assert created.target_id is not None and created.target_id.startswith("CDRM_")
    # the same upsert again finds the party by its source reference: an update, no twin
    [again] = await connector.write("hubOrganizations", [op])
    assert (again.outcome, again.target_id) == (WriteOutcome.UPDATED, created.target_id)
    [party] = await connector.get("hubOrganizations", [created.target_id, "CDRM_NONE"])
    assert party.fields["OrganizationName"] == "常州 Connector Party"
    found = await connector.find("hubOrganizations", "SourceSystemReferenceValue", ["001CONN1"])
    assert [r.id for r in found] == [created.target_id]
    schema = (await connector.describe()).objects["hubOrganizations"]
    assert schema.field("PartyNumber").read_only  # type: ignore[union-attr]


async def test_describe_leaves_out_an_object_the_pod_does_not_serve(
    http: httpx.AsyncClient,
) -> None:
    conn = OracleConnector(settings(resources={"customerCreditProfiles": "creditNotHere"}), http)
    catalog = await conn.describe()
    assert "customerCreditProfiles" not in catalog.objects
    assert "salesOrdersForOrderHub" in catalog.objects
    await conn.aclose()
