"""The sap connector against the SAP simulator in-process: every spi operation."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from structlog.testing import capture_logs

from erpbridge.connectors.sap import SPEC, SapConnector
from erpbridge.sims._common.faults import FaultConfig, FaultKind, FaultMiddleware
from erpbridge.sims.sap import SANDBOX_PASSWORD, SapSimApp
from erpbridge.sims.sap.state import SapState
from erpbridge.spi import (
    AuthError,
    Connector,
    ConnectorRegistry,
    Cursor,
    FieldType,
    NotFoundError,
    RateLimitedError,
    TransientError,
    ValidationError,
    WriteMode,
    WriteOp,
    WriteOutcome,
)
from tests.connectors.sap.conftest import StepClock, settings
from tests.connectors.sent import sent


def _order(po: str, sold_to: str = "17100001", material: str = "TG0011", qty: str = "2") -> dict:
    return {
        "SalesOrderType": "OR",
        "SalesOrganization": "1710",
        "DistributionChannel": "10",
        "OrganizationDivision": "00",
        "SoldToParty": sold_to,
        "PurchaseOrderByCustomer": po,
        "to_Item": [{"Material": material, "RequestedQuantity": Decimal(qty)}],
    }


async def _all_changes(conn: SapConnector, obj: str, cursor: Cursor | None, size: int) -> list:
    pages = [page async for page in conn.read_changes(obj, cursor, size)]
    return pages


async def test_check_succeeds_with_right_credentials(connector: SapConnector) -> None:
    result = await connector.check()
    assert result.ok, result.reason


async def test_check_with_wrong_password_says_401_without_the_password(
    http: httpx.AsyncClient,
) -> None:
    conn = SapConnector(settings(password="Wrong-Password-123"), http)
    result = await conn.check()
    assert not result.ok
    assert "401" in result.reason
    assert "Wrong-Password-123" not in result.reason


async def test_describe_reports_lines_stamp_and_natural_key(connector: SapConnector) -> None:
    catalog = await connector.describe()
    order = catalog.objects["A_SalesOrder"]
    items = order.field("to_Item")
    assert items is not None and items.type is FieldType.LINES
    assert items.lines is not None and items.lines.field("Material") is not None
    assert order.field("LastChangeDateTime").type is FieldType.DATETIME  # type: ignore[union-attr]
    assert order.field("SalesOrderDate").type is FieldType.DATE  # type: ignore[union-attr]
    assert order.stamp_field == "LastChangeDateTime"
    assert order.natural_keys == ("PurchaseOrderByCustomer",)
    assert catalog.objects["A_BusinessPartner"].stamp_field == "LastChangeDate+LastChangeTime"
    assert "A_MatlStkInAcctMod" in catalog.objects


async def test_read_changes_from_start_returns_every_order_once_in_stamp_id_order(
    connector: SapConnector, sim_state: SapState
) -> None:
    pages = await _all_changes(connector, "A_SalesOrder", None, 7)
    records = [r for p in pages for r in p.records]
    keys = [(r.stamp, r.id) for r in records]
    assert len(records) == len(sim_state.tables["A_SalesOrder"]) == 60
    assert keys == sorted(keys) and len(set(keys)) == 60
    assert pages[-1].has_more is False
    assert pages[-1].cursor.stamp == max(k[0] for k in keys)
    assert all(isinstance(r.fields["to_Item"], list) and r.fields["to_Item"] for r in records)
    assert isinstance(records[0].fields["TotalNetAmount"], Decimal)


async def test_read_changes_page_of_one_keeps_records_sharing_a_stamp(
    connector: SapConnector, sim_state: SapState
) -> None:
    stamps = [r["LastChangeDateTime"] for r in sim_state.rows("A_SalesOrder")]
    assert len(set(stamps)) < len(stamps)  # the seed has orders sharing a stamp
    pages = await _all_changes(connector, "A_SalesOrder", None, 1)
    ids = [r.id for p in pages for r in p.records]
    assert sorted(ids) == sorted(r["SalesOrder"] for r in sim_state.rows("A_SalesOrder"))


async def test_read_changes_from_cursor_returns_changes_since_and_advances(
    connector: SapConnector, sim_app: SapSimApp, clock: StepClock
) -> None:
    first = await _all_changes(connector, "A_SalesOrder", None, 100)
    cursor = first[-1].cursor
    clock.advance(timedelta(minutes=10))
    changed = sim_app.tick()
    later = await _all_changes(connector, "A_SalesOrder", cursor, 100)
    records = [r for p in later for r in p.records]
    assert changed > 0
    assert len(records) == changed  # the overlap window (5 s) holds no older change
    assert later[-1].cursor.stamp > cursor.stamp
    assert all(r.stamp >= cursor.read_from for r in records)


async def test_read_changes_of_business_partners_uses_date_and_time(
    connector: SapConnector, clock: StepClock
) -> None:
    first = await _all_changes(connector, "A_BusinessPartner", None, 50)
    cursor = first[-1].cursor
    clock.advance(timedelta(hours=1))
    results = await connector.write(
        "A_BusinessPartner",
        [WriteOp(WriteMode.UPDATE, {"SearchTerm2": "CHANGED"}, target_id="17100003")],
    )
    later = await _all_changes(connector, "A_BusinessPartner", cursor, 50)
    records = [r for p in later for r in p.records]
    repeats = [r for r in records if r.id != "17100003"]
    assert results[0].outcome is WriteOutcome.UPDATED
    assert records[-1].id == "17100003" == later[-1].cursor.last_id
    assert records[-1].fields["SearchTerm2"] == "CHANGED"
    # the seed made every partner in one second: the overlap window re-reads them
    assert all(cursor.read_from <= r.stamp <= cursor.stamp for r in repeats)


async def test_read_changes_of_stock_reads_everything_without_cursor(
    connector: SapConnector, sim_state: SapState
) -> None:
    pages = await _all_changes(connector, "A_MatlStkInAcctMod", None, 15)
    records = [r for p in pages for r in p.records]
    assert len(records) == len(sim_state.tables["A_MatlStkInAcctMod"])
    assert all(p.cursor is None for p in pages)
    assert records[0].id.startswith("Material='TG0011',Plant=")


async def test_get_returns_existing_ids_and_skips_missing(connector: SapConnector) -> None:
    records = await connector.get("A_SalesOrder", ["1000003", "9999999", "1000001"])
    assert sorted(r.id for r in records) == ["1000001", "1000003"]


async def test_get_by_compound_key_round_trips_the_id(connector: SapConnector) -> None:
    pages = await _all_changes(connector, "A_MatlStkInAcctMod", None, 3)
    wanted = pages[0].records[1].id
    missing = wanted.replace("Material='TG0011'", "Material='NOPE'")
    records = await connector.get("A_MatlStkInAcctMod", [wanted, missing])
    assert [r.id for r in records] == [wanted]


async def test_find_by_natural_key(connector: SapConnector, sim_state: SapState) -> None:
    po = sim_state.rows("A_SalesOrder")[5]["PurchaseOrderByCustomer"]
    records = await connector.find("A_SalesOrder", "PurchaseOrderByCustomer", [po, "NONE"])
    assert [r.fields["PurchaseOrderByCustomer"] for r in records] == [po]


async def test_find_by_unknown_field_is_validation_error(connector: SapConnector) -> None:
    with pytest.raises(ValidationError) as info:
        await connector.find("A_SalesOrder", "Nope", ["x"])
    assert info.value.field == "Nope"


async def test_unknown_object_is_not_found(connector: SapConnector) -> None:
    with pytest.raises(NotFoundError, match="A_Nothing"):
        await connector.get("A_Nothing", ["1"])


async def test_write_creates_orders_with_items_through_batch(
    connector: SapConnector, sim_state: SapState
) -> None:
    ops = [WriteOp(WriteMode.CREATE, _order(f"SF-{n}"), ref=f"job-{n}") for n in range(3)]
    results = await connector.write("A_SalesOrder", ops)
    assert [r.outcome for r in results] == [WriteOutcome.CREATED] * 3
    assert [r.ref for r in results] == ["job-0", "job-1", "job-2"]
    stored = sim_state.get("A_SalesOrder", (results[0].target_id,))
    assert stored is not None and stored["PurchaseOrderByCustomer"] == "SF-0"
    assert results[0].version and "datetimeoffset" in results[0].version


async def test_one_bad_record_fails_alone_with_sap_text_and_field(
    connector: SapConnector, sim_state: SapState
) -> None:
    before = len(sim_state.tables["A_SalesOrder"])
    ops = [
        WriteOp(WriteMode.CREATE, _order("SF-GOOD-1")),
        WriteOp(WriteMode.CREATE, _order("SF-BAD", sold_to="99999")),
        WriteOp(WriteMode.CREATE, _order("SF-GOOD-2")),
    ]
    results = await connector.write("A_SalesOrder", ops)
    error = results[1].error
    assert [r.outcome for r in results] == [
        WriteOutcome.CREATED,
        WriteOutcome.FAILED,
        WriteOutcome.CREATED,
    ]
    assert isinstance(error, ValidationError)
    assert error.field == "SoldToParty"
    assert "Sold-to party 99999 not defined" in error.message
    assert len(sim_state.tables["A_SalesOrder"]) == before + 2


async def test_retried_create_after_lost_answer_makes_no_duplicate(
    connector: SapConnector, faults: FaultMiddleware, sim_state: SapState
) -> None:
    op = WriteOp(
        WriteMode.CREATE,
        _order("SF-LOST"),
        key_field="PurchaseOrderByCustomer",
        key_value="SF-LOST",
    )
    batch_path = "/sap/opu/odata/sap/API_SALES_ORDER_SRV/$batch"
    faults.configure(FaultConfig(lost_reply_rate=1.0, path_prefix=batch_path))
    with pytest.raises(TransientError, match="502"):
        await connector.write("A_SalesOrder", [op])
    faults.configure(FaultConfig())
    retry = await connector.write("A_SalesOrder", [op])
    copies = [
        r for r in sim_state.rows("A_SalesOrder") if r["PurchaseOrderByCustomer"] == "SF-LOST"
    ]
    assert len(copies) == 1
    assert retry[0].outcome is WriteOutcome.UNCHANGED
    assert retry[0].target_id == copies[0]["SalesOrder"]


async def test_create_whose_key_the_caller_just_checked_is_not_looked_up_again(
    connector: SapConnector, http: httpx.AsyncClient
) -> None:
    lookups = sent(http, lambda request: str(request.url) if "filter" in str(request.url) else None)
    key = {"key_field": "PurchaseOrderByCustomer"}
    checked = WriteOp(
        WriteMode.CREATE, _order("SF-CHK-1"), key_value="SF-CHK-1", key_checked=True, **key
    )
    unchecked = WriteOp(WriteMode.CREATE, _order("SF-CHK-2"), key_value="SF-CHK-2", **key)
    results = await connector.write("A_SalesOrder", [checked])
    assert results[0].outcome is WriteOutcome.CREATED
    assert lookups == []
    await connector.write("A_SalesOrder", [unchecked])
    assert len(lookups) == 1 and "SF-CHK-2" in lookups[0]


async def test_upsert_by_natural_key_updates_then_delete_removes(
    connector: SapConnector, sim_state: SapState
) -> None:
    order = sim_state.rows("A_SalesOrder")[-1]
    po = order["PurchaseOrderByCustomer"]
    upsert = WriteOp(
        WriteMode.UPSERT,
        {"HeaderBillingBlockReason": "01"},
        key_field="PurchaseOrderByCustomer",
        key_value=po,
    )
    first = await connector.write("A_SalesOrder", [upsert])
    second = await connector.write(
        "A_SalesOrder", [WriteOp(WriteMode.DELETE, {}, target_id=first[0].target_id)]
    )
    assert first[0].outcome is WriteOutcome.UPDATED
    assert first[0].target_id == order["SalesOrder"]
    assert second[0].outcome is WriteOutcome.DELETED
    assert sim_state.get("A_SalesOrder", (order["SalesOrder"],)) is None


async def test_update_without_id_or_known_key_fails_that_record(connector: SapConnector) -> None:
    results = await connector.write(
        "A_SalesOrder",
        [
            WriteOp(
                WriteMode.UPDATE,
                {"SalesOrderType": "OR"},
                key_field="PurchaseOrderByCustomer",
                key_value="NOPE",
            )
        ],
    )
    assert results[0].outcome is WriteOutcome.FAILED
    assert isinstance(results[0].error, ValidationError)


async def test_write_refreshes_csrf_token_after_session_expiry(
    connector: SapConnector, sim_app: SapSimApp
) -> None:
    await connector.write("A_SalesOrder", [WriteOp(WriteMode.CREATE, _order("SF-A"))])
    sim_app.expire_sessions()
    results = await connector.write("A_SalesOrder", [WriteOp(WriteMode.CREATE, _order("SF-B"))])
    assert results[0].outcome is WriteOutcome.CREATED


async def test_sap_throttling_503_is_rate_limited_with_retry_after(
    connector: SapConnector, faults: FaultMiddleware
) -> None:
    faults.force(FaultKind.THROTTLE)
    with pytest.raises(RateLimitedError) as info:
        await connector.get("A_SalesOrder", ["1000001"])
    assert info.value.retry_after_s == 1.0
    assert info.value.status == 503


async def test_server_error_page_is_transient_with_its_title(
    connector: SapConnector, faults: FaultMiddleware
) -> None:
    await connector.describe()
    faults.force(FaultKind.ERROR)
    with pytest.raises(TransientError, match="500 Internal Server Error"):
        await connector.find("A_SalesOrder", "SalesOrder", ["1000001"])


async def test_wrong_password_on_read_is_auth_error(http: httpx.AsyncClient) -> None:
    conn = SapConnector(settings(password="Not-The-One"), http)
    with pytest.raises(AuthError):
        await conn.get("A_SalesOrder", ["1000001"])


async def test_logs_never_hold_the_password_or_tokens(connector: SapConnector) -> None:
    with capture_logs() as logs:
        await connector.check()
        await connector.write("A_SalesOrder", [WriteOp(WriteMode.CREATE, _order("SF-LOG"))])
    text = repr(logs) + repr(connector) + repr(connector.client)
    session_ids = list(connector.client._cookies.values())
    assert SANDBOX_PASSWORD not in text
    assert connector.client._csrf_token not in text  # type: ignore[operator]
    assert session_ids and not any(value in text for value in session_ids)


def test_registry_builds_sap_from_its_spec() -> None:
    spec = ConnectorRegistry(use_entry_points=False).get("sap")
    connector = spec.create(settings(), httpx.AsyncClient())
    assert spec is SPEC
    assert spec.kind == "erp"
    assert isinstance(connector, Connector)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"base_url": "ftp://x", "username": "U", "password": "${env:P}"}, "base_url"),
        ({"base_url": "http://x", "username": "U", "password": "plain"}, "reference"),
        ({"base_url": "http://x", "username": "U", "password": "${env:P}", "bogus": 1}, "bogus"),
        (
            {"base_url": "http://x", "username": "U", "password": "${env:P}", "sap_client": "1"},
            "three digits",
        ),
    ],
)
def test_bad_settings_are_refused_with_the_field_named(data: dict, fragment: str) -> None:
    with pytest.raises(Exception) as info:
        SPEC.settings.model_validate(data)
    assert fragment in str(info.value)


async def test_create_business_partner_with_address_lines(
    connector: SapConnector, sim_state: SapState
) -> None:
    partner = {
        "BusinessPartnerCategory": "2",
        "OrganizationBPName1": "杭州西湖茶叶有限公司",
        "SearchTerm1": "SF-ACC-77",
        "to_BusinessPartnerAddress": [
            {"StreetName": "龙井路", "HouseNumber": "8", "CityName": "杭州", "Country": "CN"}
        ],
    }
    results = await connector.write(
        "A_BusinessPartner",
        [WriteOp(WriteMode.UPSERT, partner, key_field="SearchTerm1", key_value="SF-ACC-77")],
    )
    number = results[0].target_id
    read = await connector.get("A_BusinessPartner", [number])  # type: ignore[list-item]
    assert results[0].outcome is WriteOutcome.CREATED
    assert read[0].fields["to_BusinessPartnerAddress"][0]["CityName"] == "杭州"  # type: ignore[index]
    assert sim_state.get("A_Customer", (number,)) is not None  # usable as sold-to party


async def test_created_order_status_flows_back_after_business_days(
    connector: SapConnector, sim_app: SapSimApp, clock: StepClock
) -> None:
    created = await connector.write(
        "A_SalesOrder", [WriteOp(WriteMode.CREATE, _order("SF-FLOW", sold_to="17100002"))]
    )
    start = [p async for p in connector.read_changes("A_SalesOrder", None, 100)][-1].cursor
    clock.advance(timedelta(days=1))
    sim_app.tick()
    clock.advance(timedelta(days=1))
    sim_app.tick()
    pages = [p async for p in connector.read_changes("A_SalesOrder", start, 100)]
    mine = [r for p in pages for r in p.records if r.id == created[0].target_id]
    assert len(mine) == 1
    assert mine[0].fields["OverallTotalDeliveryStatus"] == "C"
    assert mine[0].fields["OverallOrdReltdBillgStatus"] == "C"
    assert mine[0].fields["OverallSDProcessStatus"] == "C"
    assert mine[0].version != created[0].version


async def test_item_quantity_update_by_compound_id_reprices_the_order(
    connector: SapConnector,
) -> None:
    created = await connector.write(
        "A_SalesOrder", [WriteOp(WriteMode.CREATE, _order("SF-QTY", qty="1"))]
    )
    order_id = created[0].target_id
    before = (await connector.get("A_SalesOrder", [order_id]))[0]  # type: ignore[list-item]
    item_id = f"SalesOrder='{order_id}',SalesOrderItem='10'"
    results = await connector.write(
        "A_SalesOrderItem",
        [WriteOp(WriteMode.UPDATE, {"RequestedQuantity": Decimal(3)}, target_id=item_id)],
    )
    after = (await connector.get("A_SalesOrder", [order_id]))[0]  # type: ignore[list-item]
    assert results[0].outcome is WriteOutcome.UPDATED
    assert after.fields["TotalNetAmount"] == 3 * before.fields["TotalNetAmount"]  # type: ignore[operator]


async def test_update_of_an_order_with_unchanged_lines_leaves_its_items_alone(
    connector: SapConnector, sim_state: SapState
) -> None:
    created = await connector.write("A_SalesOrder", [WriteOp(WriteMode.CREATE, _order("SF-DEEP"))])
    order_id = created[0].target_id
    lines_before = [r for r in sim_state.rows("A_SalesOrderItem") if r["SalesOrder"] == order_id]
    again = _order("SF-DEEP")
    again["PurchaseOrderByCustomer"] = "SF-DEEP"
    again["HeaderBillingBlockReason"] = "01"
    [result] = await connector.write(
        "A_SalesOrder", [WriteOp(WriteMode.UPDATE, again, target_id=order_id)]
    )
    assert result.outcome is WriteOutcome.UPDATED, result.error
    stored = sim_state.get("A_SalesOrder", (order_id,))
    assert stored is not None and stored["HeaderBillingBlockReason"] == "01"
    assert [
        r for r in sim_state.rows("A_SalesOrderItem") if r["SalesOrder"] == order_id
    ] == lines_before
