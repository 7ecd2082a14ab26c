"""Contract tests: Kingdee's official SDK ``kingdee-cdp-webapi-sdk`` (unchanged) against the simulator.

The SDK signs every request with its own ``BuildHeader`` (X-Kd-Signature, X-Api-Signature)
and keeps the ``kdservice-sessionid`` cookie; these tests run it over real loopback HTTP.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from k3cloud_webapi_sdk.main import K3CloudApiSdk

from erpbridge.sims._common.server import RunningServer
from erpbridge.sims.kingdee import (
    SANDBOX_ACCT_ID,
    SANDBOX_APP_ID,
    SANDBOX_APP_SECRET,
    SANDBOX_USER,
)


def _sdk(
    server: RunningServer, *, secret: str = SANDBOX_APP_SECRET, acct: str = SANDBOX_ACCT_ID
) -> K3CloudApiSdk:
    url = server.base_url + "/k3cloud/"
    sdk = K3CloudApiSdk(url)
    sdk.InitConfig(acct, SANDBOX_USER, SANDBOX_APP_ID, secret, url, lcid=2052)
    return sdk


def _order(customer: str = "CUST00001", **extra: object) -> dict[str, object]:
    return {
        "FBillTypeID": {"FNUMBER": "XSDD01_SYS"},
        "FDate": "2026-11-02",
        "FSaleOrgId": {"FNumber": "100"},
        "FCustId": {"FNumber": customer},
        "FSalerId": {"FNumber": "XSY001"},
        "FSaleOrderFinance": {"FSettleCurrId": {"FNumber": "PRE001"}},
        "FSaleOrderEntry": [
            {
                "FMaterialId": {"FNumber": "WL00001"},
                "FUnitID": {"FNumber": "Pcs"},
                "FQty": 10,
                "FTaxPrice": 113,
                "FEntryTaxRate": 13,
                "FDeliveryDate": "2026-11-10",
            }
        ],
        **extra,
    }


def _status(answer: str) -> dict[str, object]:
    return json.loads(answer)["Result"]["ResponseStatus"]


def test_sdk_initialised_from_conf_ini_saves_a_sales_order_and_views_it(
    kd_server: RunningServer, tmp_path: Path
) -> None:
    url = kd_server.base_url + "/k3cloud/"
    conf = tmp_path / "conf.ini"
    conf.write_text(
        "[config]\n"
        f"X-KDApi-AcctID = {SANDBOX_ACCT_ID}\nX-KDApi-UserName = {SANDBOX_USER}\n"
        f"X-KDApi-AppID = {SANDBOX_APP_ID}\nX-KDApi-AppSec = {SANDBOX_APP_SECRET}\n"
        f"X-KDApi-ServerUrl = {url}\nX-KDApi-LCID = 2052\n",
        encoding="utf-8",
    )
    sdk = K3CloudApiSdk(url)
    sdk.Init(config_path=str(conf), config_node="config")

    saved = json.loads(
        sdk.Save("SAL_SaleOrder", {"NeedReturnFields": ["FBillNo"], "Model": _order()})
    )
    number = saved["Result"]["Number"]
    viewed = json.loads(sdk.View("SAL_SaleOrder", {"Number": number}))

    assert saved["Result"]["ResponseStatus"]["IsSuccess"] is True
    assert saved["Result"]["NeedReturnData"] == [{"FBillNo": number}]
    bill = viewed["Result"]["Result"]
    assert bill["BillNo"] == number
    assert bill["DocumentStatus"] == "A"
    assert bill["CustId"]["Number"] == "CUST00001"
    assert bill["SaleOrderEntry"][0]["AllAmount"] == 1130.0
    assert bill["SaleOrderFinance"][0]["BillAllAmount"] == 1130.0
    assert sdk.cookiesStore.SID  # the session cookie was set and kept


def test_sdk_batch_save_reports_each_model_by_dindex(kd_server: RunningServer) -> None:
    sdk = _sdk(kd_server)

    answer = sdk.BatchSave(
        "BD_Customer",
        {
            "Model": [
                {
                    "FNumber": "CUST90001",
                    "FName": "厦门海鸥贸易有限公司",
                    "FCreateOrgId": {"FNumber": "100"},
                },
                {"FNumber": "CUST90002", "FName": "无组织客户", "FCreateOrgId": {"FNumber": "999"}},
                {
                    "FNumber": "CUST90003",
                    "FName": "福州闽江机电有限公司",
                    "FCreateOrgId": {"FNumber": "100"},
                },
            ]
        },
    )

    status = _status(answer)
    assert status["IsSuccess"] is False
    assert [s["DIndex"] for s in status["SuccessEntitys"]] == [0, 2]
    assert [(e["DIndex"], e["FieldName"]) for e in status["Errors"]] == [(1, "FCreateOrgId")]
    assert "999" in status["Errors"][0]["Message"]


def test_sdk_execute_bill_query_pages_with_start_row_and_limit(kd_server: RunningServer) -> None:
    sdk = _sdk(kd_server)
    query = {
        "FormId": "BD_Customer",
        "FieldKeys": "FNumber,FName,FModifyDate",
        "FilterString": "FNumber like 'CUST%' and FForbidStatus = 'A'",
        "OrderString": "FNumber ASC",
        "Limit": 5,
    }

    pages = [json.loads(sdk.ExecuteBillQuery({**query, "StartRow": start})) for start in (0, 5, 10)]

    numbers = [row[0] for page in pages for row in page]
    assert [len(p) for p in pages] == [5, 5, 2]
    assert numbers == sorted(numbers) and len(set(numbers)) == 12
    assert all(isinstance(row[2], str) and "T" in row[2] for page in pages for row in page)


def test_sdk_submit_audit_then_audited_bill_cannot_be_saved_until_unaudit(
    kd_server: RunningServer,
) -> None:
    sdk = _sdk(kd_server)
    saved = json.loads(sdk.Save("SAL_SaleOrder", {"Model": _order()}))["Result"]
    bill_id, number = saved["Id"], saved["Number"]

    submitted = _status(sdk.Submit("SAL_SaleOrder", {"Numbers": [number]}))
    audited = _status(sdk.Audit("SAL_SaleOrder", {"Ids": str(bill_id)}))
    refused = _status(sdk.Save("SAL_SaleOrder", {"Model": {"FID": bill_id, "FNote": "改"}}))
    again = _status(sdk.Audit("SAL_SaleOrder", {"Numbers": [number]}))
    unaudited = _status(sdk.UnAudit("SAL_SaleOrder", {"Numbers": [number]}))
    resaved = _status(sdk.Save("SAL_SaleOrder", {"Model": {"FID": bill_id, "FNote": "改"}}))
    query = json.loads(
        sdk.ExecuteBillQuery(
            {
                "FormId": "SAL_SaleOrder",
                "FieldKeys": "FDocumentStatus,FNote",
                "FilterString": f"FBillNo='{number}'",
            }
        )
    )

    assert submitted["IsSuccess"] and audited["IsSuccess"]
    assert refused["IsSuccess"] is False and refused["MsgCode"] == 11
    assert "已审核" in refused["Errors"][0]["Message"]
    assert again["IsSuccess"] is False and "已经审核" in again["Errors"][0]["Message"]
    assert unaudited["IsSuccess"] and resaved["IsSuccess"]
    assert query == [["D", "改"]]


def test_sdk_cancel_assign_withdraws_a_submitted_bill_so_it_can_be_saved(
    kd_server: RunningServer,
) -> None:
    sdk = _sdk(kd_server)
    saved = json.loads(sdk.Save("SAL_SaleOrder", {"Model": _order()}))["Result"]
    number = saved["Number"]

    not_yet = _status(sdk.CancelAssign("SAL_SaleOrder", {"Numbers": [number]}))
    _status(sdk.Submit("SAL_SaleOrder", {"Numbers": [number]}))
    refused = _status(sdk.Save("SAL_SaleOrder", {"Model": {"FID": saved["Id"], "FNote": "改"}}))
    withdrawn = _status(sdk.CancelAssign("SAL_SaleOrder", {"Numbers": [number]}))
    resaved = _status(sdk.Save("SAL_SaleOrder", {"Model": {"FID": saved["Id"], "FNote": "改"}}))

    assert not_yet["IsSuccess"] is False and not_yet["MsgCode"] == 11
    assert "未提交" in not_yet["Errors"][0]["Message"]
    assert refused["IsSuccess"] is False and refused["MsgCode"] == 11
    assert withdrawn["IsSuccess"] and resaved["IsSuccess"]


def test_sdk_delete_refuses_an_audited_bill_and_removes_a_created_one(
    kd_server: RunningServer,
) -> None:
    sdk = _sdk(kd_server)
    created = json.loads(
        sdk.Save("SAL_SaleOrder", {"Model": _order(), "IsAutoSubmitAndAudit": True})
    )
    plain = json.loads(sdk.Save("SAL_SaleOrder", {"Model": _order()}))

    refused = _status(sdk.Delete("SAL_SaleOrder", {"Numbers": [created["Result"]["Number"]]}))
    deleted = _status(sdk.Delete("SAL_SaleOrder", {"Ids": str(plain["Result"]["Id"])}))
    left = json.loads(
        sdk.ExecuteBillQuery(
            {
                "FormId": "SAL_SaleOrder",
                "FieldKeys": "FID",
                "FilterString": f"FID = {plain['Result']['Id']}",
            }
        )
    )

    assert refused["IsSuccess"] is False and "不允许删除" in refused["Errors"][0]["Message"]
    assert deleted["IsSuccess"] is True
    assert left == []


def test_sdk_batch_save_query_completes_through_the_async_protocol(
    kd_server: RunningServer,
) -> None:
    sdk = _sdk(kd_server)

    answer = sdk.BatchSaveQuery(
        "BD_MATERIAL",
        {
            "Model": [
                {
                    "FName": "同步带轮",
                    "FCreateOrgId": {"FNumber": "100"},
                    "SubHeadEntity": {"FBaseUnitId": {"FNumber": "Pcs"}},
                }
            ]
        },
    )

    status = _status(answer)
    assert status["IsSuccess"] is True
    assert status["SuccessEntitys"][0]["Number"].startswith("WL")


def test_sdk_with_a_bad_app_secret_gets_kingdees_session_lost_answer(
    kd_server: RunningServer,
) -> None:
    sdk = _sdk(kd_server, secret="0" * 32)

    status = _status(sdk.ExecuteBillQuery({"FormId": "BD_Customer", "FieldKeys": "FNumber"}))

    assert status["IsSuccess"] is False
    assert status["MsgCode"] == 1
    assert status["Errors"][0]["Message"] == "会话信息已丢失，请重新登录"
    assert sdk.cookiesStore.SID == ""


def test_sdk_with_an_unknown_data_centre_raises_its_runtime_error(kd_server: RunningServer) -> None:
    sdk = _sdk(kd_server, acct="000000000000")

    with pytest.raises(RuntimeError, match="Fail to verify thirty passport"):
        sdk.View("BD_Customer", {"Number": "CUST00001"})


def test_sdk_bill_query_returns_objects_keyed_by_field_keys(kd_server: RunningServer) -> None:
    sdk = _sdk(kd_server)

    rows = json.loads(
        sdk.BillQuery(
            {
                "FormId": "STK_Inventory",
                "FieldKeys": "FMaterialId.FNumber,FStockId.FNumber,FBaseQty,FBaseAvbQty",
                "FilterString": "FStockId.FNumber in ('CK001', 'CK003') and FBaseQty >= 0",
            }
        )
    )

    assert rows and set(rows[0]) == {
        "FMaterialId.FNumber",
        "FStockId.FNumber",
        "FBaseQty",
        "FBaseAvbQty",
    }
    assert all(r["FBaseAvbQty"] <= r["FBaseQty"] for r in rows)


def test_sdk_excute_operation_forbids_and_enables_a_customer(kd_server: RunningServer) -> None:
    sdk = _sdk(kd_server)

    forbidden = _status(sdk.ExcuteOperation("BD_Customer", "Forbid", {"Numbers": ["CUST00002"]}))
    again = _status(sdk.ExcuteOperation("BD_Customer", "Forbid", {"Numbers": ["CUST00002"]}))
    status = json.loads(
        sdk.ExecuteBillQuery(
            {
                "FormId": "BD_Customer",
                "FieldKeys": "FForbidStatus",
                "FilterString": "FNumber='CUST00002'",
            }
        )
    )
    enabled = _status(sdk.ExcuteOperation("BD_Customer", "Enable", {"Numbers": ["CUST00002"]}))
    unknown = _status(sdk.ExcuteOperation("BD_Customer", "Explode", {"Numbers": ["CUST00002"]}))

    assert forbidden["IsSuccess"] and enabled["IsSuccess"]
    assert status == [["B"]]
    assert again["IsSuccess"] is False and "已禁用" in again["Errors"][0]["Message"]
    assert unknown["IsSuccess"] is False and unknown["Errors"][0]["FieldName"] == "opNumber"
