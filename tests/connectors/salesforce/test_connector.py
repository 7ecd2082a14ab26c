"""The Salesforce connector against the simulator in-process: check, describe, reads, writes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest

from erpbridge.connectors.salesforce import SalesforceConnector, SalesforceSettings
from erpbridge.sims._common.faults import FaultKind, FaultMiddleware
from erpbridge.sims.salesforce.app import SalesforceSim
from erpbridge.spi.connector import Connector, WebhookConnector
from erpbridge.spi.errors import NotFoundError, TransientError, ValidationError
from erpbridge.spi.records import Cursor, Record, WriteMode, WriteOp, WriteOutcome
from erpbridge.spi.registry import ConnectorRegistry
from erpbridge.spi.schema import FieldType
from erpbridge.spi.secrets import Secret

from .conftest import ORG_ID, FakeClock


def _wire_order(sim: SalesforceSim, obj: str) -> list[tuple[str, str]]:
    rows = sim.org.records[obj].values()
    return sorted((str(r["SystemModstamp"]), str(r["Id"])) for r in rows)


async def _read_all(
    connector: SalesforceConnector, obj: str, cursor: Cursor | None, page_size: int
) -> tuple[list[Record], Cursor | None]:
    records: list[Record] = []
    async for page in connector.read_changes(obj, cursor, page_size):
        records.extend(page.records)
        cursor = page.cursor
    return records, cursor


def test_connector_satisfies_the_spi_protocols(connector: SalesforceConnector) -> None:
    assert isinstance(connector, Connector)
    assert isinstance(connector, WebhookConnector)


def test_registry_finds_the_salesforce_connector() -> None:
    spec = ConnectorRegistry(use_entry_points=False).get("salesforce")
    assert (spec.name, spec.kind) == ("salesforce", "crm")


async def test_check_logs_in_and_reports_api_usage(connector: SalesforceConnector) -> None:
    result = await connector.check()
    assert result.ok, result.reason
    assert result.details["org_id"] == ORG_ID
    assert result.details["api_requests_remaining"].endswith("/15000")


async def test_check_with_wrong_password_says_why_without_raising(
    make_connector: Callable[..., SalesforceConnector],
) -> None:
    result = await make_connector(password=Secret.literal("not-the-password")).check()
    assert not result.ok
    assert "AuthError" in result.reason
    assert "invalid_grant" in result.reason
    assert "not-the-password" not in result.reason


async def test_check_names_an_api_version_the_org_does_not_offer(
    make_connector: Callable[..., SalesforceConnector],
) -> None:
    result = await make_connector(api_version="99.0").check()
    assert not result.ok
    assert "API version 99.0 is not offered" in result.reason
    assert "31.0 to 62.0" in result.reason


async def test_soap_login_flow_works_too(
    make_connector: Callable[..., SalesforceConnector],
) -> None:
    result = await make_connector(auth="soap").check()
    assert result.ok, result.reason


async def test_describe_maps_types_keys_and_required_fields(
    connector: SalesforceConnector,
) -> None:
    catalog = await connector.describe()
    account, order = catalog.objects["Account"], catalog.objects["Order"]
    assert list(account.natural_keys) == ["ERP_Customer_Id__c"]
    assert account.field("Name").required  # type: ignore[union-attr]
    assert order.field("TotalAmount").read_only  # type: ignore[union-attr]
    assert order.field("AccountId").type is FieldType.REFERENCE  # type: ignore[union-attr]
    assert order.field("AccountId").reference_to == "Account"  # type: ignore[union-attr]
    assert order.field("Status").picklist == ("Draft", "Activated", "Cancelled")  # type: ignore[union-attr]
    assert account.stamp_field == "SystemModstamp"


async def test_read_changes_from_the_start_reads_every_record_in_stamp_then_id_order(
    connector: SalesforceConnector, sim: SalesforceSim
) -> None:
    records, cursor = await _read_all(connector, "Contact", None, page_size=5)
    assert [(r.version, r.id) for r in records] == _wire_order(sim, "Contact")
    assert cursor is not None
    assert (cursor.stamp, cursor.last_id) == (records[-1].stamp, records[-1].id)


async def test_read_changes_pages_through_next_records_url(
    connector: SalesforceConnector, sim: SalesforceSim
) -> None:
    await connector.write(
        "Contact", [WriteOp(WriteMode.CREATE, {"LastName": f"P{i}"}) for i in range(250)]
    )
    calls_before = sim.usage.used
    pages = [p async for p in connector.read_changes("Contact", None, page_size=250)]
    total = len(sim.org.records["Contact"])
    assert sum(len(p.records) for p in pages) == total
    assert [p.has_more for p in pages] == [True] * (len(pages) - 1) + [False]
    assert sim.usage.used - calls_before == 3  # describe, the query, one nextRecordsUrl page


async def test_records_sharing_a_stamp_are_not_skipped_with_zero_overlap(
    connector: SalesforceConnector, sim: SalesforceSim, clock: FakeClock
) -> None:
    clock.now += timedelta(days=1)
    result = await connector.write(
        "Account", [WriteOp(WriteMode.CREATE, {"Name": f"Tie {i}"}, ref=str(i)) for i in range(3)]
    )
    ids = sorted(str(r.target_id) for r in result)
    stamp = sim.org.records["Account"][ids[0]]["SystemModstamp"]
    first = (await connector.get("Account", [ids[0]]))[0]
    assert first.stamp is not None
    cursor = Cursor(stamp=first.stamp, last_id=ids[0], overlap=timedelta(0))
    records, _ = await _read_all(connector, "Account", cursor, page_size=10)
    assert {sim.org.records["Account"][i]["SystemModstamp"] for i in ids} == {stamp}
    assert [r.id for r in records] == ids[1:]


async def test_overlap_rereads_recent_records_but_never_misses_one(
    connector: SalesforceConnector, clock: FakeClock
) -> None:
    clock.now += timedelta(days=1)
    await connector.write("Contact", [WriteOp(WriteMode.CREATE, {"LastName": "Early"})])
    _, cursor = await _read_all(connector, "Contact", None, page_size=50)
    clock.now += timedelta(seconds=2)
    late = await connector.write("Contact", [WriteOp(WriteMode.CREATE, {"LastName": "Late"})])
    assert cursor is not None
    records, _ = await _read_all(connector, "Contact", cursor, page_size=50)
    names = [r.fields["LastName"] for r in records]
    assert names == ["Early", "Late"]
    assert records[-1].id == late[0].target_id


async def test_deleted_records_arrive_as_tombstones(
    connector: SalesforceConnector, clock: FakeClock
) -> None:
    clock.now += timedelta(days=1)
    created = await connector.write("Case", [WriteOp(WriteMode.CREATE, {"Subject": "x"})])
    record_id = str(created[0].target_id)
    clock.now += timedelta(seconds=1)
    deleted = await connector.write("Case", [WriteOp(WriteMode.DELETE, {}, target_id=record_id)])
    records, _ = await _read_all(connector, "Case", Cursor(clock.now - timedelta(seconds=1)), 10)
    assert deleted[0].outcome is WriteOutcome.DELETED
    assert [(r.id, r.deleted) for r in records] == [(record_id, True)]


async def test_get_returns_live_records_and_leaves_out_missing_ones(
    connector: SalesforceConnector, sim: SalesforceSim
) -> None:
    known = sorted(sim.org.records["Product2"])[:3]
    missing = "01tSm0000000zzzAAA"
    records = await connector.get("Product2", [*known, missing])
    assert sorted(r.id for r in records) == known
    assert all("attributes" not in r.fields for r in records)
    assert all(r.version and r.stamp for r in records)


async def test_find_by_external_id_returns_matching_records(
    connector: SalesforceConnector, sim: SalesforceSim
) -> None:
    keyed = [r for r in sim.org.records["Account"].values() if r["ERP_Customer_Id__c"]][:2]
    keys = [str(r["ERP_Customer_Id__c"]) for r in keyed]
    records = await connector.find("Account", "ERP_Customer_Id__c", [*keys, "no-such-key"])
    assert sorted(r.id for r in records) == sorted(str(r["Id"]) for r in keyed)


async def test_find_escapes_quotes_in_key_values(connector: SalesforceConnector) -> None:
    await connector.write(
        "Account",
        [
            WriteOp(
                WriteMode.UPSERT,
                {"Name": "O'Brien"},
                key_field="ERP_Customer_Id__c",
                key_value="K'1",
            )
        ],
    )
    records = await connector.find("Account", "ERP_Customer_Id__c", ["K'1"])
    assert [r.fields["Name"] for r in records] == ["O'Brien"]


async def test_write_gives_one_result_per_op_in_order(
    connector: SalesforceConnector, sim: SalesforceSim
) -> None:
    existing = sorted(sim.org.records["Account"])[0]
    ops = [
        WriteOp(WriteMode.CREATE, {"Name": "New A"}, ref="create"),
        WriteOp(WriteMode.UPDATE, {"Phone": "+86 10 1"}, target_id=existing, ref="update"),
        WriteOp(WriteMode.CREATE, {"Phone": "no name"}, ref="bad"),
        WriteOp(
            WriteMode.UPSERT,
            {"Name": "Keyed"},
            key_field="ERP_Customer_Id__c",
            key_value="E-1",
            ref="upsert",
        ),
        WriteOp(WriteMode.UPDATE, {"Name": "x"}, ref="no-id"),
    ]
    results = await connector.write("Account", ops)
    assert [r.ref for r in results] == ["create", "update", "bad", "upsert", "no-id"]
    assert [r.outcome for r in results] == [
        WriteOutcome.CREATED,
        WriteOutcome.UPDATED,
        WriteOutcome.FAILED,
        WriteOutcome.CREATED,
        WriteOutcome.FAILED,
    ]
    bad = results[2].error
    assert isinstance(bad, ValidationError)
    assert bad.field == "Name"
    assert "REQUIRED_FIELD_MISSING" in bad.message
    assert sim.org.records["Account"][existing]["Phone"] == "+86 10 1"


async def test_upsert_twice_creates_then_updates_one_record(
    connector: SalesforceConnector, sim: SalesforceSim
) -> None:
    op = WriteOp(WriteMode.UPSERT, {"Name": "Twice"}, key_field="ERP_Material__c", key_value="M-77")
    first = await connector.write("Product2", [op])
    second = await connector.write("Product2", [op])
    matches = [r for r in sim.org.records["Product2"].values() if r["ERP_Material__c"] == "M-77"]
    assert (first[0].outcome, second[0].outcome) == (WriteOutcome.CREATED, WriteOutcome.UPDATED)
    assert len(matches) == 1


async def test_create_with_a_key_is_idempotent(
    connector: SalesforceConnector, sim: SalesforceSim
) -> None:
    op = WriteOp(
        WriteMode.CREATE, {"LastName": "Once"}, key_field="ERP_Contact_Id__c", key_value="C-9"
    )
    await connector.write("Contact", [op])
    await connector.write("Contact", [op])
    matches = [r for r in sim.org.records["Contact"].values() if r["ERP_Contact_Id__c"] == "C-9"]
    assert len(matches) == 1


async def test_deleting_twice_counts_as_deleted(connector: SalesforceConnector) -> None:
    created = await connector.write("Contact", [WriteOp(WriteMode.CREATE, {"LastName": "Gone"})])
    op = WriteOp(WriteMode.DELETE, {}, target_id=created[0].target_id)
    results = [*await connector.write("Contact", [op]), *await connector.write("Contact", [op])]
    assert [r.outcome for r in results] == [WriteOutcome.DELETED, WriteOutcome.DELETED]


async def test_large_writes_go_in_calls_of_two_hundred(
    connector: SalesforceConnector, sim: SalesforceSim
) -> None:
    await connector.check()
    before = sim.usage.used
    ops = [WriteOp(WriteMode.CREATE, {"Name": f"Bulk {i}"}, ref=str(i)) for i in range(450)]
    results = await connector.write("Account", ops)
    assert sim.usage.used - before == 3
    assert [r.ref for r in results] == [str(i) for i in range(450)]
    assert {r.outcome for r in results} == {WriteOutcome.CREATED}


async def test_write_to_unknown_object_fails_each_record_as_invalid_type(
    connector: SalesforceConnector,
) -> None:
    results = await connector.write("NoSuchThing__c", [WriteOp(WriteMode.CREATE, {"Name": "x"})])
    assert results[0].outcome is WriteOutcome.FAILED
    assert isinstance(results[0].error, ValidationError)
    assert "INVALID_TYPE" in results[0].error.message


async def test_describe_of_unknown_object_raises_not_found(connector: SalesforceConnector) -> None:
    with pytest.raises(NotFoundError) as caught:
        await connector.schema("NoSuchThing__c")
    assert caught.value.address == "salesforce:NoSuchThing__c"


async def test_expired_session_is_renewed_once_transparently(
    connector: SalesforceConnector, sim: SalesforceSim
) -> None:
    await connector.check()
    old = connector.client.session
    sim.sessions.revoke_all()
    records = await connector.get("Pricebook2", sorted(sim.org.records["Pricebook2"]))
    assert len(records) == 2
    assert connector.client.session is not old


async def test_check_with_an_unresolvable_secret_says_which_without_raising(
    make_connector: Callable[..., SalesforceConnector],
) -> None:
    result = await make_connector(password=Secret("${env:ERPBRIDGE_TEST_UNSET_PASSWORD}")).check()
    assert not result.ok
    assert "ERPBRIDGE_TEST_UNSET_PASSWORD" in result.reason


async def test_ops_on_one_record_keep_their_order_within_a_write(
    connector: SalesforceConnector, sim: SalesforceSim
) -> None:
    created = await connector.write("Contact", [WriteOp(WriteMode.CREATE, {"LastName": "Seq"})])
    record_id = created[0].target_id
    ops = [
        WriteOp(WriteMode.UPDATE, {"Title": "first"}, target_id=record_id, ref="u1"),
        WriteOp(WriteMode.DELETE, {}, target_id=record_id, ref="d"),
        WriteOp(WriteMode.UPDATE, {"Title": "after delete"}, target_id=record_id, ref="u2"),
    ]
    results = await connector.write("Contact", ops)
    assert [r.outcome for r in results] == [
        WriteOutcome.UPDATED,
        WriteOutcome.DELETED,
        WriteOutcome.FAILED,
    ]
    assert sim.org.records["Contact"][str(record_id)]["Title"] == "first"


class _FaultOnNthCollectionsCall(httpx.AsyncBaseTransport):
    """Passes requests to the simulator; the n-th collections call meets a forced fault."""

    def __init__(self, app: FaultMiddleware, n: int) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.app, self.n, self.seen = app, n, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/composite/sobjects"):
            self.seen += 1
            if self.seen == self.n:
                self.app.force(FaultKind.ERROR)
        return await self.inner.handle_async_request(request)


async def test_a_failing_later_call_keeps_earlier_results(
    faults: FaultMiddleware, settings: SalesforceSettings
) -> None:
    transport = _FaultOnNthCollectionsCall(faults, n=2)
    async with httpx.AsyncClient(transport=transport) as http:
        connector = SalesforceConnector(settings, http)
        ops = [WriteOp(WriteMode.CREATE, {"Name": f"Part {i}"}, ref=str(i)) for i in range(250)]
        results = await connector.write("Account", ops)
    assert [r.outcome for r in results[:200]] == [WriteOutcome.CREATED] * 200
    assert {r.outcome for r in results[200:]} == {WriteOutcome.FAILED}
    assert isinstance(results[-1].error, TransientError)
    assert len(results) == 250


async def test_client_credentials_flow_works(
    make_connector: Callable[..., SalesforceConnector],
) -> None:
    result = await make_connector(auth="client_credentials").check()
    assert result.ok, result.reason
