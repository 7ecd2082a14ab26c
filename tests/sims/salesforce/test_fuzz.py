"""Fuzzed requests get Salesforce error answers, never a 500 or a traceback."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from erpbridge.sims.salesforce import build_app
from erpbridge.sims.salesforce.auth import CONSUMER_KEY, CONSUMER_SECRET, PASSWORD, USERNAME
from erpbridge.sims.salesforce.seed import SeedSize

BASE = "/services/data/v59.0"
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELD_NAMES = st.sampled_from(
    [
        "Name",
        "AccountId",
        "Type",
        "NumberOfEmployees",
        "Id",
        "attributes",
        "Bogus__c",
        "ERP_Customer_Id__c",
        "OwnerId",
        "Account",
        "records",
        "allOrNone",
    ]
)
BODIES = st.dictionaries(FIELD_NAMES, JSON, max_size=5) | JSON
ENDPOINTS = st.sampled_from(
    [
        ("POST", f"{BASE}/sobjects/Account/"),
        ("PATCH", f"{BASE}/sobjects/Account/001Sm0000000001IAA"),
        ("PATCH", f"{BASE}/sobjects/Account/ERP_Customer_Id__c/K-1"),
        ("POST", f"{BASE}/composite/sobjects"),
        ("PATCH", f"{BASE}/composite/sobjects"),
        ("PATCH", f"{BASE}/composite/sobjects/Account/ERP_Customer_Id__c"),
        ("POST", f"{BASE}/composite/sobjects/Account"),
        ("POST", f"{BASE}/jobs/ingest"),
        ("POST", f"{BASE}/jobs/query"),
        ("PUT", "/_sim/outbound"),
        ("POST", "/services/async/59.0/job"),
        ("POST", "/services/async/59.0/job/750Sm0000000001AAA/batch"),
    ]
)


def _client(tmp: str) -> tuple[httpx.AsyncClient, object]:
    app, _ = build_app(Path(tmp), size=SeedSize(accounts=2, products=1, orders=1, cases=1))
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://sf.test"
    ), app


async def _send(requests: list[tuple[tuple[str, str], bytes]]) -> list[int]:
    with tempfile.TemporaryDirectory() as tmp:
        client, _ = _client(tmp)
        async with client:
            token = await client.post(
                "/services/oauth2/token",
                data={
                    "grant_type": "password",
                    "client_id": CONSUMER_KEY,
                    "client_secret": CONSUMER_SECRET,
                    "username": USERNAME,
                    "password": PASSWORD,
                },
            )
            client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
            statuses = []
            for (method, path), body in requests:
                response = await client.request(
                    method, path, content=body, headers={"Content-Type": "application/json"}
                )
                statuses.append(response.status_code)
                if response.status_code >= 400 and "/services/async/" in path:
                    assert "exceptionCode" in response.json(), response.text  # Bulk 1.0 shape
                elif response.status_code >= 400:
                    assert isinstance(response.json(), list), response.text
            return statuses


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(ENDPOINTS, BODIES.map(lambda b: json.dumps(b).encode())), max_size=6))
def test_fuzzed_write_bodies_never_cause_a_server_error(
    requests: list[tuple[tuple[str, str], bytes]],
) -> None:
    statuses = asyncio.run(_send(requests))
    assert all(s < 500 for s in statuses), statuses


@settings(max_examples=80, deadline=None)
@given(
    st.one_of(
        st.text(max_size=60),
        st.builds(
            lambda fields, where: f"SELECT {fields} FROM Account WHERE {where}",
            st.sampled_from(["Id", "Id, Name", "COUNT()", "Account.Name", "Id,"]),
            st.text(alphabet="Name=<>!'() ANDORNOTIN%_0123456789-:TZ.,", max_size=40),
        ),
    )
)
def test_fuzzed_soql_never_causes_a_server_error(soql: str) -> None:
    async def run() -> int:
        with tempfile.TemporaryDirectory() as tmp:
            client, _ = _client(tmp)
            async with client:
                token = await client.post(
                    "/services/oauth2/token",
                    data={
                        "grant_type": "password",
                        "client_id": CONSUMER_KEY,
                        "client_secret": CONSUMER_SECRET,
                        "username": USERNAME,
                        "password": PASSWORD,
                    },
                )
                client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
                return (await client.get(f"{BASE}/query/", params={"q": soql})).status_code

    assert asyncio.run(run()) in (200, 400)
