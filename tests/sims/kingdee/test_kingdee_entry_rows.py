"""Entry rows (分录) through Kingdee's official SDK over real HTTP: rows updated by
FEntryID, IsDeleteEntry, rows that went out (the /sim/stock-out control), 行关闭."""

from __future__ import annotations

import json

import httpx
import pytest
from k3cloud_webapi_sdk.main import K3CloudApiSdk

from erpbridge.sims._common.server import RunningServer
from erpbridge.sims.kingdee import (
    SANDBOX_ACCT_ID,
    SANDBOX_APP_ID,
    SANDBOX_APP_SECRET,
    SANDBOX_PASSWORD,
    SANDBOX_USER,
)

from .conftest import AUTH

FORM = "SAL_SaleOrder"
ROW_KEYS = "FSaleOrderEntry_FEntryID,FMaterialId.FNumber,FQty,FStockOutQty,FMrpCloseStatus"


def _sdk(server: RunningServer) -> K3CloudApiSdk:
    url = server.base_url + "/k3cloud/"
    sdk = K3CloudApiSdk(url)
    sdk.InitConfig(SANDBOX_ACCT_ID, SANDBOX_USER, SANDBOX_APP_ID, SANDBOX_APP_SECRET, url)
    return sdk


def _row(material: str, qty: float) -> dict[str, object]:
    return {
        "FMaterialId": {"FNumber": material},
        "FUnitID": {"FNumber": "Pcs"},
        "FQty": qty,
        "FTaxPrice": 113,
        "FEntryTaxRate": 13,
    }


def _status(answer: str) -> dict[str, object]:
    return json.loads(answer)["Result"]["ResponseStatus"]


def _save(sdk: K3CloudApiSdk, model: dict[str, object], **options: object) -> dict[str, object]:
    return _status(sdk.Save(FORM, {"Model": model, **options}))


def _new_order(sdk: K3CloudApiSdk, *rows: dict[str, object]) -> tuple[int, str]:
    model = {
        "FDate": "2026-11-02",
        "FSaleOrgId": {"FNumber": "100"},
        "FCustId": {"FNumber": "CUST00001"},
        "FSalerId": {"FNumber": "XSY001"},
        "FSaleOrderEntry": list(rows),
    }
    answer = json.loads(sdk.Save(FORM, {"Model": model}))["Result"]
    assert answer["ResponseStatus"]["IsSuccess"] is True, answer
    return int(answer["Id"]), str(answer["Number"])


def _rows(sdk: K3CloudApiSdk, fid: int) -> list[list[object]]:
    query = {"FormId": FORM, "FieldKeys": ROW_KEYS, "FilterString": f"FID={fid}"}
    return json.loads(sdk.ExecuteBillQuery(query))  # type: ignore[no-any-return]


def _audit(sdk: K3CloudApiSdk, fid: int) -> None:
    for op in (sdk.Submit, sdk.Audit):
        assert _status(op(FORM, {"Ids": str(fid)}))["IsSuccess"] is True


def _stock_out(server: RunningServer, number: str, entry_id: object, qty: float) -> httpx.Response:
    """金蝶's warehouse ships ``qty`` of a row (simulator control, after a WebAPI login)."""
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        login = http.post(
            AUTH + "ValidateUser.common.kdsvc",
            json={"parameters": [SANDBOX_ACCT_ID, SANDBOX_USER, SANDBOX_PASSWORD, 2052]},
        )
        assert login.json()["LoginResultType"] == 1
        return http.post("/sim/stock-out", json={"BillNo": number, "EntryId": entry_id, "Qty": qty})


def test_save_with_entry_ids_changes_those_rows_adds_new_ones_and_deletes_the_rest(
    kd_server: RunningServer,
) -> None:
    sdk = _sdk(kd_server)
    fid, _ = _new_order(sdk, _row("WL00001", 3), _row("WL00002", 4))
    first, second = (row[0] for row in _rows(sdk, fid))

    status = _save(
        sdk,
        {"FID": fid, "FSaleOrderEntry": [{"FEntryID": first, "FQty": 7}, _row("WL00003", 1)]},
        NeedUpDateFields=["FSaleOrderEntry", "FQty", "FMaterialId", "FUnitID"],
    )

    assert status["IsSuccess"] is True
    rows = _rows(sdk, fid)
    assert [r[:3] for r in rows[:1]] == [[first, "WL00001", 7.0]]  # same row, changed
    assert len(rows) == 2 and rows[1][0] not in (first, second) and rows[1][1] == "WL00003"
    assert rows[1][3:] == [0.0, "A"]  # a new row: nothing out, open


def test_is_delete_entry_false_keeps_the_rows_the_model_leaves_out(
    kd_server: RunningServer,
) -> None:
    sdk = _sdk(kd_server)
    fid, _ = _new_order(sdk, _row("WL00001", 3), _row("WL00002", 4))
    first, second = (row[0] for row in _rows(sdk, fid))

    status = _save(
        sdk,
        {"FID": fid, "FSaleOrderEntry": [{"FEntryID": first, "FQty": 5}]},
        IsDeleteEntry="false",
    )

    assert status["IsSuccess"] is True
    assert sorted((r[0], r[2]) for r in _rows(sdk, fid)) == sorted([(first, 5.0), (second, 4.0)])


def test_an_unknown_entry_id_is_refused_naming_the_entry_id(kd_server: RunningServer) -> None:
    sdk = _sdk(kd_server)
    fid, _ = _new_order(sdk, _row("WL00001", 3))

    status = _save(sdk, {"FID": fid, "FSaleOrderEntry": [{"FEntryID": 999999, "FQty": 5}]})

    [error] = status["Errors"]  # type: ignore[misc]
    assert status["IsSuccess"] is False and error["FieldName"] == "FEntryID"
    assert "999999" in error["Message"] and "不存在" in error["Message"]


def test_a_row_that_went_out_is_neither_deleted_nor_cut_below_what_went_out(
    kd_server: RunningServer,
) -> None:
    sdk = _sdk(kd_server)
    fid, number = _new_order(sdk, _row("WL00001", 10), _row("WL00002", 4))
    shipped, other = (row[0] for row in _rows(sdk, fid))
    _audit(sdk, fid)
    assert _stock_out(kd_server, number, shipped, 4).json()["Result"]["ResponseStatus"]["IsSuccess"]
    assert _status(sdk.UnAudit(FORM, {"Ids": str(fid)}))["IsSuccess"] is True

    dropped = _save(sdk, {"FID": fid, "FSaleOrderEntry": [{"FEntryID": other}]})
    cut = _save(sdk, {"FID": fid, "FSaleOrderEntry": [{"FEntryID": shipped, "FQty": 3}]})
    kept = _save(sdk, {"FID": fid, "FSaleOrderEntry": [{"FEntryID": shipped, "FQty": 6}]})

    assert dropped["IsSuccess"] is False
    assert "第1行" in dropped["Errors"][0]["Message"]  # type: ignore[index]
    assert "已出库4，存在下游单据" in dropped["Errors"][0]["Message"]  # type: ignore[index]
    assert cut["IsSuccess"] is False
    assert "不能小于累计出库数量4" in cut["Errors"][0]["Message"]  # type: ignore[index]
    assert kept["IsSuccess"] is True  # 6 >= 4; the unnamed row went (IsDeleteEntry)
    assert [(r[0], r[2], r[3]) for r in _rows(sdk, fid)] == [(shipped, 6.0, 4.0)]


def test_row_close_closes_single_rows_of_an_audited_bill_and_the_bill_with_the_last(
    kd_server: RunningServer,
) -> None:
    sdk = _sdk(kd_server)
    fid, _ = _new_order(sdk, _row("WL00001", 3), _row("WL00002", 4))
    first, second = (row[0] for row in _rows(sdk, fid))

    def close(*entries: object, op: str = "YLMRPClose") -> dict[str, object]:
        ids = ",".join(str(e) for e in entries)
        return _status(
            sdk.ExcuteOperation(FORM, op, {"PkEntryIds": [{"Id": fid, "EntryIds": ids}]})
        )

    not_audited = close(first)
    _audit(sdk, fid)
    closed = close(first)
    again = close(first)
    closed_status = [r[4] for r in _rows(sdk, fid)]
    close(second)
    bill = json.loads(
        sdk.ExecuteBillQuery(
            {"FormId": FORM, "FieldKeys": "FCloseStatus", "FilterString": f"FID={fid}"}
        )
    )
    reopened = close(first, op="YLUnMRPClose")

    assert not_audited["IsSuccess"] is False and "未审核" in not_audited["Errors"][0]["Message"]  # type: ignore[index]
    assert closed["IsSuccess"] is True and closed_status == ["B", "A"]
    assert again["IsSuccess"] is False and "已经业务关闭" in again["Errors"][0]["Message"]  # type: ignore[index]
    assert bill == [["B"]]  # every row closed: the bill is closed
    assert reopened["IsSuccess"] is True and [r[4] for r in _rows(sdk, fid)] == ["A", "B"]


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({}, "PkEntryIds"),
        ({"PkEntryIds": "[{"}, "不是有效的JSON"),
        ({"PkEntryIds": [{"Id": 1}]}, "EntryIds"),
    ],
)
def test_row_close_without_usable_pk_entry_ids_is_refused(
    kd_server: RunningServer, data: dict[str, object], needle: str
) -> None:
    status = _status(_sdk(kd_server).ExcuteOperation(FORM, "YLMRPClose", data))

    assert status["IsSuccess"] is False and status["MsgCode"] == 4
    assert needle in status["Errors"][0]["Message"]  # type: ignore[index]


def test_stock_out_control_refuses_more_than_is_open_and_an_unaudited_bill(
    kd_server: RunningServer,
) -> None:
    sdk = _sdk(kd_server)
    fid, number = _new_order(sdk, _row("WL00001", 3))
    [[entry, *_]] = _rows(sdk, fid)

    unaudited = _stock_out(kd_server, number, entry, 1).json()
    _audit(sdk, fid)
    too_much = _stock_out(kd_server, number, entry, 4).json()
    with httpx.Client(base_url=kd_server.base_url) as http:
        anonymous = http.post("/sim/stock-out", json={"BillNo": number, "EntryId": entry, "Qty": 1})

    assert "已审核" in unaudited["Result"]["ResponseStatus"]["Errors"][0]["Message"]
    assert "超过未出库数量3" in too_much["Result"]["ResponseStatus"]["Errors"][0]["Message"]
    assert anonymous.json()["Result"]["ResponseStatus"]["MsgCode"] == 1
    assert _rows(sdk, fid)[0][3] == 0.0
