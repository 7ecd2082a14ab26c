"""serve_app / run_sandbox: real loopback HTTPS with a generated CA, and the ports file."""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from erpbridge.sims._common.faults import FaultConfig
from erpbridge.sims._common.server import serve_app
from erpbridge.sims._common.spec import SimulatorContext, SimulatorSpec
from erpbridge.sims._common.tls import make_tls_material
from erpbridge.sims.sandbox import load_simulator, parse_faults, run_sandbox
from erpbridge.spi.errors import ConfigError


async def _hello(request: Request) -> JSONResponse:
    return JSONResponse({"hello": "world"})


def _create_app(context: SimulatorContext) -> ASGIApp:
    return Starlette(routes=[Route("/hello", _hello)])


def _entry(base_url: str, ca_file: Path | None) -> Mapping[str, object]:
    return {"base_url": base_url, "ca_file": str(ca_file) if ca_file else None}


ECHO = SimulatorSpec(name="echo", create_app=_create_app, connection_entry=_entry, needs_tls=True)


def test_https_server_is_trusted_through_its_ca_file(tmp_path: Path) -> None:
    tls = make_tls_material(tmp_path)
    app = Starlette(routes=[Route("/hello", _hello)])
    with serve_app(app, tls=tls) as server:
        ctx = ssl.create_default_context(cafile=str(tls.ca_file))
        response = httpx.get(f"{server.base_url}/hello", verify=ctx)
    assert server.base_url.startswith("https://127.0.0.1:")
    assert response.json() == {"hello": "world"}


def test_https_server_is_refused_without_its_ca(tmp_path: Path) -> None:
    tls = make_tls_material(tmp_path)
    app = Starlette(routes=[Route("/hello", _hello)])
    with serve_app(app, tls=tls) as server, pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.base_url}/hello")


def test_sandbox_writes_ports_file_and_removes_it_on_stop(tmp_path: Path) -> None:
    ports_file = tmp_path / "sandbox.json"
    registry = {"echo": f"{__name__}:ECHO"}
    with run_sandbox(tmp_path / "data", ports_file=ports_file, registry=registry) as running:
        entry = json.loads(ports_file.read_text())["echo"]
        ctx = ssl.create_default_context(cafile=entry["ca_file"])
        response = httpx.get(f"{entry['base_url']}/hello", verify=ctx)
    assert set(running) == {"echo"}
    assert response.status_code == 200
    assert not ports_file.exists()


def test_unknown_simulator_name_suggests_the_close_one() -> None:
    with pytest.raises(ConfigError, match="did you mean 'salesforce'"):
        load_simulator("salesforse")


def test_faults_can_target_one_simulator() -> None:
    faults = parse_faults(
        ["latency_ms=5", "sap:throttle_rate=0.2", "salesforce:latency_ms=50"], ["salesforce", "sap"]
    )
    assert faults["salesforce"] == FaultConfig(latency_ms=50)
    assert faults["sap"] == FaultConfig(latency_ms=5, throttle_rate=0.2)


def test_fault_for_a_simulator_not_running_is_refused() -> None:
    with pytest.raises(ValueError, match="'sapp' is not a simulator of this run"):
        parse_faults(["sapp:error_rate=0.1"], ["salesforce", "sap"])
