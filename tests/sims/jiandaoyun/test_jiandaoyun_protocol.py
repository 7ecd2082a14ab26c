"""The simulator against the public v5 documentation, with plain httpx and no connector.

Every request is written as the help centre shows it (hc.jiandaoyun.com/open/11261, 14216,
14220, 14223, 14225): POST, JSON body with app_id and entry_id, Bearer key.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from erpbridge.sims._common.faults import FaultKind
from erpbridge.sims._common.spec import SimulatorContext
from erpbridge.sims.jiandaoyun import SANDBOX_API_KEY, JdySimApp, SeedSize, create_app

from .conftest import (
    APP_ID,
    CONTACT,
    CUST_CODE,
    CUST_CREDIT,
    CUST_NAME,
    CUST_OWNER,
    CUST_PHONE,
    CUST_SINCE,
    CUSTOMER,
    INVENTORY,
    LINE_MAT,
    LINE_QTY,
    SALES_ORDER,
    SecondClock,
)


async def post(http: httpx.AsyncClient, path: str, **body: object) -> httpx.Response:
    return await http.post(f"/v5/{path}", json=body)


async def list_all(http: httpx.AsyncClient, entry: str, **extra: object) -> list[dict[str, object]]:
    records: list[dict[str, object]] = []
    last = ""
    while True:
        answer = await post(
            http,
            "app/entry/data/list",
            app_id=APP_ID,
            entry_id=entry,
            data_id=last,
            limit=100,
            **extra,
        )
        assert answer.status_code == 200, answer.text
        page = answer.json()["data"]
        records += page
        if len(page) < 100:
            return records
        last = page[-1]["_id"]


def customer(code: str, name: str = "测试客户有限公司", **more: object) -> dict[str, object]:
    data: dict[str, object] = {CUST_CODE: {"value": code}, CUST_NAME: {"value": name}}
    data.update({k: {"value": v} for k, v in more.items()})
    return data


# --- authentication ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong-key-0000000000", f"Basic {SANDBOX_API_KEY}", "Bearer "],
    ids=["missing", "unknown", "not-bearer", "empty"],
)
async def test_request_without_a_valid_bearer_key_gets_error_body(
    jdy_app: JdySimApp, header: str | None
) -> None:
    headers = {"Authorization": header} if header is not None else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=jdy_app)) as http:
        answer = await http.post(
            "http://jdy.test/api/v5/app/entry/widget/list",
            json={"app_id": APP_ID, "entry_id": CUSTOMER},
            headers=headers,
        )
    assert answer.status_code == 400
    assert answer.json()["code"] == 8301
    assert SANDBOX_API_KEY not in answer.text


# --- metadata ---------------------------------------------------------------------------


async def test_widget_list_gives_names_labels_types_and_subform_items(
    jdy_http: httpx.AsyncClient,
) -> None:
    answer = await post(jdy_http, "app/entry/widget/list", app_id=APP_ID, entry_id=SALES_ORDER)
    assert answer.status_code == 200
    body = answer.json()
    widgets = {w["label"]: w for w in body["widgets"]}
    assert widgets["订单编号"] == {
        "name": "_widget_1615777000301",
        "label": "订单编号",
        "type": "text",
    }
    assert widgets["订单明细"]["type"] == "subform"
    assert [i["label"] for i in widgets["订单明细"]["items"]][:3] == [
        "物料编码",
        "物料名称",
        "数量",
    ]
    assert widgets["销售员"]["type"] == "user"
    assert {"name": "flowState"} in body["sysWidgets"]
    assert body["dataModifyTime"].endswith("Z")


async def test_widget_list_of_an_aliased_form_uses_aliases_as_names(
    jdy_http: httpx.AsyncClient,
) -> None:
    answer = await post(jdy_http, "app/entry/widget/list", app_id=APP_ID, entry_id=INVENTORY)
    names = [w["name"] for w in answer.json()["widgets"]]
    assert names == ["mat_code", "warehouse", "on_hand", "available", "as_of"]


async def test_data_modify_time_moves_on_a_write(jdy_http: httpx.AsyncClient) -> None:
    before = (
        await post(jdy_http, "app/entry/widget/list", app_id=APP_ID, entry_id=CUSTOMER)
    ).json()
    await post(
        jdy_http, "app/entry/data/create", app_id=APP_ID, entry_id=CUSTOMER, data=customer("C9001")
    )
    after = (await post(jdy_http, "app/entry/widget/list", app_id=APP_ID, entry_id=CUSTOMER)).json()
    assert after["dataModifyTime"] > before["dataModifyTime"]


async def test_app_and_entry_lists_name_the_forms(jdy_http: httpx.AsyncClient) -> None:
    apps = (await post(jdy_http, "app/list")).json()["apps"]
    forms = (await post(jdy_http, "app/entry/list", app_id=APP_ID)).json()["forms"]
    assert apps == [{"app_id": APP_ID, "name": "销售管理"}]
    assert {f["name"] for f in forms} >= {"客户", "联系人", "销售订单", "售后工单", "库存"}


async def test_unknown_app_and_entry_get_distinct_codes(jdy_http: httpx.AsyncClient) -> None:
    no_app = await post(jdy_http, "app/entry/widget/list", app_id="0" * 24, entry_id=CUSTOMER)
    no_entry = await post(jdy_http, "app/entry/widget/list", app_id=APP_ID, entry_id="0" * 24)
    assert (no_app.status_code, no_app.json()["code"]) == (400, 3000)
    assert (no_entry.status_code, no_entry.json()["code"]) == (400, 3001)


# --- list, filter, paging ---------------------------------------------------------------


async def test_list_defaults_to_ten_records_in_ascending_id_order(
    jdy_http: httpx.AsyncClient,
) -> None:
    answer = await post(jdy_http, "app/entry/data/list", app_id=APP_ID, entry_id=CONTACT)
    ids = [r["_id"] for r in answer.json()["data"]]
    assert len(ids) == 10
    assert ids == sorted(ids)


async def test_paging_by_data_id_returns_every_record_once(jdy_http: httpx.AsyncClient) -> None:
    seen: list[str] = []
    last = ""
    while True:
        answer = await post(
            jdy_http, "app/entry/data/list", app_id=APP_ID, entry_id=CONTACT, data_id=last, limit=7
        )
        page = [r["_id"] for r in answer.json()["data"]]
        seen += page
        if len(page) < 7:
            break
        last = page[-1]
    assert len(seen) == 24  # 12 customers x 2 contacts
    assert seen == sorted(set(seen))


@pytest.mark.parametrize("limit", [0, 101, "10", True])
async def test_list_limit_outside_1_to_100_is_refused(
    jdy_http: httpx.AsyncClient, limit: object
) -> None:
    answer = await post(
        jdy_http, "app/entry/data/list", app_id=APP_ID, entry_id=CONTACT, limit=limit
    )
    assert answer.status_code == 400
    assert answer.json()["code"] == 1
    assert "limit" in answer.json()["msg"]


async def test_fields_limits_the_widgets_returned(jdy_http: httpx.AsyncClient) -> None:
    answer = await post(
        jdy_http,
        "app/entry/data/list",
        app_id=APP_ID,
        entry_id=CUSTOMER,
        limit=3,
        fields=[CUST_CODE],
    )
    assert all(set(r) == {"_id", CUST_CODE} for r in answer.json()["data"])


async def test_filter_eq_and_in_on_text_widget(jdy_http: httpx.AsyncClient) -> None:
    eq = {
        "rel": "and",
        "cond": [{"field": CUST_CODE, "type": "text", "method": "eq", "value": ["C00003"]}],
    }
    many = {
        "rel": "and",
        "cond": [{"field": CUST_CODE, "method": "in", "value": ["C00001", "C00004", "X"]}],
    }
    one = await list_all(jdy_http, CUSTOMER, filter=eq)
    two = await list_all(jdy_http, CUSTOMER, filter=many)
    assert [r[CUST_CODE] for r in one] == ["C00003"]
    assert sorted(r[CUST_CODE] for r in two) == ["C00001", "C00004"]


async def test_filter_range_with_open_end_on_update_time(jdy_http: httpx.AsyncClient) -> None:
    everything = await list_all(jdy_http, CUSTOMER)
    stamps = sorted(str(r["updateTime"]) for r in everything)
    middle = stamps[len(stamps) // 2]
    spec = {
        "rel": "and",
        "cond": [
            {"field": "updateTime", "type": "datetime", "method": "range", "value": [middle, None]}
        ],
    }
    newer = await list_all(jdy_http, CUSTOMER, filter=spec)
    assert sorted(str(r["updateTime"]) for r in newer) == [s for s in stamps if s >= middle]


async def test_filter_range_on_number_is_inclusive(jdy_http: httpx.AsyncClient) -> None:
    spec = {"cond": [{"field": CUST_CREDIT, "method": "range", "value": [10_000_000, 20_000_000]}]}
    found = await list_all(jdy_http, CUSTOMER, filter=spec)
    everything = await list_all(jdy_http, CUSTOMER)
    expected = [r["_id"] for r in everything if 10_000_000 <= r[CUST_CREDIT] <= 20_000_000]
    assert [r["_id"] for r in found] == expected
    assert expected


async def test_filter_or_combines_conditions(jdy_http: httpx.AsyncClient) -> None:
    spec = {
        "rel": "or",
        "cond": [
            {"field": CUST_CODE, "method": "eq", "value": ["C00002"]},
            {"field": CUST_CODE, "method": "eq", "value": ["C00005"]},
        ],
    }
    found = await list_all(jdy_http, CUSTOMER, filter=spec)
    assert sorted(r[CUST_CODE] for r in found) == ["C00002", "C00005"]


async def test_filter_empty_finds_unset_widgets(jdy_http: httpx.AsyncClient) -> None:
    spec = {"cond": [{"field": "_widget_1615777000110", "method": "empty"}]}  # ERP编号
    found = await list_all(jdy_http, CUSTOMER, filter=spec)
    assert len(found) == 12


@pytest.mark.parametrize(
    ("cond", "fragment"),
    [
        ({"field": CUST_CREDIT, "method": "like", "value": ["1"]}, "不支持 like"),
        ({"field": CUST_CODE, "method": "range", "value": ["a", "b"]}, "不支持 range"),
        ({"field": "_widget_nope", "method": "eq", "value": ["x"]}, "不存在"),
        ({"field": CUST_CODE, "method": "eq", "value": "C00001"}, "必须是数组"),
        ({"field": CUST_CODE, "method": "in", "value": [str(i) for i in range(201)]}, "最多 200"),
        ({"field": "updateTime", "method": "range", "value": ["yesterday", None]}, "日期时间"),
        ({"field": "flowState", "method": "eq", "value": [1]}, "不是流程表单"),
    ],
    ids=[
        "like-on-number",
        "range-on-text",
        "unknown-field",
        "value-not-array",
        "in-too-long",
        "bad-date",
        "flowstate-on-plain-form",
    ],
)
async def test_bad_filter_gets_code_1_naming_the_condition(
    jdy_http: httpx.AsyncClient, cond: dict[str, object], fragment: str
) -> None:
    answer = await post(
        jdy_http,
        "app/entry/data/list",
        app_id=APP_ID,
        entry_id=CUSTOMER,
        filter={"rel": "and", "cond": [cond]},
    )
    assert answer.status_code == 400
    assert answer.json()["code"] in (1, 4001)
    assert fragment in answer.json()["msg"]


# --- get, create, update, delete --------------------------------------------------------


async def test_get_returns_the_record_and_a_missing_id_gets_an_error(
    jdy_http: httpx.AsyncClient,
) -> None:
    first = (
        await post(jdy_http, "app/entry/data/list", app_id=APP_ID, entry_id=CUSTOMER, limit=1)
    ).json()["data"][0]
    got = await post(
        jdy_http, "app/entry/data/get", app_id=APP_ID, entry_id=CUSTOMER, data_id=first["_id"]
    )
    missing = await post(
        jdy_http, "app/entry/data/get", app_id=APP_ID, entry_id=CUSTOMER, data_id="f" * 24
    )
    assert got.json() == {"data": first}
    assert (missing.status_code, missing.json()["code"]) == (400, 4000)


async def test_create_returns_the_record_in_read_format(jdy_http: httpx.AsyncClient) -> None:
    data = customer(
        "C7001",
        "杭州新客户科技有限公司",
        **{
            CUST_CREDIT: 88000,
            CUST_OWNER: "lina",
            CUST_PHONE: {"phone": "13800000000"},
            CUST_SINCE: "2026-03-01T10:00:00+08:00",
        },
    )
    answer = await post(
        jdy_http, "app/entry/data/create", app_id=APP_ID, entry_id=CUSTOMER, data=data
    )
    assert answer.status_code == 200, answer.text
    record = answer.json()["data"]
    assert len(record["_id"]) == 24
    assert record[CUST_NAME] == "杭州新客户科技有限公司"
    assert record[CUST_CREDIT] == 88000
    assert record[CUST_OWNER] == {"username": "lina", "name": "李娜", "status": 1, "type": 0}
    assert record[CUST_PHONE] == {"phone": "13800000000", "verified": False}
    assert record[CUST_SINCE] == "2026-03-01T02:00:00.000Z"
    assert record["createTime"] == record["updateTime"]
    assert record["appId"] == APP_ID and record["entryId"] == CUSTOMER


async def test_datetime_may_be_written_as_epoch_milliseconds(jdy_http: httpx.AsyncClient) -> None:
    data = customer("C7002", **{CUST_SINCE: 1772330400000})
    answer = await post(
        jdy_http, "app/entry/data/create", app_id=APP_ID, entry_id=CUSTOMER, data=data
    )
    assert answer.json()["data"][CUST_SINCE] == "2026-03-01T02:00:00.000Z"


async def test_new_ids_sort_after_existing_ones(jdy_http: httpx.AsyncClient) -> None:
    before = await list_all(jdy_http, CUSTOMER)
    created = (
        await post(
            jdy_http,
            "app/entry/data/create",
            app_id=APP_ID,
            entry_id=CUSTOMER,
            data=customer("C7003"),
        )
    ).json()
    assert created["data"]["_id"] > max(str(r["_id"]) for r in before)


@pytest.mark.parametrize(
    ("data", "code", "fragment"),
    [
        ({"_widget_unknown": {"value": "x"}}, 4001, "_widget_unknown"),
        ({CUST_NAME: "没有 value 包装"}, 1, CUST_NAME),
        ({CUST_CREDIT: {"value": "很多"}}, 4001, "信用额度"),
        ({CUST_SINCE: {"value": "not a date"}}, 4001, "建档日期"),
        ({CUST_OWNER: {"value": "nobody"}}, 4001, "成员不存在"),
        ({"updateTime": {"value": "2026-01-01T00:00:00Z"}}, 4001, "系统字段"),
        ("not an object", 1, "data"),
    ],
    ids=[
        "unknown-widget",
        "no-value-wrapper",
        "text-in-number",
        "bad-date",
        "unknown-user",
        "system-field",
        "data-not-object",
    ],
)
async def test_create_with_bad_data_is_refused_and_writes_nothing(
    jdy_http: httpx.AsyncClient, data: object, code: int, fragment: str
) -> None:
    before = len(await list_all(jdy_http, CUSTOMER))
    answer = await post(
        jdy_http, "app/entry/data/create", app_id=APP_ID, entry_id=CUSTOMER, data=data
    )
    assert answer.status_code == 400
    assert answer.json()["code"] == code
    assert fragment in answer.json()["msg"]
    assert len(await list_all(jdy_http, CUSTOMER)) == before


async def test_serial_number_widget_cannot_be_written(jdy_http: httpx.AsyncClient) -> None:
    answer = await post(
        jdy_http,
        "app/entry/data/create",
        app_id=APP_ID,
        entry_id=SALES_ORDER,
        data={"_widget_1615777000310": {"value": "No.1"}},
    )
    assert answer.json()["code"] == 4001
    assert "流水号" in answer.json()["msg"]


async def test_create_with_subform_gives_each_row_an_id(jdy_http: httpx.AsyncClient) -> None:
    lines = [
        {LINE_MAT: {"value": "M-1001"}, LINE_QTY: {"value": 2}},
        {LINE_MAT: {"value": "M-1002"}, LINE_QTY: {"value": 5}},
    ]
    answer = await post(
        jdy_http,
        "app/entry/data/create",
        app_id=APP_ID,
        entry_id=SALES_ORDER,
        data={"_widget_1615777000301": {"value": "SO-T-1"}, SO_LINES_KEY: {"value": lines}},
    )
    rows = answer.json()["data"][SO_LINES_KEY]
    assert [(r[LINE_MAT], r[LINE_QTY]) for r in rows] == [("M-1001", 2), ("M-1002", 5)]
    assert all(len(r["_id"]) == 24 for r in rows)
    assert answer.json()["data"]["flowState"] == 1


SO_LINES_KEY = "_widget_1615777000305"


async def test_update_changes_only_the_given_widgets(jdy_http: httpx.AsyncClient) -> None:
    created = (
        await post(
            jdy_http,
            "app/entry/data/create",
            app_id=APP_ID,
            entry_id=CUSTOMER,
            data=customer("C7004", "旧名称"),
        )
    ).json()["data"]
    answer = await post(
        jdy_http,
        "app/entry/data/update",
        app_id=APP_ID,
        entry_id=CUSTOMER,
        data_id=created["_id"],
        data={CUST_NAME: {"value": "新名称"}},
    )
    updated = answer.json()["data"]
    assert updated[CUST_NAME] == "新名称"
    assert updated[CUST_CODE] == "C7004"
    assert updated["updateTime"] > created["updateTime"]
    assert updated["createTime"] == created["createTime"]


async def test_update_keeps_the_id_of_a_subform_row_that_names_it(
    jdy_http: httpx.AsyncClient,
) -> None:
    lines = [{LINE_MAT: {"value": "M-1001"}, LINE_QTY: {"value": 2}}]
    created = (
        await post(
            jdy_http,
            "app/entry/data/create",
            app_id=APP_ID,
            entry_id=SALES_ORDER,
            data={SO_LINES_KEY: {"value": lines}},
        )
    ).json()["data"]
    row_id = created[SO_LINES_KEY][0]["_id"]
    new_lines = [
        {"_id": row_id, LINE_QTY: {"value": 9}},
        {LINE_MAT: {"value": "M-1008"}, LINE_QTY: {"value": 1}},
    ]
    updated = (
        await post(
            jdy_http,
            "app/entry/data/update",
            app_id=APP_ID,
            entry_id=SALES_ORDER,
            data_id=created["_id"],
            data={SO_LINES_KEY: {"value": new_lines}},
        )
    ).json()["data"]
    rows = updated[SO_LINES_KEY]
    assert rows[0]["_id"] == row_id and rows[0][LINE_QTY] == 9
    assert rows[1]["_id"] != row_id and len(rows) == 2


async def test_update_of_a_missing_record_gets_data_not_found(jdy_http: httpx.AsyncClient) -> None:
    answer = await post(
        jdy_http,
        "app/entry/data/update",
        app_id=APP_ID,
        entry_id=CUSTOMER,
        data_id="e" * 24,
        data={CUST_NAME: {"value": "x"}},
    )
    assert (answer.status_code, answer.json()["code"]) == (400, 4000)


async def test_delete_removes_the_record_and_a_second_delete_fails(
    jdy_http: httpx.AsyncClient,
) -> None:
    created = (
        await post(
            jdy_http,
            "app/entry/data/create",
            app_id=APP_ID,
            entry_id=CUSTOMER,
            data=customer("C7005"),
        )
    ).json()["data"]
    first = await post(
        jdy_http, "app/entry/data/delete", app_id=APP_ID, entry_id=CUSTOMER, data_id=created["_id"]
    )
    second = await post(
        jdy_http, "app/entry/data/delete", app_id=APP_ID, entry_id=CUSTOMER, data_id=created["_id"]
    )
    got = await post(
        jdy_http, "app/entry/data/get", app_id=APP_ID, entry_id=CUSTOMER, data_id=created["_id"]
    )
    assert first.json() == {"status": "success"}
    assert second.json()["code"] == 4000
    assert got.json()["code"] == 4000


# --- batches and transaction_id ---------------------------------------------------------


async def test_batch_create_returns_count_and_ids(jdy_http: httpx.AsyncClient) -> None:
    rows = [customer(f"B{n:03d}") for n in range(3)]
    answer = await post(
        jdy_http, "app/entry/data/batch_create", app_id=APP_ID, entry_id=CUSTOMER, data_list=rows
    )
    body = answer.json()
    assert body["status"] == "success" and body["success_count"] == 3
    got = [
        (
            await post(jdy_http, "app/entry/data/get", app_id=APP_ID, entry_id=CUSTOMER, data_id=i)
        ).json()["data"][CUST_CODE]
        for i in body["success_ids"]
    ]
    assert got == ["B000", "B001", "B002"]


async def test_batch_create_replayed_with_same_transaction_id_creates_once(
    jdy_http: httpx.AsyncClient,
) -> None:
    rows = [customer("T001"), customer("T002")]
    tid = "87cd7d71-c6df-4281-9927-469094395677"
    first = await post(
        jdy_http,
        "app/entry/data/batch_create",
        app_id=APP_ID,
        entry_id=CUSTOMER,
        data_list=rows,
        transaction_id=tid,
    )
    again = await post(
        jdy_http,
        "app/entry/data/batch_create",
        app_id=APP_ID,
        entry_id=CUSTOMER,
        data_list=rows,
        transaction_id=tid,
    )
    spec = {"cond": [{"field": CUST_CODE, "method": "in", "value": ["T001", "T002"]}]}
    assert again.json() == first.json()
    assert len(await list_all(jdy_http, CUSTOMER, filter=spec)) == 2


async def test_batch_create_is_all_or_nothing(jdy_http: httpx.AsyncClient) -> None:
    before = len(await list_all(jdy_http, CUSTOMER))
    rows = [customer("OK1"), customer("OK2"), {CUST_CREDIT: {"value": "abc"}}]
    answer = await post(
        jdy_http, "app/entry/data/batch_create", app_id=APP_ID, entry_id=CUSTOMER, data_list=rows
    )
    assert answer.status_code == 400
    assert answer.json()["msg"].startswith("data_list[2]")
    assert len(await list_all(jdy_http, CUSTOMER)) == before


async def test_batch_create_of_more_than_100_is_refused(jdy_http: httpx.AsyncClient) -> None:
    rows = [customer(f"X{n}") for n in range(101)]
    answer = await post(
        jdy_http, "app/entry/data/batch_create", app_id=APP_ID, entry_id=CUSTOMER, data_list=rows
    )
    assert (answer.status_code, answer.json()["code"]) == (400, 1)


async def test_batch_update_writes_the_same_data_to_every_id(jdy_http: httpx.AsyncClient) -> None:
    ids = (
        await post(
            jdy_http,
            "app/entry/data/batch_create",
            app_id=APP_ID,
            entry_id=CUSTOMER,
            data_list=[customer("U1"), customer("U2")],
        )
    ).json()["success_ids"]
    answer = await post(
        jdy_http,
        "app/entry/data/batch_update",
        app_id=APP_ID,
        entry_id=CUSTOMER,
        data_ids=[*ids, "d" * 24],
        data={CUST_CREDIT: {"value": 1234}},
    )
    assert answer.json() == {"status": "success", "success_count": 2}
    for data_id in ids:
        got = await post(
            jdy_http, "app/entry/data/get", app_id=APP_ID, entry_id=CUSTOMER, data_id=data_id
        )
        assert got.json()["data"][CUST_CREDIT] == 1234


async def test_batch_update_refuses_subforms(jdy_http: httpx.AsyncClient) -> None:
    first = (
        await post(jdy_http, "app/entry/data/list", app_id=APP_ID, entry_id=SALES_ORDER, limit=1)
    ).json()["data"][0]
    answer = await post(
        jdy_http,
        "app/entry/data/batch_update",
        app_id=APP_ID,
        entry_id=SALES_ORDER,
        data_ids=[first["_id"]],
        data={SO_LINES_KEY: {"value": []}},
    )
    assert (answer.status_code, answer.json()["code"]) == (400, 1)
    assert "子表单" in answer.json()["msg"]


async def test_batch_delete_counts_the_removed_records(jdy_http: httpx.AsyncClient) -> None:
    ids = (
        await post(
            jdy_http,
            "app/entry/data/batch_create",
            app_id=APP_ID,
            entry_id=CUSTOMER,
            data_list=[customer("D1"), customer("D2")],
        )
    ).json()["success_ids"]
    answer = await post(
        jdy_http,
        "app/entry/data/batch_delete",
        app_id=APP_ID,
        entry_id=CUSTOMER,
        data_ids=[*ids, "c" * 24],
    )
    assert answer.json() == {"status": "success", "success_count": 2}


# --- rate limits ------------------------------------------------------------------------


async def test_list_over_30_per_second_gets_8303_until_the_next_second(
    jdy_http: httpx.AsyncClient, second_clock: SecondClock
) -> None:
    codes = []
    for _ in range(31):
        answer = await post(
            jdy_http, "app/entry/data/list", app_id=APP_ID, entry_id=CONTACT, limit=1
        )
        codes.append(answer.status_code)
    refused = answer.json()
    second_clock.now += 1
    later = await post(jdy_http, "app/entry/data/list", app_id=APP_ID, entry_id=CONTACT, limit=1)
    assert codes == [200] * 30 + [400]
    assert refused == {"code": 8303, "msg": "超出请求频率限制"}
    assert later.status_code == 200


async def test_batch_endpoints_allow_10_per_second(jdy_http: httpx.AsyncClient) -> None:
    statuses = []
    for n in range(11):
        answer = await post(
            jdy_http,
            "app/entry/data/batch_create",
            app_id=APP_ID,
            entry_id=CUSTOMER,
            data_list=[customer(f"R{n}")],
        )
        statuses.append(answer.status_code)
    assert statuses == [200] * 10 + [400]
    assert answer.json()["code"] == 8303


async def test_global_limit_is_50_per_second_across_endpoints(jdy_http: httpx.AsyncClient) -> None:
    for _ in range(30):
        await post(jdy_http, "app/entry/data/list", app_id=APP_ID, entry_id=CONTACT, limit=1)
    for _ in range(20):
        answer = await post(jdy_http, "app/entry/widget/list", app_id=APP_ID, entry_id=CONTACT)
        assert answer.status_code == 200
    refused = await post(
        jdy_http, "app/entry/data/get", app_id=APP_ID, entry_id=CONTACT, data_id="a" * 24
    )
    assert refused.json()["code"] == 8303


# --- malformed requests -----------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[1, 2]", "\xff\xfe".encode("latin-1")],
    ids=["broken", "array", "not-utf8"],
)
async def test_malformed_body_gets_code_1(jdy_http: httpx.AsyncClient, content: bytes) -> None:
    answer = await jdy_http.post("/v5/app/entry/data/list", content=content)
    assert answer.status_code == 400
    assert answer.json()["code"] == 1


async def test_missing_ids_get_code_1_naming_the_parameter(jdy_http: httpx.AsyncClient) -> None:
    answer = await post(jdy_http, "app/entry/data/get", app_id=APP_ID, entry_id=CUSTOMER)
    assert answer.json() == {"code": 1, "msg": "参数 data_id 缺失或不是字符串"}


async def test_get_method_and_unknown_path_are_refused_with_json(
    jdy_http: httpx.AsyncClient,
) -> None:
    wrong_method = await jdy_http.get("/v5/app/entry/data/list")
    unknown = await post(jdy_http, "app/entry/data/upsert", app_id=APP_ID)
    assert (wrong_method.status_code, wrong_method.json()["code"]) == (405, 1)
    assert (unknown.status_code, unknown.json()["code"]) == (404, 1)


# --- faults and persistence -------------------------------------------------------------


def _faulted(tmp_path: Path) -> tuple[httpx.AsyncClient, object]:
    app = create_app(
        SimulatorContext(data_dir=tmp_path, seed=3), size=SeedSize(customers=3, orders=2, tickets=1)
    )
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://jdy.test/api",
        headers={"Authorization": f"Bearer {SANDBOX_API_KEY}"},
    )
    return http, app


async def test_throttle_fault_answers_like_the_product(tmp_path: Path) -> None:
    http, app = _faulted(tmp_path)
    app.force(FaultKind.THROTTLE)  # type: ignore[attr-defined]
    async with http:
        answer = await post(http, "app/entry/data/list", app_id=APP_ID, entry_id=CUSTOMER)
    assert (answer.status_code, answer.json()["code"]) == (400, 8303)


async def test_lost_reply_fault_keeps_the_write(tmp_path: Path) -> None:
    http, app = _faulted(tmp_path)
    app.force(FaultKind.LOST_REPLY)  # type: ignore[attr-defined]
    async with http:
        lost = await post(
            http, "app/entry/data/create", app_id=APP_ID, entry_id=CUSTOMER, data=customer("LOST1")
        )
        found = await list_all(
            http,
            CUSTOMER,
            filter={"cond": [{"field": CUST_CODE, "method": "eq", "value": ["LOST1"]}]},
        )
    assert lost.status_code == 502
    assert len(found) == 1


async def test_records_survive_a_restart(tmp_path: Path) -> None:
    http, _ = _faulted(tmp_path)
    async with http:
        created = (
            await post(
                http,
                "app/entry/data/create",
                app_id=APP_ID,
                entry_id=CUSTOMER,
                data=customer("KEEP1"),
            )
        ).json()["data"]
    again, _ = _faulted(tmp_path)
    async with again:
        got = await post(
            again, "app/entry/data/get", app_id=APP_ID, entry_id=CUSTOMER, data_id=created["_id"]
        )
        newer = (
            await post(
                again,
                "app/entry/data/create",
                app_id=APP_ID,
                entry_id=CUSTOMER,
                data=customer("KEEP2"),
            )
        ).json()["data"]
    assert got.json()["data"] == created
    assert newer["_id"] > created["_id"]
