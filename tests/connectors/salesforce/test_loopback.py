"""The connector over real loopback HTTPS: its own pooled client, the simulator's CA, timeouts."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from erpbridge.connectors.salesforce import create_connector
from erpbridge.connectors.salesforce.webhook import ACK_RESPONSE
from erpbridge.sims._common.faults import FaultConfig
from erpbridge.sims._common.server import RunningSimulator, run_simulator, serve_app
from erpbridge.sims.salesforce import SIMULATOR
from erpbridge.spi.errors import TransientError
from erpbridge.spi.records import Cursor, WriteMode, WriteOp
from erpbridge.spi.settings import Limits

from .conftest import settings_from_entry


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSimulator]:
    """The full-size simulator over HTTPS, shared by this module (tests add their own records)."""
    with run_simulator(SIMULATOR, tmp_path_factory.mktemp("sf-loopback")) as running:
        yield running


async def test_connector_reads_over_https_with_the_ports_file_settings(
    server: RunningSimulator,
) -> None:
    connector = create_connector(settings_from_entry(dict(server.entry)))
    try:
        check = await connector.check()
        pages = connector.read_changes("Account", None, page_size=100)
        first = await anext(pages)
        await pages.aclose()
    finally:
        await connector.aclose()
    assert check.ok, check.reason
    assert len(first.records) == 100
    assert first.has_more


async def test_jwt_flow_with_the_ports_file_key_over_https(server: RunningSimulator) -> None:
    connector = create_connector(settings_from_entry(dict(server.entry), auth="jwt"))
    try:
        result = await connector.check()
    finally:
        await connector.aclose()
    assert result.ok, result.reason


async def test_hanging_org_times_out_as_transient_error(tmp_path: Path) -> None:
    faults = FaultConfig(hang_rate=1.0, hang_s=5, path_prefix="/services/data")
    with run_simulator(SIMULATOR, tmp_path / "sf", faults=faults) as running:
        settings = settings_from_entry(dict(running.entry), limits=Limits(timeout_s=0.3))
        connector = create_connector(settings)
        try:
            with pytest.raises(TransientError, match="timed out"):
                await anext(
                    connector.read_changes(
                        "Account", Cursor(stamp=datetime.now(UTC) - timedelta(minutes=1)), 10
                    )
                )
        finally:
            await connector.aclose()


async def test_outbound_message_reaches_a_real_receiver_and_verifies(
    server: RunningSimulator,
) -> None:
    bodies: list[bytes] = []
    delivered = threading.Event()

    async def hook(request: Request) -> Response:
        bodies.append(await request.body())
        delivered.set()
        return Response(ACK_RESPONSE, media_type="text/xml")

    receiver = Starlette(routes=[Route("/hooks/salesforce", hook, methods=["POST"])])
    connector = create_connector(settings_from_entry(dict(server.entry)))
    try:
        with serve_app(receiver) as hub:
            session = await connector.client.login()  # type: ignore[attr-defined]
            admin = {"Authorization": session.header()}
            http = connector.client.http  # type: ignore[attr-defined]
            config = [
                {
                    "url": f"{hub.base_url}/hooks/salesforce",
                    "object": "Case",
                    "fields": ["Subject", "SystemModstamp"],
                }
            ]
            await http.put(f"{server.base_url}/_sim/outbound", json=config, headers=admin)
            await connector.write("Case", [WriteOp(WriteMode.CREATE, {"Subject": "漏水"})])
            arrived = await asyncio.to_thread(delivered.wait, 10)
            await http.delete(f"{server.base_url}/_sim/outbound", headers=admin)
    finally:
        await connector.aclose()
    assert arrived
    [change] = connector.parse_webhook({"Content-Type": "text/xml"}, bodies[0])  # type: ignore[attr-defined]
    assert change.object == "Case"
