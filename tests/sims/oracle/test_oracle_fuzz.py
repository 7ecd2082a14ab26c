"""Fuzzed requests always get Oracle-shaped answers: never a 500, a traceback or a hang."""

from __future__ import annotations

import json

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from erpbridge.sims.oracle import SANDBOX_PASSWORD, SANDBOX_USER, build_app
from erpbridge.sims.oracle.filter import parse_q
from erpbridge.sims.oracle.model import RESOURCES
from erpbridge.sims.oracle.query import QueryError
from erpbridge.sims.oracle.seed import SeedSize, seed_state
from erpbridge.sims.oracle.state import OracleState

_STATE = OracleState()
seed_state(_STATE, seed=2, size=SeedSize(accounts=4, items=8, orders=10, requisitions=2))
_APP = build_app(_STATE)
ROOT = "/fscmRestApi/resources/11.13.18.05"

_TOKENS = st.sampled_from(
    [
        "LastUpdateDate",
        "HeaderId",
        "StatusCode",
        "Nope",
        "lines",
        " ",
        "(",
        ")",
        ",",
        "=",
        "!=",
        "<>",
        ">",
        ">=",
        "<",
        "<=",
        "and",
        "OR",
        "like",
        "in",
        "between",
        "is",
        "not",
        "null",
        "true",
        "'OPEN'",
        "'2026-01-01T00:00:00Z'",
        "'2026-01-01'",
        "'x''y'",
        "42",
        "-1.5",
        "'",
        "%",
        ";",
        "\\",
        "__import__",
        "'DOO%'",
        "１",
        "\x00",
    ]
)
q_text = st.lists(_TOKENS, max_size=14).map("".join) | st.text(max_size=60)

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_KEYS = st.sampled_from(
    [
        "SourceTransactionSystem",
        "SourceTransactionId",
        "SourceTransactionNumber",
        "lines",
        "BuyingPartyName",
        "SubmittedFlag",
        "TransactionOn",
        "HeaderId",
        "billToCustomer",
        "X",
    ]
)
order_body = st.dictionaries(_KEYS, _JSON, max_size=8)


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=_APP),
        base_url="http://fusion.test",
        auth=(SANDBOX_USER, SANDBOX_PASSWORD),
        headers={"REST-Framework-Version": "4"},
    )


def _oracle_shaped(response: httpx.Response) -> bool:
    if response.status_code < 400:
        return True
    body = response.json()
    return isinstance(body.get("o:errorDetails"), list) and body["o:errorDetails"][0]["detail"]


@given(q=q_text, version=st.integers(1, 9))
def test_the_q_parser_either_parses_or_says_why(q: str, version: int) -> None:
    try:
        pred, _ = parse_q(q, RESOURCES["salesOrdersForOrderHub"].attr, framework_version=version)
    except QueryError as exc:
        assert str(exc)
    else:
        for row in _STATE.tables["salesOrdersForOrderHub"].values():
            assert pred(row) in (True, False)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=q_text, fields=st.text(max_size=20), limit=st.text(max_size=4))
async def test_fuzzed_collection_queries_never_fail_the_server(
    q: str, fields: str, limit: str
) -> None:
    async with _client() as client:
        response = await client.get(
            f"{ROOT}/salesOrdersForOrderHub", params={"q": q, "fields": fields, "limit": limit}
        )
    assert response.status_code in (200, 400) and _oracle_shaped(response)


@settings(max_examples=60)
@given(body=order_body)
async def test_fuzzed_order_bodies_get_201_or_a_4xx_with_details(body: dict[str, object]) -> None:
    async with _client() as client:
        response = await client.post(f"{ROOT}/salesOrdersForOrderHub", json=body)
    assert response.status_code in (200, 201, 400, 404, 409) and _oracle_shaped(response)


@settings(max_examples=40)
@given(parts=_JSON)
async def test_fuzzed_batch_bodies_never_fail_the_server(parts: object) -> None:
    async with _client() as client:
        response = await client.post(
            f"{ROOT}/",
            content=json.dumps({"parts": parts}),
            headers={"Content-Type": "application/vnd.oracle.adf.batch+json"},
        )
    assert response.status_code in (200, 400)
    body = response.json()
    assert "parts" in body or _oracle_shaped(response)


async def test_nan_and_infinity_are_refused_as_json() -> None:
    async with _client() as client:
        response = await client.post(
            f"{ROOT}/salesOrdersForOrderHub",
            content=b'{"SourceTransactionId": NaN, "X": Infinity}',
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 400 and "NaN" in response.json()["o:errorDetails"][0]["detail"]


async def test_deeply_nested_body_is_400_not_500() -> None:
    async with _client() as client:
        response = await client.post(
            f"{ROOT}/salesOrdersForOrderHub",
            content=b"[" * 100_000,
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 400


@settings(max_examples=40)
@given(path=st.lists(st.text(alphabet="abcXYZ:%/.0123 ", max_size=12), max_size=6))
async def test_fuzzed_paths_get_404_405_or_an_answer(path: list[str]) -> None:
    async with _client() as client:
        response = await client.get(f"{ROOT}/" + "/".join(path))
    assert response.status_code < 500
