"""The Kingdee connector against the simulator (in-process ASGI): every spi operation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from k3cloud_webapi_sdk.core import webapi_client
from k3cloud_webapi_sdk.main import K3CloudApiSdk
from structlog.testing import capture_logs

from erpbridge.connectors.kingdee.signing import signed_headers
from erpbridge.sims._common.faults import FaultConfig, FaultKind, FaultMiddleware
from erpbridge.sims.kingdee import (
    SANDBOX_ACCT_ID,
    SANDBOX_APP_ID,
    SANDBOX_APP_SECRET,
    SANDBOX_USER,
    KingdeeState,
)
from erpbridge.spi import (
    AuthError,
    ConflictError,
    Cursor,
    FieldType,
    RateLimitedError,
    TransientError,
    ValidationError,
    WriteMode,
    WriteOp,
    WriteOutcome,
)
from erpbridge.spi.secrets import Secret

from .conftest import BASE_URL, ConnectorFactory, StepClock, make_settings


def _order(customer: str = "CUST00001", qty: float = 5, **extra: object) -> dict[str, object]:
    return {
        "FDate": "2026-11-03",
        "FSaleOrgId": "100",
        "FCustId": customer,
        "FSalerId": "XSY002",
        "FSettleCurrId": "PRE001",
        "FSaleOrderEntry": [
            {
                "FMaterialId": "WL00002",
                "FUnitID": "Pcs",
                "FQty": qty,
                "FTaxPrice": 226,
                "FEntryTaxRate": 13,
            }
        ],
        **extra,
    }


async def _read_all(
    connector, obj: str, cursor: Cursor | None, page_size: int
) -> tuple[list, list]:  # type: ignore[no-untyped-def]
    records, pages = [], []
    async for page in connector.read_changes(obj, cursor, page_size):
        pages.append(page)
        records += page.records
    return records, pages


def test_signed_headers_equal_the_official_sdks_for_the_same_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(webapi_client.time, "time", lambda: 1_790_000_000.4)
    url = "http://127.0.0.1:8090/k3cloud/Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.Save.common.kdsvc"
    sdk = K3CloudApiSdk("http://127.0.0.1:8090/k3cloud/")
    sdk.InitConfig(
        SANDBOX_ACCT_ID,
        SANDBOX_USER,
        SANDBOX_APP_ID,
        SANDBOX_APP_SECRET,
        "http://127.0.0.1:8090/k3cloud/",
        lcid=1033,
        org_num=7,
    )

    theirs = sdk.BuildHeader(url)
    ours = signed_headers(
        url=url,
        app_id=SANDBOX_APP_ID,
        app_secret=SANDBOX_APP_SECRET,
        acct_id=SANDBOX_ACCT_ID,
        username=SANDBOX_USER,
        lcid=1033,
        org_num=7,
        now_s=1_790_000_000,
    )

    assert {k: theirs[k] for k in ours} == ours


@pytest.mark.parametrize("auth", ["signature", "password", "app_secret"])
async def test_check_succeeds_with_each_way_of_authenticating(
    connect: ConnectorFactory, auth: str
) -> None:
    result = await connect(auth=auth).check()

    assert result.ok, result.reason


async def test_check_with_a_wrong_app_secret_reports_kingdees_own_message(
    connect: ConnectorFactory,
) -> None:
    result = await connect(app_secret=Secret.literal("f" * 32)).check()

    assert not result.ok
    assert "会话信息已丢失" in result.reason
    assert result.details["error"] == "AuthError"


async def test_check_with_a_wrong_password_says_so(connect: ConnectorFactory) -> None:
    result = await connect(auth="password", password=Secret.literal("wrong-one")).check()

    assert not result.ok and "用户名或密码错误" in result.reason


async def test_check_with_an_unknown_data_centre_is_an_auth_failure(
    connect: ConnectorFactory,
) -> None:
    result = await connect(acct_id="000000000000").check()

    assert not result.ok and "Fail to verify thirty passport" in result.reason


async def test_describe_reports_header_subhead_and_entry_fields(connect: ConnectorFactory) -> None:
    catalog = await connect().describe()

    order = catalog.objects["SAL_SaleOrder"]
    assert order.id_field == "FID" and order.natural_keys == ("FBillNo",)
    assert order.stamp_field == "FModifyDate"
    assert order.field("FCustId").type is FieldType.REFERENCE  # type: ignore[union-attr]
    assert order.field("FCustId").reference_to == "BD_Customer"  # type: ignore[union-attr]
    assert order.field("FSettleCurrId") is not None  # a sub-head field, flat in the schema
    lines = order.field("FSaleOrderEntry")
    assert lines is not None and lines.type is FieldType.LINES and lines.label == "订单明细"
    assert lines.lines.field("FQty").required  # type: ignore[union-attr]
    assert catalog.objects["STK_Inventory"].stamp_field is None
    assert catalog.objects["BD_Customer"].field("客户名称") is not None


async def test_read_changes_pages_every_order_once_in_stamp_order_with_lines(
    connect: ConnectorFactory, sim_state: KingdeeState
) -> None:
    records, pages = await _read_all(connect(), "SAL_SaleOrder", None, page_size=5)

    ids = [r.id for r in records]
    assert len(ids) == len(set(ids)) == len(sim_state.tables["SAL_SaleOrder"])
    assert [r.stamp for r in records] == sorted(r.stamp for r in records)  # type: ignore[type-var]
    assert all(p.has_more for p in pages[:-1]) and not pages[-1].has_more
    assert pages[-1].cursor is not None and pages[-1].cursor.last_id == ids[-1]
    assert all(
        r.fields["FSaleOrderEntry"] and r.fields["FCustId"].startswith("CUST") for r in records
    )  # type: ignore[union-attr]


async def test_read_changes_from_a_cursor_returns_what_changed_since_minus_overlap(
    connect: ConnectorFactory, clock: StepClock
) -> None:
    kingdee = connect()
    _, pages = await _read_all(kingdee, "BD_Customer", None, page_size=100)
    cursor = pages[-1].cursor
    clock.advance(3600)
    results = await kingdee.write(
        "BD_Customer", [WriteOp(WriteMode.UPDATE, {"FTEL": "0755-12345678"}, target_id="100001")]
    )

    changed, _ = await _read_all(kingdee, "BD_Customer", cursor, page_size=100)

    assert results[0].outcome is WriteOutcome.UPDATED
    assert cursor is not None
    assert [r.id for r in changed if cursor.is_after(r.stamp, r.id)] == ["100001"]  # type: ignore[arg-type]
    assert cursor.last_id in [r.id for r in changed]  # the overlap reads the last one again
    assert changed[-1].fields["FTEL"] == "0755-12345678"


async def test_records_sharing_one_stamp_are_not_skipped_across_pages(
    connect: ConnectorFactory, clock: StepClock
) -> None:
    kingdee = connect()
    _, pages = await _read_all(kingdee, "BD_Customer", None, page_size=100)
    clock.advance(3600)
    clock.frozen = True
    ops = [
        WriteOp(WriteMode.CREATE, {"FName": f"同秒客户{i}", "FCreateOrgId": "100"})
        for i in range(7)
    ]
    created = await kingdee.write("BD_Customer", ops)
    clock.frozen = False

    changed, changed_pages = await _read_all(kingdee, "BD_Customer", pages[-1].cursor, page_size=2)

    assert {r.target_id for r in created} <= {r.id for r in changed}
    assert len(changed_pages) >= 4


async def test_get_and_find_by_number_return_the_same_record(kingdee) -> None:  # type: ignore[no-untyped-def]
    found = await kingdee.find("BD_Customer", "FNumber", ["CUST00003", "CUST99999"])
    got = await kingdee.get("BD_Customer", [found[0].id, "999999", "not-an-id"])

    assert [r.fields["FNumber"] for r in found] == ["CUST00003"]
    assert [r.id for r in got] == [found[0].id]
    assert got[0].fields == found[0].fields


async def test_find_by_reference_number_finds_bills_of_a_customer(kingdee) -> None:  # type: ignore[no-untyped-def]
    bills = await kingdee.find("SAL_SaleOrder", "FCustId", ["CUST00002"])

    assert all(b.fields["FCustId"] == "CUST00002" for b in bills)


async def test_batch_write_gives_one_result_per_record_with_kingdees_field_error(kingdee) -> None:  # type: ignore[no-untyped-def]
    ops = [
        WriteOp(WriteMode.CREATE, _order(), ref="a"),
        WriteOp(WriteMode.CREATE, _order(customer="CUST99999"), ref="b"),
        WriteOp(WriteMode.CREATE, _order(qty=3), ref="c"),
    ]

    results = await kingdee.write("SAL_SaleOrder", ops)

    assert [r.ref for r in results] == ["a", "b", "c"]
    assert [r.outcome for r in results] == [
        WriteOutcome.CREATED,
        WriteOutcome.FAILED,
        WriteOutcome.CREATED,
    ]
    error = results[1].error
    assert isinstance(error, ValidationError) and error.field == "FCustId"
    assert "CUST99999" in error.message and "不存在" in error.message
    saved = await kingdee.get("SAL_SaleOrder", [results[0].target_id])
    assert saved[0].fields["FSaleOrderEntry"][0]["FAllAmount"] == 1130.0  # type: ignore[index]


async def test_upsert_by_natural_key_updates_the_existing_record(kingdee) -> None:  # type: ignore[no-untyped-def]
    op = WriteOp(
        WriteMode.UPSERT,
        {"FNumber": "CUST00008", "FName": "杭州新名称有限公司"},
        key_field="FNumber",
        key_value="CUST00008",
    )

    results = await kingdee.write("BD_Customer", [op])

    assert results[0].outcome is WriteOutcome.UPDATED
    again = await kingdee.find("BD_Customer", "FNumber", ["CUST00008"])
    assert again[0].id == results[0].target_id and again[0].fields["FName"] == "杭州新名称有限公司"


async def test_submit_and_audit_option_leaves_saved_bills_audited(
    connect: ConnectorFactory,
) -> None:
    kingdee = connect(submit_and_audit=True)

    results = await kingdee.write("SAL_SaleOrder", [WriteOp(WriteMode.CREATE, _order())])

    saved = await kingdee.get("SAL_SaleOrder", [results[0].target_id])
    assert saved[0].fields["FDocumentStatus"] == "C"


async def test_updating_an_audited_bill_fails_with_kingdees_state_message(
    connect: ConnectorFactory,
) -> None:
    kingdee = connect(submit_and_audit=True)
    created = await kingdee.write("SAL_SaleOrder", [WriteOp(WriteMode.CREATE, _order())])

    results = await kingdee.write(
        "SAL_SaleOrder",
        [WriteOp(WriteMode.UPDATE, {"FNote": "改"}, target_id=created[0].target_id)],
    )

    assert results[0].outcome is WriteOutcome.FAILED
    assert isinstance(results[0].error, ValidationError)
    assert "已审核" in results[0].error.message and results[0].error.status == 11


async def test_a_field_the_form_lacks_is_refused_before_anything_is_sent(
    kingdee, sim_state: KingdeeState
) -> None:  # type: ignore[no-untyped-def]
    before = len(sim_state.tables["BD_Customer"])

    results = await kingdee.write(
        "BD_Customer", [WriteOp(WriteMode.CREATE, {"FName": "x", "FNoSuchField": 1})]
    )

    assert results[0].outcome is WriteOutcome.FAILED
    assert (
        isinstance(results[0].error, ValidationError) and results[0].error.field == "FNoSuchField"
    )
    assert len(sim_state.tables["BD_Customer"]) == before


async def test_delete_removes_and_deleting_again_changes_nothing(kingdee) -> None:  # type: ignore[no-untyped-def]
    created = await kingdee.write("SAL_SaleOrder", [WriteOp(WriteMode.CREATE, _order())])
    target = created[0].target_id

    first = await kingdee.write("SAL_SaleOrder", [WriteOp(WriteMode.DELETE, {}, target_id=target)])
    second = await kingdee.write("SAL_SaleOrder", [WriteOp(WriteMode.DELETE, {}, target_id=target)])

    assert first[0].outcome is WriteOutcome.DELETED
    assert second[0].outcome is WriteOutcome.UNCHANGED
    assert await kingdee.get("SAL_SaleOrder", [target]) == []


async def test_expired_session_logs_in_again_once_and_the_call_succeeds(
    connect: ConnectorFactory, clock: StepClock
) -> None:
    kingdee = connect(auth="password")
    await kingdee.find("BD_Customer", "FNumber", ["CUST00001"])
    clock.advance(timedelta(hours=2).total_seconds())

    found = await kingdee.find("BD_Customer", "FNumber", ["CUST00001"])

    assert len(found) == 1
    assert kingdee.client.logins == 2


async def test_throttling_is_rate_limited_with_the_retry_after_hint(
    kingdee, faulty_app: FaultMiddleware
) -> None:  # type: ignore[no-untyped-def]
    faulty_app.force(FaultKind.THROTTLE)

    with pytest.raises(RateLimitedError) as caught:
        await kingdee.find("BD_Customer", "FNumber", ["CUST00001"])

    assert caught.value.retry_after_s == 1.0


@pytest.mark.parametrize("kind", [FaultKind.ERROR, FaultKind.LOST_REPLY])
async def test_server_errors_and_lost_replies_are_transient(
    kingdee, faulty_app: FaultMiddleware, kind: FaultKind
) -> None:  # type: ignore[no-untyped-def]
    await kingdee.describe()
    faulty_app.force(kind)

    with pytest.raises(TransientError):
        await kingdee.write(
            "BD_Customer",
            [WriteOp(WriteMode.CREATE, {"FName": "丢失回复客户", "FCreateOrgId": "100"})],
        )


async def test_a_bad_password_raises_auth_error_on_read(connect: ConnectorFactory) -> None:
    kingdee = connect(auth="password", password=Secret.literal("nope-nope"))

    with pytest.raises(AuthError, match="用户名或密码错误"):
        await kingdee.get("BD_Customer", ["100001"])


async def test_no_secret_signature_or_session_id_reaches_the_logs(
    connect: ConnectorFactory,
) -> None:
    kingdee = connect(auth="password")
    with capture_logs() as logs:
        await kingdee.check()
        await kingdee.write(
            "BD_Customer", [WriteOp(WriteMode.CREATE, {"FName": "日志客户", "FCreateOrgId": "100"})]
        )
        session_id = kingdee.client._session_id

    text = repr(logs) + repr(kingdee.settings)
    assert session_id and session_id not in text
    for secret in (SANDBOX_APP_SECRET, "Kd-Sandbox-888"):
        assert secret not in text
    assert "Signature" not in text


def test_settings_refuse_signature_auth_without_an_app_secret() -> None:
    from erpbridge.connectors.kingdee import KingdeeSettings

    with pytest.raises(ValueError, match="app_id and app_secret"):
        KingdeeSettings(base_url=BASE_URL, acct_id="x", username="u", app_id=SANDBOX_APP_ID)


async def test_updating_a_sub_head_field_and_lines_of_a_saved_order_takes_effect(kingdee) -> None:  # type: ignore[no-untyped-def]
    created = await kingdee.write("SAL_SaleOrder", [WriteOp(WriteMode.CREATE, _order())])
    target = created[0].target_id
    lines = [
        {
            "FMaterialId": "WL00003",
            "FUnitID": "Pcs",
            "FQty": 2,
            "FTaxPrice": 113,
            "FEntryTaxRate": 13,
        }
    ]

    updated = await kingdee.write(
        "SAL_SaleOrder",
        [
            WriteOp(
                WriteMode.UPDATE,
                {"FSettleCurrId": "PRE007", "FSaleOrderEntry": lines},
                target_id=target,
            )
        ],
    )

    record = (await kingdee.get("SAL_SaleOrder", [target]))[0]
    assert updated[0].outcome is WriteOutcome.UPDATED
    assert record.fields["FSettleCurrId"] == "PRE007"
    assert [line["FMaterialId"] for line in record.fields["FSaleOrderEntry"]] == ["WL00003"]  # type: ignore[attr-defined]
    assert record.fields["FBillAllAmount"] == 226.0


def test_the_registry_builds_a_kingdee_connector_that_keeps_the_contract() -> None:
    from erpbridge.spi import Connector, ConnectorRegistry

    spec = ConnectorRegistry(use_entry_points=False).get("kingdee")
    connector = spec.create(make_settings(), None)

    assert spec.kind == "erp" and spec.settings.__name__ == "KingdeeSettings"
    assert isinstance(connector, Connector)


async def test_unaudit_to_update_changes_an_audited_customer_and_audits_it_again(
    connect: ConnectorFactory,
) -> None:
    kingdee = connect(unaudit_to_update=True)
    audited = (await kingdee.find("BD_Customer", "FNumber", ["CUST00004"]))[0]

    results = await kingdee.write(
        "BD_Customer", [WriteOp(WriteMode.UPDATE, {"FTEL": "0571-88886666"}, target_id=audited.id)]
    )

    after = (await kingdee.get("BD_Customer", [audited.id]))[0]
    assert audited.fields["FDocumentStatus"] == "C"
    assert results[0].outcome is WriteOutcome.UPDATED
    assert after.fields["FTEL"] == "0571-88886666" and after.fields["FDocumentStatus"] == "C"


async def test_unaudit_to_update_leaves_a_bill_in_approval_refused(
    connect: ConnectorFactory, sim_state: KingdeeState
) -> None:
    kingdee = connect(unaudit_to_update=True)
    submitted = next(
        r for r in sim_state.tables["SAL_SaleOrder"].values() if r["FDocumentStatus"] == "B"
    )

    results = await kingdee.write(
        "SAL_SaleOrder",
        [WriteOp(WriteMode.UPDATE, {"FNote": "改"}, target_id=str(submitted["FID"]))],
    )

    assert results[0].outcome is WriteOutcome.FAILED
    assert "审核中" in results[0].error.message  # type: ignore[union-attr]
    assert sim_state.tables["SAL_SaleOrder"][submitted["FID"]]["FDocumentStatus"] == "B"


@pytest.mark.parametrize("failing", ["Submit", "Audit"])
async def test_failed_reapproval_withdraws_the_submission_and_the_retry_finishes_it(
    connect: ConnectorFactory, faulty_app: FaultMiddleware, failing: str
) -> None:
    kingdee = connect(unaudit_to_update=True, submit_and_audit=True)
    audited = (await kingdee.find("BD_Customer", "FNumber", ["CUST00004"]))[0]
    update = WriteOp(WriteMode.UPDATE, {"FTEL": "0571-87654321"}, target_id=audited.id)
    faulty_app.configure(
        FaultConfig(
            path_prefix=f"/k3cloud/Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.{failing}."
        )
    )
    faulty_app.force(FaultKind.ERROR)

    first = await kingdee.write("BD_Customer", [update])
    between = (await kingdee.get("BD_Customer", [audited.id]))[0]
    faulty_app.configure(FaultConfig())
    retry = await kingdee.write("BD_Customer", [update])
    after = (await kingdee.get("BD_Customer", [audited.id]))[0]

    assert isinstance(first[0].error, ConflictError)
    assert f"更新已保存，但重新{failing}失败" in first[0].error.message
    assert between.fields["FTEL"] == "0571-87654321"
    assert between.fields["FDocumentStatus"] in ("A", "D")  # saved, not left in approval (B)
    assert retry[0].outcome is WriteOutcome.UPDATED
    assert after.fields["FDocumentStatus"] == "C"


async def test_a_lost_reply_hides_a_write_that_did_happen(
    kingdee, faulty_app: FaultMiddleware
) -> None:  # type: ignore[no-untyped-def]
    await kingdee.describe()
    faulty_app.force(FaultKind.LOST_REPLY)

    with pytest.raises(TransientError):
        await kingdee.write(
            "BD_Customer",
            [
                WriteOp(
                    WriteMode.CREATE,
                    {"FNumber": "CUST55555", "FName": "回复丢失客户", "FCreateOrgId": "100"},
                )
            ],
        )
    found = await kingdee.find("BD_Customer", "FNumber", ["CUST55555"])

    assert [r.fields["FName"] for r in found] == [
        "回复丢失客户"
    ]  # re-read by natural key before retrying


async def test_a_hang_ends_as_a_transient_gateway_timeout(
    kingdee, faulty_app: FaultMiddleware
) -> None:  # type: ignore[no-untyped-def]
    await kingdee.describe()
    faulty_app.configure(FaultConfig(hang_s=0))
    faulty_app.force(FaultKind.HANG)

    with pytest.raises(TransientError, match="504"):
        await kingdee.get("BD_Customer", ["100001"])


async def test_read_filters_limit_changes_to_audited_bills(
    connect: ConnectorFactory, sim_state: KingdeeState
) -> None:
    kingdee = connect(read_filters={"SAL_SaleOrder": "FDocumentStatus = 'C'"})

    records, _ = await _read_all(kingdee, "SAL_SaleOrder", None, page_size=3)

    audited = [r for r in sim_state.tables["SAL_SaleOrder"].values() if r["FDocumentStatus"] == "C"]
    assert len(records) == len(audited) > 0
    assert {r.fields["FDocumentStatus"] for r in records} == {"C"}


async def test_inventory_is_read_as_a_snapshot_with_content_versions(
    kingdee, sim_state: KingdeeState
) -> None:  # type: ignore[no-untyped-def]
    records, pages = await _read_all(kingdee, "STK_Inventory", None, page_size=10)

    assert len(records) == len(sim_state.tables["STK_Inventory"])
    assert all(p.cursor is None for p in pages)
    assert all(r.stamp is None and r.version for r in records)
    assert all(r.fields["FBaseAvbQty"] <= r.fields["FBaseQty"] for r in records)  # type: ignore[operator]


async def test_lookups_and_lines_page_past_the_row_limit(
    kingdee, sim_state: KingdeeState, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from erpbridge.connectors.kingdee import connector as module

    monkeypatch.setattr(module, "MAX_QUERY_ROWS", 2)
    customers = {r["FCUSTID"]: r["FNumber"] for r in sim_state.tables["BD_Customer"].values()}
    bills = list(sim_state.tables["SAL_SaleOrder"].values())
    busiest = max(customers, key=lambda c: sum(b["FCustId"] == c for b in bills))

    found = await kingdee.find("SAL_SaleOrder", "FCustId", [customers[busiest]])

    mine = [b for b in bills if b["FCustId"] == busiest]
    assert len(mine) > 2
    assert sorted(int(r.id) for r in found) == sorted(b["FID"] for b in mine)
    assert [len(r.fields["FSaleOrderEntry"]) for r in sorted(found, key=lambda r: int(r.id))] == [  # type: ignore[arg-type]
        len(b["FSaleOrderEntry"]) for b in sorted(mine, key=lambda b: b["FID"])
    ]


async def test_the_connector_works_over_real_http_against_the_sandbox_simulator(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import httpx

    from erpbridge.connectors.kingdee import KingdeeConnector
    from erpbridge.sims._common.server import run_simulator
    from erpbridge.sims.kingdee import SIMULATOR

    with run_simulator(SIMULATOR, tmp_path) as sim:
        entry = sim.entry
        settings = make_settings(base_url=entry["base_url"], auth="app_secret")
        async with httpx.AsyncClient(timeout=10) as http:
            kingdee = KingdeeConnector(settings, http)
            check = await kingdee.check()
            written = await kingdee.write("SAL_SaleOrder", [WriteOp(WriteMode.CREATE, _order())])
            read = await kingdee.get("SAL_SaleOrder", [written[0].target_id])

    assert check.ok, check.reason
    assert read[0].fields["FSaleOrderEntry"][0]["FMaterialId"] == "WL00002"  # type: ignore[index]


async def test_concurrent_calls_that_find_the_session_expired_log_in_once(
    connect: ConnectorFactory, clock: StepClock
) -> None:
    import asyncio

    kingdee = connect(auth="password")
    await kingdee.describe()
    clock.advance(timedelta(hours=2).total_seconds())

    found = await asyncio.gather(
        *(kingdee.find("BD_Customer", "FNumber", [f"CUST0000{i}"]) for i in range(1, 6))
    )

    assert [len(f) for f in found] == [1, 1, 1, 1, 1]
    assert kingdee.client.logins == 2


async def test_the_credit_stand_in_is_read_when_asked_for_though_not_described_by_default(
    kingdee,
) -> None:  # type: ignore[no-untyped-def]
    catalog = await kingdee.describe()
    records, _ = await _read_all(kingdee, "CRE_CustCreditProfile", None, page_size=50)

    assert "CRE_CustCreditProfile" not in catalog.objects
    assert records and all(
        r.fields["FAvailableAmount"]
        == round(r.fields["FCreditAmount"] - r.fields["FUsedAmount"], 2)  # type: ignore[operator]
        for r in records
    )
    assert all(str(r.fields["FCustomerId"]).startswith("CUST") for r in records)
