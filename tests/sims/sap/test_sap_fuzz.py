"""Fuzzed requests: the simulator answers 2xx or a 4xx OData error body, never a crash."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from erpbridge.sims.sap.batch import handle_batch
from erpbridge.sims.sap.errors import ODataError
from erpbridge.sims.sap.model import SERVICES
from erpbridge.sims.sap.seed import SeedSize, seed_state
from erpbridge.sims.sap.service import ODataRequest, ODataResponse, ODataService
from erpbridge.sims.sap.state import SapState

_STATE = SapState()
seed_state(_STATE, size=SeedSize(partners=5, products=4, orders=10))
_SERVICE = ODataService(_STATE)
_SO = SERVICES["API_SALES_ORDER_SRV"]
_ROOT = "http://sap.test/sap/opu/odata/sap/API_SALES_ORDER_SRV/"

_FILTER_WORDS = st.sampled_from(
    [
        "SalesOrder",
        "SoldToParty",
        "TotalNetAmount",
        "LastChangeDateTime",
        "eq",
        "ne",
        "gt",
        "and",
        "or",
        "not",
        "(",
        ")",
        ",",
        "'1000001'",
        "'O''Brien'",
        "5",
        "1.5M",
        "true",
        "null",
        "datetimeoffset'2026-01-01T00:00:00Z'",
        "datetime'bad'",
        "substringof",
        "startswith",
        "length",
        "'",
        "$",
        "/",
        "to_Item",
        "time'PT1H'",
    ]
)


def _request(method: str, path: str, params: dict[str, str], body: bytes = b"") -> ODataRequest:
    headers = {"content-type": "application/json"}
    return ODataRequest(method, _SO, path, params, headers, body, _ROOT)


def _assert_sane(answer: ODataResponse) -> None:
    assert answer.status < 500, answer.body[:300]
    if answer.status >= 400:
        error = json.loads(answer.body)["error"]
        assert error["message"]["value"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_FILTER_WORDS, max_size=9).map(" ".join))
def test_filter_of_tokens_never_crashes(expression: str) -> None:
    _assert_sane(_SERVICE.handle(_request("GET", "A_SalesOrder", {"$filter": expression})))


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["$filter", "$orderby", "$select", "$expand", "$top", "$skip", "$inlinecount"]),
    st.text(max_size=30),
)
@example(option="$top", text="0\x1f")  # str.strip() removes it, int() does not accept it
def test_any_query_option_text_never_crashes(option: str, text: str) -> None:
    _assert_sane(_SERVICE.handle(_request("GET", "A_SalesOrder", {option: text})))


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_any_resource_path_never_crashes(path: str) -> None:
    _assert_sane(_SERVICE.handle(_request("GET", path, {})))


@settings(max_examples=100, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=60),
        st.dictionaries(
            st.sampled_from(["SalesOrderType", "SoldToParty", "to_Item", "Bogus", "__metadata"]),
            st.one_of(st.none(), st.integers(), st.text(max_size=8), st.lists(st.integers())),
        ).map(lambda d: json.dumps(d).encode()),
    )
)
def test_any_create_body_never_crashes_nor_half_writes(body: bytes) -> None:
    before = (len(_STATE.tables["A_SalesOrder"]), len(_STATE.tables["A_SalesOrderItem"]))
    answer = _SERVICE.handle(_request("POST", "A_SalesOrder", {}, body))
    _assert_sane(answer)
    if answer.status >= 400:
        after = (len(_STATE.tables["A_SalesOrder"]), len(_STATE.tables["A_SalesOrderItem"]))
        assert after == before


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(["b", "batch_1", ""]))
def test_any_batch_body_never_crashes(body: bytes, boundary: str) -> None:
    outer = ODataRequest(
        "POST",
        _SO,
        "$batch",
        {},
        {"content-type": f"multipart/mixed;boundary={boundary}"},
        b"--" + boundary.encode() + b"\r\n" + body + b"\r\n--" + boundary.encode() + b"--",
        _ROOT,
    )
    try:
        answer = handle_batch(_STATE, outer, _SERVICE.handle)
    except ODataError as exc:
        assert exc.status == 400
        assert exc.message
    else:
        assert answer.status == 202
