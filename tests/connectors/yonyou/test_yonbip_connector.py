"""The YonBIP connector against the YonBIP simulator (in-process over ASGI)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
import structlog
from pydantic import ValidationError as PydanticValidationError

from erpbridge.connectors.yonbip import YonBipConnector
from erpbridge.connectors.yonbip.writer import resubmit_key
from erpbridge.sims._common.faults import FaultConfig, FaultKind, FaultMiddleware
from erpbridge.sims.yonbip import SANDBOX_APP_SECRET, BipSimApp, BipState, build_app
from erpbridge.spi import (
    AuthError,
    Connector,
    ConnectorRegistry,
    Cursor,
    RateLimitedError,
    Record,
    Secret,
    TransientError,
    ValidationError,
    WriteMode,
    WriteOp,
    WriteOutcome,
)

from .conftest import ROOT, StepClock, settings


def _merchant_fields(code: str, cls: str = "02") -> dict[str, object]:
    return {
        "code": code,
        "name": {"zh_CN": "苏州新创自动化有限公司"},
        "createOrgCode": "991",
        "customerClassCode": cls,
    }


def _order_fields(agent: str, qty: int = 2) -> dict[str, object]:
    return {
        "salesOrgId": "991",
        "transactionTypeId": "SO01",
        "vouchdate": "2026-11-06 00:00:00",
        "agentId": agent,
        "payMoney": 226 * qty,
        "orderPrices!currency": "CNY",
        "orderDetails": [
            {"productId": "WL00003", "qty": qty, "oriTaxUnitPrice": 226, "oriSum": 226 * qty}
        ],
    }


async def _read_all(
    connector: YonBipConnector, object: str, cursor: Cursor | None, size: int
) -> tuple[list[Record], Cursor | None]:
    records: list[Record] = []
    async for page in connector.read_changes(object, cursor, size):
        records += page.records
        cursor = page.cursor or cursor
    return records, cursor


# --- check / describe -------------------------------------------------------------------


async def test_check_gets_a_token_and_reads_a_customer(connector: YonBipConnector) -> None:
    result = await connector.check()
    assert result.ok and connector.client.token_fetches == 1


async def test_check_with_wrong_secret_says_why_without_the_secret(
    http: httpx.AsyncClient,
) -> None:
    bad = YonBipConnector(settings(app_secret=Secret.literal("not-the-secret-123")), http)
    with structlog.testing.capture_logs() as logs:
        result = await bad.check()
    assert not result.ok and result.details["error"] == "AuthError"
    assert "not-the-secret-123" not in result.reason + repr(logs) + repr(bad.client)


async def test_describe_lists_objects_with_natural_keys_and_lines(
    connector: YonBipConnector,
) -> None:
    catalog = await connector.describe()
    order = catalog.objects["voucherorder"]
    lines = order.field("orderDetails")
    assert catalog.objects["merchant"].natural_keys == ("code",)
    assert lines is not None and lines.lines is not None and lines.lines.field("qty") is not None


async def test_gateway_urls_are_looked_up_from_the_tenant_id(http: httpx.AsyncClient) -> None:
    connector = YonBipConnector(
        settings(gateway_url=None, token_url=None, tenant_id="k8x2m4q7", data_center_url=ROOT),
        http,
    )
    assert (await connector.check()).ok


def test_settings_without_urls_or_tenant_are_refused() -> None:
    with pytest.raises(PydanticValidationError, match="tenant_id"):
        settings(gateway_url=None, token_url=None)


def test_registry_builds_a_connector_that_satisfies_the_protocol() -> None:
    spec = ConnectorRegistry(use_entry_points=False).get("yonbip")
    built = spec.create(settings(), httpx.AsyncClient())
    assert isinstance(built, Connector) and spec.kind == "erp"


# --- reading ---------------------------------------------------------------------------


async def test_read_changes_from_start_gives_every_customer_once_in_order(
    connector: YonBipConnector,
) -> None:
    records, cursor = await _read_all(connector, "merchant", None, 5)
    keys = [(r.stamp, int(r.id)) for r in records]
    assert len(records) == 12 and keys == sorted(keys) and len(set(keys)) == 12  # type: ignore[type-var]
    assert cursor is not None and cursor.last_id == records[-1].id


async def test_same_second_edits_across_pages_are_all_read(
    connector: YonBipConnector, clock: StepClock
) -> None:
    _, cursor = await _read_all(connector, "merchant", None, 50)
    clock.advance(10)
    clock.frozen = True  # every save below gets the same pubts second
    ops = [
        WriteOp(WriteMode.CREATE, _merchant_fields(f"KH80{n:02d}"), idempotency_key=f"k{n}")
        for n in range(7)
    ]
    await connector.write("merchant", ops)
    records, _ = await _read_all(connector, "merchant", cursor, 3)
    codes = [r.fields["code"] for r in records]
    assert {f"KH80{n:02d}" for n in range(7)} <= set(codes) and len(codes) == len(set(codes))


async def test_incremental_read_returns_the_edited_customer(
    connector: YonBipConnector, clock: StepClock
) -> None:
    everything, cursor = await _read_all(connector, "merchant", None, 100)
    clock.advance(30)
    target = everything[2]
    await connector.write(
        "merchant",
        [WriteOp(WriteMode.UPDATE, {"contactName": "周杰"}, target_id=target.id, ref="r1")],
    )
    later, _ = await _read_all(connector, "merchant", cursor, 100)
    assert cursor is not None
    new = [r for r in later if r.stamp is not None and cursor.is_after(r.stamp, r.id)]
    assert [r.id for r in new] == [target.id] and new[0].fields["contactName"] == "周杰"
    # the overlap brings back only records stamped within it (the engine dedups them)
    assert all(r.stamp >= cursor.read_from for r in later if r.stamp is not None)


async def test_sales_orders_are_read_with_their_lines(connector: YonBipConnector) -> None:
    records, cursor = await _read_all(connector, "voucherorder", None, 4)
    lines = records[0].fields["orderDetails"]
    assert len(records) == 15 and isinstance(lines, list) and lines[0]["productId_code"]
    assert cursor is not None and records[0].stamp is not None


async def test_current_stock_is_a_snapshot_without_cursor(connector: YonBipConnector) -> None:
    pages = [p async for p in connector.read_changes("currentstock", None, 100)]
    assert len(pages) == 1 and pages[0].cursor is None and len(pages[0].records) == 8 * 3


# --- get / find -------------------------------------------------------------------------


async def test_get_returns_known_ids_and_leaves_unknown_out(connector: YonBipConnector) -> None:
    everything, _ = await _read_all(connector, "merchant", None, 100)
    got = await connector.get("merchant", [everything[0].id, "123", everything[5].id])
    assert [r.id for r in got] == [everything[0].id, everything[5].id]


async def test_get_orders_brings_lines(connector: YonBipConnector) -> None:
    orders, _ = await _read_all(connector, "voucherorder", None, 100)
    got = await connector.get("voucherorder", [orders[3].id, "99"])
    assert [r.id for r in got] == [orders[3].id] and got[0].fields["orderDetails"]


async def test_find_by_code_for_customers_orders_and_stock(connector: YonBipConnector) -> None:
    orders, _ = await _read_all(connector, "voucherorder", None, 100)
    customers = await connector.find("merchant", "code", ["KH0002", "KH0404"])
    found = await connector.find("voucherorder", "code", [orders[1].fields["code"]])
    stock = await connector.find("currentstock", "productCode", ["WL00002"])
    assert [r.fields["code"] for r in customers] == ["KH0002"]
    assert [r.id for r in found] == [orders[1].id] and len(stock) == 3


async def test_find_by_unknown_key_field_is_a_validation_error(
    connector: YonBipConnector,
) -> None:
    with pytest.raises(ValidationError) as caught:
        await connector.find("merchant", "contactTel", ["1"])
    assert caught.value.field == "contactTel"


# --- writing ----------------------------------------------------------------------------


async def test_create_twice_with_the_same_job_key_makes_one_customer(
    connector: YonBipConnector,
) -> None:
    op = WriteOp(WriteMode.CREATE, _merchant_fields("KH8101"), idempotency_key="job-1", ref="a")
    first = await connector.write("merchant", [op])
    again = await connector.write("merchant", [op])
    found = await connector.find("merchant", "code", ["KH8101"])
    assert first[0].outcome is WriteOutcome.CREATED and again[0].target_id == first[0].target_id
    assert len(found) == 1


async def test_upsert_updates_by_code_in_one_batch_with_per_record_failures(
    connector: YonBipConnector,
) -> None:
    ops = [
        WriteOp(
            WriteMode.UPSERT,
            {**_merchant_fields("KH0001"), "contactName": "孙丽"},
            key_field="code",
            key_value="KH0001",
            ref="ok",
        ),
        WriteOp(
            WriteMode.UPSERT,
            _merchant_fields("KH0002", cls="99"),
            key_field="code",
            key_value="KH0002",
            ref="bad",
        ),
        WriteOp(
            WriteMode.UPSERT,
            _merchant_fields("KH8201"),
            key_field="code",
            key_value="KH8201",
            idempotency_key="job-new",
            ref="new",
        ),
    ]
    results = await connector.write("merchant", ops)
    assert [r.outcome for r in results] == [
        WriteOutcome.UPDATED,
        WriteOutcome.FAILED,
        WriteOutcome.CREATED,
    ]
    error = results[1].error
    assert isinstance(error, ValidationError) and error.field == "customerClassCode"


async def test_order_create_and_refusal_name_the_field(connector: YonBipConnector) -> None:
    ops = [
        WriteOp(WriteMode.CREATE, _order_fields("KH0003"), idempotency_key="so-1", ref="1"),
        WriteOp(WriteMode.CREATE, _order_fields("NOBODY"), idempotency_key="so-2", ref="2"),
    ]
    results = await connector.write("voucherorder", ops)
    got = await connector.get("voucherorder", [str(results[0].target_id)])
    assert results[0].outcome is WriteOutcome.CREATED and got[0].fields["payMoney"] == 452
    assert isinstance(results[1].error, ValidationError) and results[1].error.field == "agentId"


async def test_long_job_keys_become_stable_32_character_resubmit_keys() -> None:
    key = resubmit_key("flow-orders:" + "x" * 60)
    assert key is not None and len(key) == 32 and key == resubmit_key("flow-orders:" + "x" * 60)


async def test_delete_is_refused_per_op(connector: YonBipConnector) -> None:
    results = await connector.write(
        "merchant", [WriteOp(WriteMode.DELETE, {}, target_id="1", ref="d")]
    )
    assert isinstance(results[0].error, ValidationError)


# --- tokens and faults -----------------------------------------------------------------------


async def test_expired_token_is_refreshed_once_and_the_call_repeated(
    connector: YonBipConnector, clock: StepClock
) -> None:
    await connector.check()
    clock.advance(7300)  # the server's clock: the client still thinks its token is fresh
    result = await connector.check()
    assert result.ok and connector.client.token_fetches == 2


async def test_token_refused_again_after_refresh_is_an_auth_error(
    bip_state: BipState, clock: StepClock
) -> None:
    app = build_app(bip_state, clock=clock, token_ttl_s=0)  # every token is stale at once
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ROOT) as http:
        connector = YonBipConnector(settings(), http)
        with pytest.raises(AuthError):
            await connector.get("merchant", ["1"])
    assert connector.client.token_fetches == 2


async def test_throttling_and_server_errors_map_to_retryable_classes(
    connector: YonBipConnector, faulty_app: FaultMiddleware
) -> None:
    await connector.check()
    faulty_app.force(FaultKind.THROTTLE)
    with pytest.raises(RateLimitedError):
        await connector.get("merchant", ["1"])
    faulty_app.force(FaultKind.ERROR)
    with pytest.raises(TransientError):
        await connector.get("merchant", ["1"])


async def test_lost_reply_then_retry_of_the_same_job_makes_one_order(
    connector: YonBipConnector, faulty_app: FaultMiddleware
) -> None:
    await connector.check()
    op = WriteOp(WriteMode.CREATE, _order_fields("KH0004"), idempotency_key="so-lost", ref="x")
    faulty_app.force(FaultKind.LOST_REPLY)
    lost = await connector.write("voucherorder", [op])
    retried = await connector.write("voucherorder", [op])
    mine = await connector.find("voucherorder", "agentId_code", ["KH0004"])
    created = [r for r in mine if r.id == retried[0].target_id]
    assert isinstance(lost[0].error, TransientError) and retried[0].outcome is WriteOutcome.CREATED
    assert (
        len(created) == 1 and sum(r.fields["vouchdate"] == "2026-11-06 00:00:00" for r in mine) == 1
    )


async def test_whole_call_failure_mid_batch_keeps_done_results(
    connector: YonBipConnector, faulty_app: FaultMiddleware, bip_app: BipSimApp
) -> None:
    await connector.check()
    ops = [
        WriteOp(WriteMode.CREATE, _order_fields("KH0005"), idempotency_key=f"so-b{n}", ref=str(n))
        for n in range(3)
    ]
    original = bip_app.routes["/yonbip/sd/voucherorder/singleSave"]
    calls = 0

    def second_call_throttled(b: object, q: object, a: str) -> object:
        nonlocal calls
        calls += 1
        if calls == 2:
            faulty_app.force(FaultKind.THROTTLE)  # applies to the next request (the third)
        return original.handler(b, q, a)  # type: ignore[arg-type]

    bip_app.routes["/yonbip/sd/voucherorder/singleSave"] = type(original)(
        "POST", second_call_throttled
    )
    results = await connector.write("voucherorder", ops)
    assert [r.outcome for r in results] == [
        WriteOutcome.CREATED,
        WriteOutcome.CREATED,
        WriteOutcome.FAILED,
    ]
    assert isinstance(results[2].error, RateLimitedError)


def test_secret_does_not_appear_in_settings_repr() -> None:
    text = repr(settings()) + str(settings().model_dump())
    assert SANDBOX_APP_SECRET not in text and datetime.now(UTC)


async def test_order_deletes_go_in_one_call_and_a_gone_order_counts_as_deleted(
    connector: YonBipConnector,
) -> None:
    created = await connector.write(
        "voucherorder",
        [
            WriteOp(WriteMode.CREATE, _order_fields("KH0006"), idempotency_key=f"so-d{n}")
            for n in range(2)
        ],
    )
    orders = await _read_all_orders(connector)
    audited = next(r for r in orders if r.fields["status"] == 1)
    codes = {r.id: r.fields["code"] for r in orders}
    codes = [codes[str(created[0].target_id)], codes[str(created[1].target_id)]]
    ops = [
        WriteOp(WriteMode.DELETE, {}, target_id=created[0].target_id, ref="a"),
        WriteOp(WriteMode.DELETE, {}, key_field="code", key_value=codes[1], ref="b"),
        WriteOp(WriteMode.DELETE, {}, target_id=audited.id, ref="c"),
    ]
    first = await connector.write("voucherorder", ops)
    again = await connector.write("voucherorder", ops[:1])
    left = await connector.get("voucherorder", [str(created[0].target_id), audited.id])
    assert [r.outcome for r in first] == [
        WriteOutcome.DELETED,
        WriteOutcome.DELETED,
        WriteOutcome.FAILED,
    ]
    assert isinstance(first[2].error, ValidationError) and "已审核" in first[2].error.message
    assert again[0].outcome is WriteOutcome.DELETED and [r.id for r in left] == [audited.id]


async def _read_all_orders(connector: YonBipConnector) -> list[Record]:
    records, _ = await _read_all(connector, "voucherorder", None, 100)
    return records


async def test_gateway_timeout_answer_after_a_hang_is_transient(
    connector: YonBipConnector, faulty_app: FaultMiddleware
) -> None:
    await connector.check()
    faulty_app.configure(FaultConfig(hang_s=0))
    faulty_app.force(FaultKind.HANG)
    with pytest.raises(TransientError) as caught:
        await connector.get("merchant", ["1"])
    assert caught.value.status == "310504"


async def test_create_without_a_job_key_still_passes_the_idempotent_api(
    connector: YonBipConnector,
) -> None:
    [result] = await connector.write(
        "merchant", [WriteOp(WriteMode.CREATE, _merchant_fields("KH8301"), ref="no-key")]
    )
    assert result.outcome is WriteOutcome.CREATED and result.target_id
