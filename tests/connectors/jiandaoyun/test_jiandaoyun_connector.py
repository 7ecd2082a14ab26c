"""The jiandaoyun connector against its simulator, in-process: every spi operation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from structlog.testing import capture_logs

from erpbridge.connectors.jiandaoyun import SPEC, JiandaoyunConnector
from erpbridge.sims._common.faults import FaultKind, FaultMiddleware
from erpbridge.sims.jiandaoyun import JdyState
from erpbridge.spi import (
    AuthError,
    ChangePage,
    ConnectorRegistry,
    Cursor,
    FieldType,
    NotFoundError,
    RateLimitedError,
    Secret,
    TransientError,
    ValidationError,
    WriteMode,
    WriteOp,
    WriteOutcome,
)

from .conftest import (
    CONTACT,
    CUST_CODE,
    CUST_CREDIT,
    CUST_NAME,
    CUSTOMER,
    INVENTORY,
    SALES_ORDER,
    CountingTransport,
    make_settings,
)


async def pages_of(
    connector: JiandaoyunConnector, object: str, cursor: Cursor | None, size: int
) -> list[ChangePage]:
    return [page async for page in connector.read_changes(object, cursor, size)]


def create(code: str, key: str | None = None, **fields: object) -> WriteOp:
    values: dict[str, object] = {"客户编号": code, "客户名称": f"{code} 有限公司", **fields}
    return WriteOp(
        WriteMode.CREATE,
        values,
        key_field="客户编号",
        key_value=code,
        idempotency_key=key,
        ref=code,
    )


# --- registry, check, describe ------------------------------------------------------------


def test_registry_knows_the_jiandaoyun_connector() -> None:
    spec = ConnectorRegistry(use_entry_points=False).get("jiandaoyun")
    assert spec is SPEC and spec.kind == "crm"


async def test_check_succeeds_with_the_sandbox_key(connector: JiandaoyunConnector) -> None:
    result = await connector.check()
    assert result.ok, result.reason
    assert result.details["forms"] == "5"


async def test_check_with_a_wrong_key_says_the_key_was_refused(http: httpx.AsyncClient) -> None:
    connector = JiandaoyunConnector(make_settings(api_key=Secret.literal("wrong-key-123456")), http)
    result = await connector.check()
    assert not result.ok
    assert result.reason.startswith("API key refused")
    assert "wrong-key-123456" not in result.reason


async def test_check_with_an_unknown_app_says_so(http: httpx.AsyncClient) -> None:
    connector = JiandaoyunConnector(make_settings(app_id="0" * 24), http)
    result = await connector.check()
    assert not result.ok and "not found" in result.reason


async def test_check_against_a_closed_port_reports_the_connection_failure() -> None:
    async with httpx.AsyncClient() as http:
        connector = JiandaoyunConnector(make_settings(base_url="http://127.0.0.1:9"), http)
        result = await connector.check()
    assert not result.ok and "TransientError" in result.reason


async def test_describe_lists_forms_with_chinese_labels(connector: JiandaoyunConnector) -> None:
    catalog = await connector.describe()
    customer = catalog.objects[CUSTOMER]
    code = customer.field("客户编号")
    assert customer.label == "客户"
    assert code is not None and code.name == CUST_CODE and code.type is FieldType.STRING
    assert customer.natural_keys == (CUST_CODE,)
    assert customer.field("信用额度").type is FieldType.DECIMAL  # type: ignore[union-attr]
    assert customer.field("客户经理").type is FieldType.REFERENCE  # type: ignore[union-attr]
    assert customer.field("updateTime").read_only  # type: ignore[union-attr]
    assert customer.stamp_field == "updateTime" and customer.id_field == "_id"


async def test_describe_gives_subform_rows_their_own_schema(connector: JiandaoyunConnector) -> None:
    order = (await connector.describe()).objects[SALES_ORDER]
    lines = order.field("订单明细")
    assert lines is not None and lines.type is FieldType.LINES and lines.lines is not None
    assert [f.label for f in lines.lines.fields][:3] == ["行ID", "物料编码", "物料名称"]
    assert order.field("流水号").read_only  # type: ignore[union-attr]
    assert order.field("flowState") is not None


async def test_form_names_are_accepted_as_object_names(connector: JiandaoyunConnector) -> None:
    found = await connector.find("客户", "客户编号", ["C00001"])
    assert [r.object for r in found] == [CUSTOMER]


async def test_unknown_object_is_not_found(connector: JiandaoyunConnector) -> None:
    with pytest.raises(NotFoundError, match="not a form"):
        await connector.get("不存在的表单", ["x"])


# --- read_changes -------------------------------------------------------------------------


async def test_read_from_the_start_returns_every_record_in_stamp_id_order(
    connector: JiandaoyunConnector,
) -> None:
    pages = await pages_of(connector, CONTACT, None, 10)
    records = [r for p in pages for r in p.records]
    keys = [(r.stamp, r.id) for r in records]
    assert len(records) == 24
    assert keys == sorted(keys)  # type: ignore[type-var]
    assert [p.has_more for p in pages] == [True, True, False]
    assert pages[-1].cursor is not None
    assert (pages[-1].cursor.stamp, pages[-1].cursor.last_id) == keys[-1]


async def test_read_from_a_cursor_returns_later_changes_with_overlap(
    connector: JiandaoyunConnector, jdy_state: JdyState
) -> None:
    records = [r for p in await pages_of(connector, CUSTOMER, None, 100) for r in p.records]
    cursor = Cursor(stamp=records[-1].stamp, last_id=records[-1].id, overlap=timedelta(0))  # type: ignore[arg-type]
    await connector.write(
        CUSTOMER, [WriteOp(WriteMode.UPDATE, {"信用额度": 1}, target_id=records[3].id)]
    )
    pages = await pages_of(connector, CUSTOMER, cursor, 100)
    ids = [r.id for p in pages for r in p.records]
    assert ids == [
        records[-1].id,
        records[3].id,
    ]  # the record at the cursor (inclusive), then the edit
    assert pages[-1].cursor is not None and pages[-1].cursor.last_id == records[3].id


async def test_records_sharing_a_stamp_are_ordered_by_id(connector: JiandaoyunConnector) -> None:
    results = await connector.write(CUSTOMER, [create("TIE1"), create("TIE2"), create("TIE3")])
    created = [r.target_id for r in results]
    pages = await pages_of(connector, CUSTOMER, None, 2)
    tail = [r for p in pages for r in p.records][-3:]
    assert [r.id for r in tail] == created
    assert len({r.stamp for r in tail}) == 1


async def test_nothing_changed_since_the_cursor_costs_no_data_list(
    connector: JiandaoyunConnector, transport: CountingTransport
) -> None:
    later = Cursor(stamp=datetime(2030, 1, 1, tzinfo=UTC))
    transport.paths.clear()
    pages = await pages_of(connector, CUSTOMER, later, 50)
    assert [(list(p.records), p.cursor, p.has_more) for p in pages] == [([], later, False)]
    assert "app/entry/data/list" not in transport.paths


async def test_cursor_never_moves_back_when_the_overlap_rereads_older_records(
    connector: JiandaoyunConnector,
) -> None:
    records = [r for p in await pages_of(connector, CUSTOMER, None, 100) for r in p.records]
    cursor = Cursor(stamp=records[-1].stamp, last_id=records[-1].id, overlap=timedelta(days=400))  # type: ignore[arg-type]
    pages = await pages_of(connector, CUSTOMER, cursor, 5)
    assert all(p.cursor == cursor for p in pages)
    assert sum(len(p.records) for p in pages) == len(records)


async def test_a_datetime_widget_can_be_the_stamp(http: httpx.AsyncClient) -> None:
    connector = JiandaoyunConnector(
        make_settings(stamp_field="_widget_1615777000111"), http
    )  # 建档日期
    records = [r for p in await pages_of(connector, CUSTOMER, None, 100) for r in p.records]
    since = records[6].stamp
    assert since is not None
    pages = await pages_of(connector, CUSTOMER, Cursor(stamp=since, overlap=timedelta(0)), 100)
    assert [r.id for p in pages for r in p.records] == [r.id for r in records[6:]]


# --- get and find -------------------------------------------------------------------------


async def test_get_returns_existing_records_and_skips_missing_ones(
    connector: JiandaoyunConnector,
) -> None:
    some = [r for p in await pages_of(connector, CONTACT, None, 100) for r in p.records][:2]
    got = await connector.get(CONTACT, [some[0].id, "f" * 24, some[1].id])
    assert [r.id for r in got] == [some[0].id, some[1].id]
    assert got[0].fields == some[0].fields and got[0].version == some[0].version


async def test_find_by_label_of_a_text_widget(connector: JiandaoyunConnector) -> None:
    found = await connector.find(CUSTOMER, "客户编号", ["C00002", "C00007", "nope"])
    assert sorted(r.fields[CUST_CODE] for r in found) == ["C00002", "C00007"]  # type: ignore[type-var]


async def test_find_by_number_widget_uses_eq(
    connector: JiandaoyunConnector, transport: CountingTransport
) -> None:
    await connector.write(CUSTOMER, [create("NUM1", **{"信用额度": 777})])
    found = await connector.find(CUSTOMER, CUST_CREDIT, [777])
    assert [r.fields[CUST_CODE] for r in found] == ["NUM1"]


async def test_find_on_an_unknown_widget_is_a_validation_error(
    connector: JiandaoyunConnector,
) -> None:
    with pytest.raises(ValidationError) as caught:
        await connector.find(CUSTOMER, "不存在", ["x"])
    assert caught.value.field == "不存在"


async def test_find_on_an_aliased_form_uses_the_alias(connector: JiandaoyunConnector) -> None:
    found = await connector.find(INVENTORY, "mat_code", ["M-1001"])
    assert {r.fields["warehouse"] for r in found} == {"上海总仓", "深圳分仓"}


# --- write --------------------------------------------------------------------------------


async def test_batch_create_gives_each_op_its_new_id(
    connector: JiandaoyunConnector, transport: CountingTransport
) -> None:
    transport.paths.clear()
    results = await connector.write(CUSTOMER, [create("N1"), create("N2"), create("N3")])
    assert [r.outcome for r in results] == [WriteOutcome.CREATED] * 3
    assert [r.ref for r in results] == ["N1", "N2", "N3"]
    got = await connector.get(CUSTOMER, [str(r.target_id) for r in results])
    assert [g.fields[CUST_CODE] for g in got] == ["N1", "N2", "N3"]
    assert transport.paths.count("app/entry/data/batch_create") == 1


async def test_fields_may_be_named_by_chinese_label(connector: JiandaoyunConnector) -> None:
    [result] = await connector.write(
        CUSTOMER,
        [create("L1", **{"客户经理": "lina", "建档日期": datetime(2026, 3, 1, 2, tzinfo=UTC)})],
    )
    [record] = await connector.get(CUSTOMER, [str(result.target_id)])
    assert record.fields["_widget_1615777000106"]["username"] == "lina"  # type: ignore[index]
    assert record.fields["_widget_1615777000111"] == "2026-03-01T02:00:00.000Z"
    assert result.version == record.version


async def test_a_replayed_batch_with_the_same_keys_creates_nothing_new(
    connector: JiandaoyunConnector,
) -> None:
    ops = [create("R1", key="job-1"), create("R2", key="job-2")]
    first = await connector.write(CUSTOMER, ops)
    again = await connector.write(CUSTOMER, ops)
    found = await connector.find(CUSTOMER, "客户编号", ["R1", "R2"])
    assert [r.target_id for r in again] == [r.target_id for r in first]
    assert len(found) == 2


async def test_a_lost_reply_then_a_retry_makes_no_duplicate(
    connector: JiandaoyunConnector, faulted: FaultMiddleware
) -> None:
    ops = [create("LR1", key="job-a"), create("LR2", key="job-b")]
    await connector.describe()
    faulted.force(FaultKind.LOST_REPLY)
    lost = await connector.write(CUSTOMER, ops)
    retried = await connector.write(CUSTOMER, ops)
    found = await connector.find(CUSTOMER, "客户编号", ["LR1", "LR2"])
    assert [type(r.error) for r in lost] == [TransientError, TransientError]
    assert [r.outcome for r in retried] == [WriteOutcome.CREATED] * 2
    assert sorted(r.id for r in found) == sorted(str(r.target_id) for r in retried)


async def test_a_lost_single_create_is_deduplicated_by_transaction_id(
    connector: JiandaoyunConnector, faulted: FaultMiddleware
) -> None:
    await connector.describe()
    faulted.force(FaultKind.LOST_REPLY)
    [lost] = await connector.write(CUSTOMER, [create("LS1", key="job-s")])
    assert isinstance(lost.error, TransientError)
    [retried] = await connector.write(CUSTOMER, [create("LS1", key="job-s")])
    found = await connector.find(CUSTOMER, "客户编号", ["LS1"])
    assert [r.id for r in found] == [retried.target_id]


async def test_one_refused_record_does_not_fail_the_others(connector: JiandaoyunConnector) -> None:
    ops = [create("OK1"), create("BAD", **{"信用额度": "很多"}), create("OK2")]
    results = await connector.write(CUSTOMER, ops)
    assert [r.outcome for r in results] == [
        WriteOutcome.CREATED,
        WriteOutcome.FAILED,
        WriteOutcome.CREATED,
    ]
    error = results[1].error
    assert isinstance(error, ValidationError)
    assert error.field == CUST_CREDIT
    assert "信用额度" in error.message and "4001" in error.message


async def test_an_unknown_field_fails_that_op_before_any_call(
    connector: JiandaoyunConnector, transport: CountingTransport
) -> None:
    await connector.describe()
    transport.paths.clear()
    [result] = await connector.write(CUSTOMER, [create("U1", **{"不存在的字段": 1})])
    assert isinstance(result.error, ValidationError) and result.error.field == "不存在的字段"
    assert transport.paths == []


async def test_update_by_id_returns_the_new_version(connector: JiandaoyunConnector) -> None:
    [created] = await connector.write(CUSTOMER, [create("UP1")])
    [updated] = await connector.write(
        CUSTOMER,
        [WriteOp(WriteMode.UPDATE, {"客户名称": "改名后"}, target_id=created.target_id, ref="u")],
    )
    [record] = await connector.get(CUSTOMER, [str(created.target_id)])
    assert updated.outcome is WriteOutcome.UPDATED
    assert record.fields[CUST_NAME] == "改名后" and record.version == updated.version


async def test_update_of_a_missing_record_fails_with_not_found(
    connector: JiandaoyunConnector,
) -> None:
    [result] = await connector.write(
        CUSTOMER, [WriteOp(WriteMode.UPDATE, {"客户名称": "x"}, target_id="e" * 24)]
    )
    assert isinstance(result.error, NotFoundError)
    assert "数据不存在" in result.error.message


async def test_identical_updates_go_in_one_batch_update(
    connector: JiandaoyunConnector, transport: CountingTransport
) -> None:
    created = await connector.write(CUSTOMER, [create("BU1"), create("BU2"), create("BU3")])
    transport.paths.clear()
    ops = [
        WriteOp(WriteMode.UPDATE, {"客户状态": "冻结"}, target_id=r.target_id, ref=r.ref)
        for r in created
    ]
    results = await connector.write(CUSTOMER, ops)
    assert [r.outcome for r in results] == [WriteOutcome.UPDATED] * 3
    assert transport.paths.count("app/entry/data/batch_update") == 1
    got = await connector.get(CUSTOMER, [str(r.target_id) for r in created])
    assert {g.fields["_widget_1615777000108"] for g in got} == {"冻结"}


async def test_upsert_updates_by_natural_key_or_creates(connector: JiandaoyunConnector) -> None:
    ops = [
        WriteOp(
            WriteMode.UPSERT,
            {"客户名称": "已存在"},
            key_field="客户编号",
            key_value="C00003",
            ref="old",
        ),
        WriteOp(
            WriteMode.UPSERT,
            {"客户编号": "NEW9", "客户名称": "新的"},
            key_field="客户编号",
            key_value="NEW9",
            ref="new",
        ),
    ]
    results = await connector.write(CUSTOMER, ops)
    [old] = await connector.find(CUSTOMER, "客户编号", ["C00003"])
    assert [r.outcome for r in results] == [WriteOutcome.UPDATED, WriteOutcome.CREATED]
    assert results[0].target_id == old.id and old.fields[CUST_NAME] == "已存在"


async def test_upsert_on_a_key_that_matches_two_records_is_refused(
    connector: JiandaoyunConnector,
) -> None:
    await connector.write(CUSTOMER, [create("DUP"), create("DUP")])
    [result] = await connector.write(
        CUSTOMER,
        [WriteOp(WriteMode.UPSERT, {"客户名称": "x"}, key_field="客户编号", key_value="DUP")],
    )
    assert isinstance(result.error, ValidationError) and "not unique" in result.error.message


async def test_delete_is_idempotent(connector: JiandaoyunConnector) -> None:
    [created] = await connector.write(CUSTOMER, [create("DEL1")])
    op = WriteOp(WriteMode.DELETE, {}, target_id=created.target_id)
    first = await connector.write(CUSTOMER, [op])
    second = await connector.write(CUSTOMER, [op])
    assert [first[0].outcome, second[0].outcome] == [WriteOutcome.DELETED, WriteOutcome.DELETED]
    assert await connector.get(CUSTOMER, [str(created.target_id)]) == []


async def test_order_lines_written_by_label_round_trip(connector: JiandaoyunConnector) -> None:
    lines = [
        {"物料编码": "M-1001", "数量": 3, "含税单价": 120.5},
        {"物料编码": "M-1004", "数量": 1},
    ]
    [created] = await connector.write(
        SALES_ORDER, [WriteOp(WriteMode.CREATE, {"订单编号": "SO-RT-1", "订单明细": lines})]
    )
    [record] = await connector.get(SALES_ORDER, [str(created.target_id)])
    rows = record.fields["_widget_1615777000305"]
    assert [(r["_widget_1615777000351"], r["_widget_1615777000353"]) for r in rows] == [
        ("M-1001", 3),
        ("M-1004", 1),
    ]  # type: ignore[union-attr, index]
    # written back as read: the sub-rows keep their ids
    [again] = await connector.write(
        SALES_ORDER, [WriteOp(WriteMode.UPDATE, dict(record.fields), target_id=record.id)]
    )
    [after] = await connector.get(SALES_ORDER, [record.id])
    assert again.outcome is WriteOutcome.UPDATED
    assert [r["_id"] for r in after.fields["_widget_1615777000305"]] == [r["_id"] for r in rows]  # type: ignore[union-attr, index]


async def test_a_serial_number_widget_is_refused_before_the_call(
    connector: JiandaoyunConnector,
) -> None:
    [result] = await connector.write(SALES_ORDER, [WriteOp(WriteMode.CREATE, {"流水号": "No.1"})])
    assert (
        isinstance(result.error, ValidationError) and result.error.field == "_widget_1615777000310"
    )


# --- errors -------------------------------------------------------------------------------


async def test_throttled_read_is_rate_limited_with_a_retry_hint(
    connector: JiandaoyunConnector, faulted: FaultMiddleware
) -> None:
    await connector.describe()
    faulted.force(FaultKind.THROTTLE)
    with pytest.raises(RateLimitedError) as caught:
        await connector.find(CUSTOMER, "客户编号", ["C00001"])
    assert caught.value.retry_after_s == 1.0
    assert caught.value.message == "超出请求频率限制 (code 8303)"


async def test_the_documented_rate_limit_surfaces_as_rate_limited(jdy_state: JdyState) -> None:
    from erpbridge.sims.jiandaoyun import RateLimiter, build_app

    frozen = RateLimiter(lambda: 5.0)
    app = build_app(jdy_state, limiter=frozen)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        connector = JiandaoyunConnector(make_settings(), http)
        await connector.describe()  # 1 entry list + 5 widget lists: other endpoints
        outcomes = []
        for _ in range(31):
            try:
                outcomes.append(len(await connector.get(CUSTOMER, ["a" * 24])))
            except RateLimitedError as exc:
                outcomes.append(exc.retry_after_s)  # type: ignore[arg-type]
    assert outcomes == [0] * 30 + [1.0]  # data/get allows 30 calls per second


async def test_gateway_error_on_write_is_a_transient_result(
    connector: JiandaoyunConnector, faulted: FaultMiddleware
) -> None:
    await connector.describe()
    faulted.force(FaultKind.ERROR)
    results = await connector.write(CUSTOMER, [create("G1"), create("G2")])
    assert all(isinstance(r.error, TransientError) for r in results)


async def test_a_refused_key_fails_the_whole_write(http: httpx.AsyncClient) -> None:
    connector = JiandaoyunConnector(make_settings(api_key=Secret.literal("not-the-key-000")), http)
    with pytest.raises(AuthError) as caught:
        await connector.write(CUSTOMER, [create("A1")])
    assert "not-the-key-000" not in str(caught.value)
    assert caught.value.status == 8301


async def test_no_secret_in_logs_or_reprs(http: httpx.AsyncClient) -> None:
    key = "bad-key-that-must-not-leak-42"
    connector = JiandaoyunConnector(make_settings(api_key=Secret.literal(key)), http)
    with capture_logs() as logs:
        result = await connector.check()
    text = repr(logs) + repr(connector) + repr(connector.settings) + result.reason
    assert key not in text


# --- odd answers the simulator never gives (MockTransport) --------------------------------


@pytest.mark.parametrize(
    ("status", "content", "headers", "expected"),
    [
        (200, b"<html>proxy login</html>", {"content-type": "text/html"}, TransientError),
        (200, b"[1,2]", {"content-type": "application/json"}, TransientError),
        (
            200,
            '{"code":8301,"msg":"API Key 无效"}'.encode(),
            {"content-type": "application/json"},
            AuthError,
        ),
        (429, b"Too Many Requests", {"retry-after": "7"}, RateLimitedError),
        (
            400,
            '{"code":17017,"msg":"某个未知错误"}'.encode(),
            {"content-type": "application/json"},
            ValidationError,
        ),
        (503, b"<html>Service Unavailable</html>", {"content-type": "text/html"}, TransientError),
    ],
    ids=["html-200", "json-array", "error-body-200", "429-retry-after", "unknown-code", "html-503"],
)
async def test_odd_answers_become_spi_errors(
    status: int, content: bytes, headers: dict[str, str], expected: type[Exception]
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=content, headers=headers)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        connector = JiandaoyunConnector(make_settings(), http)
        with pytest.raises(expected) as caught:
            await connector.find(CUSTOMER, "客户编号", ["C00001"])
    if isinstance(caught.value, RateLimitedError):
        assert caught.value.retry_after_s == 7.0
    if expected is ValidationError:
        assert "某个未知错误" in str(caught.value)


# --- the other reading of batch_create: no success_ids in the answer ---------------------


class WithoutSuccessIds(httpx.AsyncBaseTransport):
    """The simulator's real answers, with ``success_ids`` removed from batch_create
    (the reference is unsure the product sends them)."""

    def __init__(self, app: object) -> None:
        self.inner = httpx.ASGITransport(app=app)  # type: ignore[arg-type]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if not request.url.path.endswith("/batch_create") or response.status_code != 200:
            return response
        body = json.loads(await response.aread())
        body.pop("success_ids", None)
        return httpx.Response(200, json=body)


async def test_created_ids_are_found_by_key_when_batch_create_omits_them(sim: object) -> None:
    async with httpx.AsyncClient(transport=WithoutSuccessIds(sim)) as http:
        connector = JiandaoyunConnector(make_settings(), http)
        results = await connector.write(CUSTOMER, [create("NS1"), create("NS2")])
        found = await connector.find(CUSTOMER, "客户编号", ["NS1", "NS2"])
    by_code = {r.fields[CUST_CODE]: r.id for r in found}
    assert [r.outcome for r in results] == [WriteOutcome.CREATED] * 2
    assert [r.target_id for r in results] == [by_code["NS1"], by_code["NS2"]]
