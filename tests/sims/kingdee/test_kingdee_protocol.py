"""The simulator's protocol: login services, bad input in Kingdee's own shapes, filters, persistence."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from erpbridge.sims._common.server import run_simulator
from erpbridge.sims.kingdee import SIMULATOR, KingdeeState
from erpbridge.sims.kingdee.filter import FilterError, UnknownFieldError, parse_filter
from erpbridge.sims.kingdee.forms import FieldKind

from .conftest import AUTH, FORM, StepClock


def _status(answer: httpx.Response) -> dict[str, object]:
    body = answer.json()
    if isinstance(body, list):
        body = body[0][0]
    return body["Result"]["ResponseStatus"]


async def _query(http: httpx.AsyncClient, **data: object) -> httpx.Response:
    return await http.post(FORM + "ExecuteBillQuery.common.kdsvc", json={"data": data})


async def test_validate_user_accepts_a_named_object_body_too(kd_app) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=kd_app), base_url="http://kd"
    ) as http:
        answer = await http.post(
            AUTH + "ValidateUser.common.kdsvc",
            json={
                "acctID": "66f1a2b3c4d5e6",
                "username": "erpbridge",
                "password": "Kd-Sandbox-888",
                "lcid": 2052,
            },
        )

    assert answer.json()["LoginResultType"] == 1
    assert answer.cookies.get("kdservice-sessionid") == answer.json()["KDSVCSessionId"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (["66f1a2b3c4d5e6", "erpbridge", "wrong", 2052], "用户名或密码错误"),
        (["nope", "erpbridge", "Kd-Sandbox-888", 2052], "数据中心不存在"),
        (["66f1a2b3c4d5e6", "former_employee", "Kd-Gone-888", 2052], "禁用"),
        (["66f1a2b3c4d5e6", "erpbridge"], "登录参数不正确"),
    ],
)
async def test_refused_logins_answer_200_with_login_result_type_0(
    kd_app, params: list[object], message: str
) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=kd_app), base_url="http://kd"
    ) as http:
        answer = await http.post(AUTH + "ValidateUser.common.kdsvc", json={"parameters": params})

    assert answer.status_code == 200
    assert answer.json()["LoginResultType"] == 0 and message in answer.json()["Message"]


async def test_a_call_without_session_or_signature_is_session_lost(kd_app) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=kd_app), base_url="http://kd"
    ) as http:
        answer = await _query(http, FormId="BD_Customer", FieldKeys="FNumber")

    assert answer.status_code == 200 and _status(answer)["MsgCode"] == 1


async def test_an_idle_session_expires(kd_http: httpx.AsyncClient, clock: StepClock) -> None:
    clock.advance(3600)

    answer = await _query(kd_http, FormId="BD_Customer", FieldKeys="FNumber")

    assert _status(answer)["MsgCode"] == 1


@pytest.mark.parametrize(
    ("data", "code", "text"),
    [
        ({"FormId": "NO_SUCH_FORM", "FieldKeys": "FNumber"}, 4, "不存在"),
        ({"FormId": "BD_Customer", "FieldKeys": ""}, 8, "FieldKeys"),
        (
            {"FormId": "BD_Customer", "FieldKeys": "FNumber,FNope"},
            9,
            "元数据中标识为FNope的字段不存在",
        ),
        (
            {"FormId": "BD_Customer", "FieldKeys": "FNumber", "FilterString": "FNumber = "},
            4,
            "常量",
        ),
        (
            {"FormId": "BD_Customer", "FieldKeys": "FNumber", "FilterString": "FName = getdate()"},
            4,
            "不支持",
        ),
        (
            {
                "FormId": "BD_Customer",
                "FieldKeys": "FNumber",
                "FilterString": "FNumber = 'a'; drop table x",
            },
            4,
            "不支持",
        ),
        (
            {
                "FormId": "BD_Customer",
                "FieldKeys": "FNumber",
                "FilterString": "FModifyDate > 'yesterday'",
            },
            4,
            "日期",
        ),
        ({"FormId": "BD_Customer", "FieldKeys": "FNumber", "StartRow": "x"}, 4, "startrow"),
        (
            {"FormId": "BD_Customer", "FieldKeys": "FNumber", "OrderString": "FNumber sideways"},
            4,
            "排序",
        ),
    ],
)
async def test_bad_queries_get_kingdees_error_shape_not_a_500(
    kd_http: httpx.AsyncClient, data: dict[str, object], code: int, text: str
) -> None:
    answer = await _query(kd_http, **data)

    status = _status(answer)
    assert answer.status_code == 200
    assert status["IsSuccess"] is False and status["MsgCode"] == code
    assert text in status["Errors"][0]["Message"]  # type: ignore[index]


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        json.dumps({"formid": "BD_Customer", "data": "{bad"}).encode(),
        json.dumps({"formid": "BD_Customer", "data": {"Model": "x"}}).encode(),
    ],
)
async def test_malformed_save_bodies_get_kingdees_error_shape(
    kd_http: httpx.AsyncClient, body: bytes
) -> None:
    answer = await kd_http.post(FORM + "Save.common.kdsvc", content=body)

    assert answer.status_code == 200
    assert _status(answer)["IsSuccess"] is False


async def test_filter_with_and_or_parentheses_in_and_like_selects_the_right_rows(
    kd_http: httpx.AsyncClient, kd_state: KingdeeState
) -> None:
    flt = "(FDocumentStatus = 'C' OR FDocumentStatus IN ('A','B')) AND FCustId.FNumber LIKE 'cust0000_' AND NOT FQty < 1"

    answer = await _query(
        kd_http, FormId="SAL_SaleOrder", FieldKeys="FBillNo,FCustId.FNumber,FQty", FilterString=flt
    )

    expected = sum(
        1
        for bill in kd_state.tables["SAL_SaleOrder"].values()
        for line in bill["FSaleOrderEntry"]  # type: ignore[attr-defined]
        if int(str(kd_state.tables["BD_Customer"][bill["FCustId"]]["FNumber"])[4:]) < 10
        and line["FQty"] >= 1
    )
    assert len(answer.json()) == expected > 0


def test_filter_parser_refuses_what_it_does_not_support() -> None:
    def typer(key: str) -> FieldKind | None:
        return {"fqty": FieldKind.DECIMAL, "fname": FieldKind.TEXT}.get(key.lower())

    with pytest.raises(UnknownFieldError):
        parse_filter("FNope = 1", typer)
    for text in (
        "FQty = FQty",
        "FQty = 1 OR",
        "(FQty = 1",
        "FName = 'x' -- c",
        "FQty IN ()",
        "FName LIKE 3",
    ):
        with pytest.raises(FilterError):
            parse_filter(text, typer)
    assert parse_filter("fname = N'张''三' and FQty between 1 and 3", typer).matches(
        lambda k: {"fname": "张'三", "fqty": 2.0}[k.lower()]
    )


def test_a_restarted_simulator_keeps_its_records(tmp_path: Path) -> None:
    with run_simulator(SIMULATOR, tmp_path) as sim:
        url = str(sim.entry["base_url"])
        login = httpx.post(
            url + "Kingdee.BOS.WebApi.ServicesStub.AuthService.ValidateUser.common.kdsvc",
            json={
                "parameters": [
                    sim.entry["acct_id"],
                    sim.entry["username"],
                    sim.entry["password"],
                    2052,
                ]
            },
        )
        cookies = {"kdservice-sessionid": login.json()["KDSVCSessionId"]}
        saved = httpx.post(
            url + "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.Save.common.kdsvc",
            cookies=cookies,
            json={
                "formid": "BD_Customer",
                "data": {
                    "Model": {
                        "FNumber": "CUST77777",
                        "FName": "重启测试客户",
                        "FCreateOrgId": {"FNumber": "100"},
                    }
                },
            },
        )
    assert saved.json()["Result"]["ResponseStatus"]["IsSuccess"] is True

    with run_simulator(SIMULATOR, tmp_path) as sim:
        url = str(sim.entry["base_url"])
        login = httpx.post(
            url + "Kingdee.BOS.WebApi.ServicesStub.AuthService.ValidateUser.common.kdsvc",
            json={
                "parameters": [
                    sim.entry["acct_id"],
                    sim.entry["username"],
                    sim.entry["password"],
                    2052,
                ]
            },
        )
        cookies = {"kdservice-sessionid": login.json()["KDSVCSessionId"]}
        found = httpx.post(
            url
            + "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.ExecuteBillQuery.common.kdsvc",
            cookies=cookies,
            json={
                "data": {
                    "FormId": "BD_Customer",
                    "FieldKeys": "FName",
                    "FilterString": "FNumber='CUST77777'",
                }
            },
        )

    assert found.json() == [["重启测试客户"]]
    assert set(sim.entry) >= {"base_url", "acct_id", "username", "app_id", "app_secret"}


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("FQtyNameI()'=<>!,. %_-0123456789andorNOTinlike中文\\;")),
        max_size=60,
    )
)
def test_the_filter_parser_only_ever_raises_filter_errors(text: str) -> None:
    def typer(key: str) -> FieldKind | None:
        return {"fqty": FieldKind.DECIMAL, "fname": FieldKind.TEXT}.get(key.lower())

    try:
        flt = parse_filter(text, typer)
    except FilterError:
        return
    flt.matches(lambda k: {"fqty": 1.0, "fname": "x"}[k.lower()])


async def test_draft_then_save_moves_a_bill_from_z_to_a_and_view_by_id_shows_it(
    kd_http: httpx.AsyncClient,
) -> None:
    draft = await kd_http.post(
        FORM + "Draft.common.kdsvc",
        json={"formid": "SAL_SaleOrder", "data": {"Model": {"FNote": "草稿"}}},
    )
    bill_id = draft.json()["Result"]["Id"]
    viewed = await kd_http.post(
        FORM + "View.common.kdsvc", json={"formid": "sal_saleorder", "data": {"Id": str(bill_id)}}
    )
    refused = await kd_http.post(
        FORM + "Save.common.kdsvc",
        json={"formid": "SAL_SaleOrder", "data": {"Model": {"FID": bill_id}}},
    )

    assert viewed.json()["Result"]["Result"]["DocumentStatus"] == "Z"
    status = _status(refused)
    assert status["IsSuccess"] is False
    assert {e["FieldName"] for e in status["Errors"]} >= {"FDate", "FCustId", "FSaleOrderEntry"}  # type: ignore[union-attr]


async def test_a_query_whose_data_is_not_json_gets_the_wrapped_query_error(
    kd_http: httpx.AsyncClient,
) -> None:
    answer = await kd_http.post(FORM + "ExecuteBillQuery.common.kdsvc", json={"data": "{oops"})

    assert isinstance(answer.json(), list)
    assert _status(answer)["MsgCode"] == 4


async def test_logout_ends_the_session(kd_http: httpx.AsyncClient) -> None:
    await kd_http.post(AUTH + "Logout.common.kdsvc", json={})

    answer = await _query(kd_http, FormId="BD_Customer", FieldKeys="FNumber")

    assert _status(answer)["MsgCode"] == 1
