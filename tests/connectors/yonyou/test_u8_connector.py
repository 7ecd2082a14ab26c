"""The U8 OpenAPI connector against the U8 simulator (in-process over ASGI)."""

from __future__ import annotations

import httpx
import pytest
import structlog

from erpbridge.connectors.yonyou import U8Connector
from erpbridge.connectors.yonyou.connector import tradeid_of
from erpbridge.connectors.yonyou.errors import classify_answer
from erpbridge.sims._common.faults import FaultKind, FaultMiddleware
from erpbridge.sims.yonyou import U8State
from erpbridge.sims.yonyou import build_app as build_u8_app
from erpbridge.spi import (
    AuthError,
    ConflictError,
    Connector,
    ConnectorRegistry,
    Cursor,
    NotFoundError,
    RateLimitedError,
    Record,
    Secret,
    TransientError,
    ValidationError,
    WriteMode,
    WriteOp,
    WriteOutcome,
)

from .conftest import U8_ROOT, StepClock, u8_connector_for, u8_settings


def _customer(code: str, sort: str = "02") -> dict[str, object]:
    return {"code": code, "name": "常州新材科技有限公司", "abbrname": "新材科技", "sort_code": sort}


def _order(cust: str = "C0002", inv: str = "000003") -> dict[str, object]:
    return {
        "businesstype": "普通销售",
        "typecode": "1",
        "custcode": cust,
        "deptcode": "01",
        "date": "2026-11-05",
        "entry": [
            {"inventorycode": inv, "quantity": 4, "taxunitprice": 226, "bgift": 0, "rowno": 1}
        ],
    }


async def _read_all(
    connector: U8Connector, object: str, cursor: Cursor | None, size: int
) -> tuple[list[Record], Cursor | None]:
    records: list[Record] = []
    async for page in connector.read_changes(object, cursor, size):
        records += page.records
        cursor = page.cursor or cursor
    return records, cursor


async def test_check_and_describe(u8_connector: U8Connector) -> None:
    result = await u8_connector.check()
    catalog = await u8_connector.describe()
    assert result.ok and catalog.objects["customer"].natural_keys == ("code",)
    assert catalog.objects["saleorder"].field("entry") is not None


async def test_check_with_wrong_secret_is_an_auth_failure_without_the_secret(
    u8_http: httpx.AsyncClient,
) -> None:
    connector = u8_connector_for(u8_http, app_secret=Secret.literal("wrong-secret-777"))
    with structlog.testing.capture_logs() as logs:
        result = await connector.check()
    assert not result.ok and result.details["error"] == "AuthError"
    assert "wrong-secret-777" not in result.reason + repr(logs) + repr(connector.client)


def test_registry_builds_a_connector_that_satisfies_the_protocol() -> None:
    spec = ConnectorRegistry(use_entry_points=False).get("yonyou")
    assert isinstance(spec.create(u8_settings(), httpx.AsyncClient()), Connector)


async def test_read_changes_gives_every_customer_once_in_ts_order(
    u8_connector: U8Connector,
) -> None:
    records, cursor = await _read_all(u8_connector, "customer", None, 5)
    keys = [(r.stamp, r.id) for r in records]
    assert len(records) == 12 and keys == sorted(keys) and len(set(keys)) == 12  # type: ignore[type-var]
    assert cursor is not None and cursor.last_id == records[-1].id


async def test_same_second_customers_across_pages_are_all_read(
    u8_connector: U8Connector, clock: StepClock
) -> None:
    _, cursor = await _read_all(u8_connector, "customer", None, 100)
    clock.advance(10)
    clock.frozen = True
    ops = [
        WriteOp(WriteMode.CREATE, _customer(f"C80{n:02d}"), idempotency_key=f"job-same-{n:03d}")
        for n in range(7)
    ]
    results = await u8_connector.write("customer", ops)
    records, _ = await _read_all(u8_connector, "customer", cursor, 3)
    ids = [r.id for r in records]
    assert all(r.outcome is WriteOutcome.CREATED for r in results)
    assert {f"C80{n:02d}" for n in range(7)} <= set(ids) and len(ids) == len(set(ids))


async def test_sale_orders_are_read_with_entry_lines(u8_connector: U8Connector) -> None:
    records, _ = await _read_all(u8_connector, "saleorder", None, 4)
    entry = records[0].fields["entry"]
    assert len(records) == 15 and isinstance(entry, list) and entry[0]["inventorycode"]


async def test_current_stock_snapshot_and_find_by_inventory(u8_connector: U8Connector) -> None:
    pages = [p async for p in u8_connector.read_changes("currentstock", None, 100)]
    found = await u8_connector.find("currentstock", "invcode", ["000002"])
    assert pages[0].cursor is None and len(pages[0].records) == 24
    assert {r.id for r in found} == {"CK01|000002|", "CK02|000002|", "CK03|000002|"}


async def test_get_and_find_by_code_leave_unknown_codes_out(u8_connector: U8Connector) -> None:
    got = await u8_connector.get("customer", ["C0003", "C9999"])
    found = await u8_connector.find("customer", "code", ["C0004"])
    orders = await u8_connector.find("saleorder", "custcode", ["C0001", "C0002"])
    assert [r.id for r in got] == ["C0003"] and [r.id for r in found] == ["C0004"]
    assert all(r.fields["custcode"] in ("C0001", "C0002") for r in orders)


async def test_create_with_the_same_job_key_twice_makes_one_customer(
    u8_connector: U8Connector, u8_state: U8State
) -> None:
    op = WriteOp(WriteMode.CREATE, _customer("C8101"), idempotency_key="job:1/with spaces")
    first = await u8_connector.write("customer", [op])
    again = await u8_connector.write("customer", [op])
    assert first[0].outcome is WriteOutcome.CREATED and again[0].target_id == "C8101"
    assert again[0].outcome is WriteOutcome.CREATED and len(u8_state.rows("customer")) == 13


async def test_upsert_edits_existing_and_adds_new_with_per_op_failures(
    u8_connector: U8Connector,
) -> None:
    ops = [
        WriteOp(
            WriteMode.UPSERT,
            {"code": "C0001", "phone": "0512-1234567"},
            key_field="code",
            key_value="C0001",
            idempotency_key="job-up-0001",
        ),
        WriteOp(
            WriteMode.UPSERT,
            _customer("C8201", sort="99"),
            key_field="code",
            key_value="C8201",
            idempotency_key="job-up-0002",
        ),
        WriteOp(WriteMode.UPSERT, _customer("C8202"), key_field="code", key_value="C8202"),
    ]
    results = await u8_connector.write("customer", ops)
    got = await u8_connector.get("customer", ["C0001"])
    assert [r.outcome for r in results] == [
        WriteOutcome.UPDATED,
        WriteOutcome.FAILED,
        WriteOutcome.CREATED,
    ]
    error = results[1].error
    assert isinstance(error, ValidationError) and error.field == "sort_code"
    assert got[0].fields["phone"] == "0512-1234567"


async def test_sale_order_create_and_update_refused(u8_connector: U8Connector) -> None:
    results = await u8_connector.write(
        "saleorder",
        [
            WriteOp(WriteMode.CREATE, _order(), idempotency_key="job-so-0001"),
            WriteOp(WriteMode.UPDATE, _order(), target_id="0000000001"),
            WriteOp(WriteMode.CREATE, _order(cust="NOBODY"), idempotency_key="job-so-0002"),
        ],
    )
    assert results[0].outcome is WriteOutcome.CREATED and results[0].target_id
    assert isinstance(results[1].error, ValidationError)
    assert isinstance(results[2].error, ValidationError) and results[2].error.field == "custcode"


async def test_async_write_result_url_is_followed(u8_state: U8State) -> None:
    app = build_u8_app(u8_state, base_url=U8_ROOT, async_writes=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=U8_ROOT) as http:
        connector = u8_connector_for(http)
        results = await connector.write(
            "customer", [WriteOp(WriteMode.CREATE, _customer("C8301"), idempotency_key="job-as-01")]
        )
    assert results[0].outcome is WriteOutcome.CREATED and results[0].target_id == "C8301"


async def test_expired_token_is_refreshed_once(u8_connector: U8Connector, clock: StepClock) -> None:
    await u8_connector.check()
    clock.advance(7300)
    assert (await u8_connector.check()).ok and u8_connector.client.token_fetches == 2


async def test_token_refused_after_refresh_is_an_auth_error(u8_state: U8State) -> None:
    app = build_u8_app(u8_state, base_url=U8_ROOT, token_ttl_s=0)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=U8_ROOT) as http:
        connector = u8_connector_for(http)
        with pytest.raises(AuthError):
            await connector.get("customer", ["C0001"])
    assert connector.client.token_fetches == 2


async def test_faults_map_to_retryable_classes_and_stop_the_batch(
    u8_connector: U8Connector, u8_faulty: FaultMiddleware
) -> None:
    await u8_connector.check()
    u8_faulty.force(FaultKind.THROTTLE)
    with pytest.raises(RateLimitedError):
        await u8_connector.get("customer", ["C0001"])
    u8_faulty.force(FaultKind.ERROR)
    ops = [
        WriteOp(WriteMode.CREATE, _customer(f"C84{n:02d}"), idempotency_key=f"job-f-{n:04d}")
        for n in range(3)
    ]
    results = await u8_connector.write("customer", ops)
    assert all(isinstance(r.error, TransientError) for r in results)


async def test_lost_reply_then_retry_with_the_same_job_key_makes_one_order(
    u8_connector: U8Connector, u8_faulty: FaultMiddleware, u8_state: U8State
) -> None:
    await u8_connector.check()
    op = WriteOp(WriteMode.CREATE, _order(cust="C0005"), idempotency_key="job-lost-0001")
    before = len(u8_state.rows("saleorder"))
    u8_faulty.force(FaultKind.LOST_REPLY)
    lost = await u8_connector.write("saleorder", [op])
    retried = await u8_connector.write("saleorder", [op])
    assert isinstance(lost[0].error, TransientError)
    assert (
        retried[0].outcome is WriteOutcome.CREATED and len(u8_state.rows("saleorder")) == before + 1
    )


def test_unknown_errcodes_are_classified_by_their_message() -> None:
    cases = {
        "调用频率过高": RateLimitedError,
        "token已失效": AuthError,
        "编码重复": ConflictError,
        "单据不存在": NotFoundError,
        "客户(custcode) X 不存在": ValidationError,
    }
    got = {msg: type(classify_answer("77777", msg, object="customer")) for msg in cases}
    assert got == cases


def test_tradeids_are_the_job_key_when_it_fits_else_a_stable_hash() -> None:
    assert tradeid_of("job-12345678") == "job-12345678"
    long = tradeid_of("flow:orders/" + "x" * 80)
    assert long == tradeid_of("flow:orders/" + "x" * 80) and len(long) == 32


async def test_sale_order_upsert_adds_once_then_reports_unchanged(
    u8_connector: U8Connector, u8_state: U8State
) -> None:
    fields = {**_order(), "code": "CRM-SO-77"}
    op = WriteOp(WriteMode.UPSERT, fields, key_field="code", key_value="CRM-SO-77")
    first = await u8_connector.write("saleorder", [op])
    again = await u8_connector.write("saleorder", [op])
    assert first[0].outcome is WriteOutcome.CREATED and again[0].outcome is WriteOutcome.UNCHANGED
    assert again[0].target_id == "CRM-SO-77" and "CRM-SO-77" in u8_state.tables["saleorder"]
