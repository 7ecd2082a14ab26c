"""Batch media type (reference §4), faults, persistence and the sandbox entry."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import jsonschema

from erpbridge.sims._common.faults import FaultKind
from erpbridge.sims._common.spec import SimulatorContext
from erpbridge.sims.oracle import SANDBOX_PASSWORD, SANDBOX_USER, SeedSize, create_app
from erpbridge.sims.oracle.state import OracleState
from erpbridge.sims.sandbox import run_sandbox
from tests.sims.oracle.conftest import ORDERS, ROOT, new_order
from tests.sims.oracle.schemas import BATCH_RESPONSE, ERROR

BATCH = {"Content-Type": "application/vnd.oracle.adf.batch+json"}
PARTY = "上海华润贸易有限公司"


def _create(pid: str, source_id: str, **extra: object) -> dict[str, object]:
    return {
        "id": pid,
        "path": "/salesOrdersForOrderHub",
        "operation": "create",
        "payload": new_order(PARTY, source_id, **extra),
    }


async def test_batch_runs_every_part_and_answers_each(
    fusion: httpx.AsyncClient, oracle_state: OracleState
) -> None:
    parts = [
        _create("a", "B-1"),
        _create("b", "B-2"),
        {"id": "c", "path": "/salesOrdersForOrderHub/CRM:10001", "operation": "get"},
        {
            "id": "d",
            "path": "/salesOrdersForOrderHub/CRM:10002",
            "operation": "update",
            "payload": {"CustomerPONumber": "BATCH"},
        },
    ]
    response = await fusion.post(f"{ROOT}/", content=json.dumps({"parts": parts}), headers=BATCH)
    body = response.json()
    jsonschema.validate(body, BATCH_RESPONSE)
    assert response.status_code == 200
    assert [p["id"] for p in body["parts"]] == ["a", "b", "c", "d"]
    assert body["parts"][0]["payload"]["SourceTransactionId"] == "B-1"
    assert oracle_state.by_alt_key("salesOrdersForOrderHub", ("CRM", "B-2")) is not None


async def test_failed_part_rolls_back_the_batch_and_is_the_only_part_listed(
    fusion: httpx.AsyncClient, oracle_state: OracleState
) -> None:
    before = dict(oracle_state.tables["salesOrdersForOrderHub"])
    parts = [
        _create("a", "B-3"),
        _create("b", "B-4", lines=[{"ProductNumber": "NO-SUCH", "OrderedQuantity": 1}]),
        _create("c", "B-5"),
    ]
    response = await fusion.post(f"{ROOT}/", content=json.dumps({"parts": parts}), headers=BATCH)
    body = response.json()
    jsonschema.validate(body, BATCH_RESPONSE)
    assert response.status_code == 400
    assert [p["id"] for p in body["parts"]] == ["b"]
    jsonschema.validate(body["parts"][0]["payload"], ERROR)
    assert oracle_state.tables["salesOrdersForOrderHub"].keys() == before.keys()


async def test_batch_part_with_stale_if_match_reports_precondition_failed(
    fusion: httpx.AsyncClient,
) -> None:
    part = {
        "id": "x",
        "path": "/salesOrdersForOrderHub/CRM:10003",
        "operation": "update",
        "ifMatch": '"ACED0005DEAD"',
        "payload": {"CustomerPONumber": "nope"},
    }
    response = await fusion.post(f"{ROOT}/", content=json.dumps({"parts": [part]}), headers=BATCH)
    listed = response.json()["parts"][0]
    assert listed["preconditionSucceeded"] is False and listed["payload"]["status"] == "412"


async def test_batch_upsert_mode_updates_existing_orders(
    fusion: httpx.AsyncClient, oracle_state: OracleState
) -> None:
    first = await fusion.post(
        f"{ROOT}/", content=json.dumps({"parts": [_create("a", "B-6")]}), headers=BATCH
    )
    again = await fusion.post(
        f"{ROOT}/",
        content=json.dumps({"parts": [_create("a", "B-6", CustomerPONumber="UPSERTED")]}),
        headers={**BATCH, "Upsert-Mode": "true"},
    )
    key = oracle_state.by_alt_key("salesOrdersForOrderHub", ("CRM", "B-6"))
    assert (first.status_code, again.status_code) == (200, 200)
    assert (
        key is not None
        and oracle_state.tables["salesOrdersForOrderHub"][key]["CustomerPONumber"] == "UPSERTED"
    )


async def test_batch_get_part_with_a_query_filters(fusion: httpx.AsyncClient) -> None:
    part = {
        "id": "g",
        "path": "/salesOrdersForOrderHub?q=SourceTransactionId%20%3D%20%2710002%27&onlyData=true",
        "operation": "get",
    }
    response = await fusion.post(f"{ROOT}/", content=json.dumps({"parts": [part]}), headers=BATCH)
    items = response.json()["parts"][0]["payload"]["items"]
    assert [i["SourceTransactionId"] for i in items] == ["10002"] and "links" not in items[0]


async def test_batch_needs_its_media_type_and_a_parts_list(fusion: httpx.AsyncClient) -> None:
    plain_json = await fusion.post(f"{ROOT}/", json={"parts": [_create("a", "B-7")]})
    no_parts = await fusion.post(f"{ROOT}/", content=b'{"part": []}', headers=BATCH)
    bad_op = await fusion.post(
        f"{ROOT}/",
        content=json.dumps({"parts": [{"id": "a", "path": "/x", "operation": "merge"}]}),
        headers=BATCH,
    )
    assert (plain_json.status_code, no_parts.status_code, bad_op.status_code) == (415, 400, 400)


async def test_suppressed_batch_answer_leaves_payloads_out(fusion: httpx.AsyncClient) -> None:
    response = await fusion.post(
        f"{ROOT}/",
        content=json.dumps({"parts": [_create("a", "B-8")]}),
        headers={**BATCH, "Accept": "application/vnd.oracle.adf.resourceitem+json;q=0"},
    )
    assert response.status_code == 200 and "payload" not in response.json()["parts"][0]


# --- faults, persistence, sandbox ---------------------------------------------------------------


def _client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
        base_url="http://fusion.test",
        auth=(SANDBOX_USER, SANDBOX_PASSWORD),
        headers={"REST-Framework-Version": "4"},
    )


async def test_throttled_answer_is_429_with_retry_after_in_oracle_shape(tmp_path: Path) -> None:
    app = create_app(SimulatorContext(tmp_path), size=SeedSize(4, 6, 5, 1))
    app.force(FaultKind.THROTTLE)
    async with _client(app) as client:
        response = await client.get(ORDERS)
    assert response.status_code == 429 and response.headers["retry-after"] == "1"
    jsonschema.validate(response.json(), ERROR)


async def test_lost_reply_write_takes_effect(tmp_path: Path) -> None:
    app = create_app(SimulatorContext(tmp_path), size=SeedSize(4, 6, 5, 1))
    async with _client(app) as client:
        party = (await client.get(f"{ROOT}/receivablesCustomerAccountActivities")).json()["items"][
            0
        ]
        app.force(FaultKind.LOST_REPLY)
        lost = await client.post(ORDERS, json=new_order(party["CustomerName"], "LOST-1"))
        found = await client.get(f"{ORDERS}/CRM:LOST-1")
    assert (lost.status_code, found.status_code) == (502, 200)


async def test_restarted_simulator_keeps_its_records(tmp_path: Path) -> None:
    first = create_app(SimulatorContext(tmp_path), size=SeedSize(4, 6, 5, 1))
    async with _client(first) as client:
        party = (await client.get(f"{ROOT}/receivablesCustomerAccountActivities")).json()["items"][
            0
        ]
        created = (await client.post(ORDERS, json=new_order(party["CustomerName"], "P-1"))).json()
    first.app.on_shutdown()  # type: ignore[attr-defined]
    second = create_app(SimulatorContext(tmp_path), size=SeedSize(4, 6, 5, 1))
    async with _client(second) as client:
        again = await client.get(f"{ORDERS}/CRM:P-1")
        more = (await client.post(ORDERS, json=new_order(party["CustomerName"], "P-2"))).json()
    assert again.json()["HeaderId"] == created["HeaderId"]
    assert more["HeaderId"] > created["HeaderId"]


async def test_sandbox_serves_oracle_with_a_complete_ports_entry(tmp_path: Path) -> None:
    ports = tmp_path / "ports.json"
    with run_sandbox(tmp_path / "data", only=["oracle"], ports_file=ports):
        entry = json.loads(ports.read_text())["oracle"]
        async with httpx.AsyncClient(
            base_url=entry["base_url"], auth=(entry["username"], entry["password"])
        ) as client:
            response = await client.get(
                f"/fscmRestApi/resources/{entry['api_version']}/salesOrdersForOrderHub",
                params={"limit": "1"},
            )
    assert response.status_code == 200 and response.json()["count"] == 1
