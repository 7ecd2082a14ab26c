"""Whatever a server answers, the connector returns results or raises a spi ConnectorError.

The answers are generated (``httpx.MockTransport``): no real server sends these, which is
the point; the real simulator's answers are covered by the other tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from erpbridge.connectors.kingdee import KingdeeConnector
from erpbridge.spi import ConnectorError, WriteMode, WriteOp

from .conftest import make_settings

_KEYS = ["Result", "ResponseStatus", "IsSuccess", "Errors", "SuccessEntitys", "MsgCode",
         "DIndex", "Id", "Message", "FieldName", "NeedReturnData", "Entrys", "Fields", "Key",
         "EntityType", "ElementType", "PkFieldName", "LoginResultType"]  # fmt: skip
_json = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-3, 3),
        st.text(max_size=6),
        st.sampled_from(["2026-11-02T08:00:00.5", "C1", "会话信息已丢失"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(_KEYS), inner, max_size=4)
    ),
    max_leaves=25,
)


#: a plausible metadata answer, so the fuzzed answers reach the query and save paths.
_INFO = json.dumps(
    {
        "Result": {
            "ResponseStatus": {"IsSuccess": True, "Errors": [], "MsgCode": 0},
            "NeedReturnData": {
                "Id": "BD_Customer",
                "PkFieldName": "FCUSTID",
                "NumberFieldName": "FNumber",
                "ModifyDateFieldName": "FModifyDate",
                "Entrys": [
                    {
                        "Key": "FBillHead",
                        "EntityType": "HeadEntity",
                        "Fields": [
                            {"Key": "FCUSTID", "ElementType": "IntegerField"},
                            {"Key": "FNumber", "ElementType": "TextField"},
                            {"Key": "FName", "ElementType": "TextField"},
                            {"Key": "FModifyDate", "ElementType": "DateTimeField"},
                        ],
                    }
                ],
            },
        }
    }
)


async def _exercise(answer: str, status: int) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "QueryBusinessInfo" in request.url.path:
            return httpx.Response(200, text=_INFO)
        return httpx.Response(status, text=answer)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        connector = KingdeeConnector(make_settings(), http)
        calls = (
            lambda: connector.get("BD_Customer", ["1"]),
            lambda: connector.find("BD_Customer", "FNumber", ["C1"]),
            lambda: connector.write("BD_Customer", [WriteOp(WriteMode.CREATE, {"FName": "x"})]),
            lambda: connector.write("BD_Customer", [WriteOp(WriteMode.DELETE, {}, target_id="1")]),
            lambda: _drain(connector),
        )
        for call in calls:
            with contextlib.suppress(ConnectorError):
                await call()


async def _drain(connector: KingdeeConnector) -> None:
    async for _ in connector.read_changes("BD_Customer", None, 2):
        break


_rows = st.lists(
    st.lists(st.one_of(st.integers(0, 3), st.text(max_size=4), st.none()), max_size=5), max_size=3
)


@settings(max_examples=300, deadline=None)
@given(
    body=st.one_of(_json, _rows), status=st.sampled_from([200, 200, 200, 206, 302, 400, 500, 503])
)
def test_odd_answers_only_ever_become_connector_errors(body: object, status: int) -> None:
    asyncio.run(_exercise(json.dumps(body), status))


_item = st.dictionaries(
    st.sampled_from(["DIndex", "Id", "Number", "Message", "FieldName"]),
    st.one_of(_json, st.integers(0, 2)),
    max_size=5,
)
_status = st.fixed_dictionaries(
    {},
    optional={
        "IsSuccess": st.one_of(st.booleans(), _json),
        "Errors": st.one_of(st.lists(_item, max_size=3), _json),
        "SuccessEntitys": st.one_of(st.lists(_item, max_size=3), _json),
        "MsgCode": st.one_of(st.integers(0, 12), _json),
    },
)


@settings(max_examples=300, deadline=None)
@given(status=_status, wrapped=st.booleans())
def test_odd_response_statuses_only_ever_become_connector_errors(
    status: dict[str, object], wrapped: bool
) -> None:
    answer: object = {"Result": {"ResponseStatus": status}}
    asyncio.run(_exercise(json.dumps([[answer]] if wrapped else answer), 200))


_entity = st.fixed_dictionaries(
    {},
    optional={
        "Key": _json,
        "EntityType": st.sampled_from(["HeadEntity", "SubHeadEntity", "EntryEntity", "x"]),
        "Fields": st.one_of(
            st.lists(
                st.dictionaries(
                    st.sampled_from(
                        ["Key", "Name", "ElementType", "MustInput", "LookUpObjectFormId"]
                    ),
                    st.one_of(_json, st.sampled_from(["FNumber", "BaseDataField"])),
                    max_size=5,
                ),
                max_size=3,
            ),
            _json,
        ),
    },
)


@settings(max_examples=300, deadline=None)
@given(
    info=st.dictionaries(
        st.sampled_from(["Id", "Name", "PkFieldName", "Entrys", "NumberFieldName"]),
        st.one_of(_json, st.lists(_entity, max_size=3)),
        max_size=5,
    )
)
def test_odd_metadata_only_ever_becomes_a_connector_error(info: dict[str, object]) -> None:
    body = json.dumps({"Result": {"ResponseStatus": {"IsSuccess": True}, "NeedReturnData": info}})

    async def describe() -> None:
        transport = httpx.MockTransport(lambda request: httpx.Response(200, text=body))
        async with httpx.AsyncClient(transport=transport) as http:
            with contextlib.suppress(ConnectorError):
                await KingdeeConnector(make_settings(forms=("BD_Customer",)), http).describe()

    asyncio.run(describe())
