"""Fixtures: the Salesforce simulator in-process (fresh per test) and over loopback HTTPS."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import requests
from requests.adapters import HTTPAdapter

from erpbridge.sims._common.faults import FaultMiddleware
from erpbridge.sims._common.server import RunningSimulator, run_simulator
from erpbridge.sims.salesforce import SIMULATOR, build_app, sim_of
from erpbridge.sims.salesforce.app import SalesforceSim
from erpbridge.sims.salesforce.auth import CONSUMER_KEY, CONSUMER_SECRET, PASSWORD, USERNAME
from erpbridge.sims.salesforce.seed import SeedSize

BASE = "/services/data/v59.0"


@pytest.fixture(scope="session")
def sf_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSimulator]:
    """The full-size simulator on 127.0.0.1 over HTTPS (shared: tests write their own records)."""
    with run_simulator(SIMULATOR, tmp_path_factory.mktemp("salesforce")) as running:
        yield running


@pytest.fixture
def sf_sim(sf_server: RunningSimulator) -> SalesforceSim:
    """The parts of the HTTPS simulator (sessions, org) for arranging and checking."""
    return sim_of(sf_server.app)


class RouteToSimulator(HTTPAdapter):
    """A requests adapter that sends the library's fixed login host to the simulator."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    def send(self, request: requests.PreparedRequest, **kwargs: object) -> requests.Response:  # type: ignore[override]
        parts = urlsplit(request.url or "")
        request.url = f"{self.base_url}{parts.path}" + (f"?{parts.query}" if parts.query else "")
        return super().send(request, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def sf_session(sf_server: RunningSimulator) -> Iterator[requests.Session]:
    """A requests session trusting the simulator's CA, with login.salesforce.com routed to it."""
    session = requests.Session()
    # REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE in the environment would override session.verify.
    session.trust_env = False
    session.verify = str(sf_server.ca_file)
    session.mount("https://login.salesforce.com", RouteToSimulator(sf_server.base_url))
    yield session
    session.close()


@pytest.fixture
def org_app(tmp_path: Path) -> tuple[FaultMiddleware, SalesforceSim]:
    """A fresh, small in-process org (function-scoped)."""
    return build_app(tmp_path, size=SeedSize.small(), base_url="https://sf.test")


@pytest.fixture
async def api(org_app: tuple[FaultMiddleware, SalesforceSim]) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client logged in to the in-process org (Bearer header set)."""
    transport = httpx.ASGITransport(app=org_app[0])
    async with httpx.AsyncClient(transport=transport, base_url="https://sf.test") as client:
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
        yield client
