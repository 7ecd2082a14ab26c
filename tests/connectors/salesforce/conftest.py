"""Fixtures: the Salesforce connector against a fresh in-process simulator (httpx.ASGITransport)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from erpbridge.connectors.salesforce import SalesforceConnector, SalesforceSettings
from erpbridge.sims._common.faults import FaultMiddleware
from erpbridge.sims.salesforce import build_app, connection_entry
from erpbridge.sims.salesforce.app import SalesforceSim
from erpbridge.sims.salesforce.seed import SeedSize
from erpbridge.sims.salesforce.state import ORG_ID
from erpbridge.spi.secrets import Secret

SIM_URL = "https://sf.test"


class FakeClock:
    """A settable clock for the simulator's stamps (no sleeps in tests)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


def settings_from_entry(entry: dict[str, object], **overrides: object) -> SalesforceSettings:
    """Connection settings from a simulator's ports-file entry (literal secrets)."""
    values: dict[str, object] = {
        "base_url": entry["base_url"],
        "api_version": entry["api_version"],
        "auth": entry["auth"],
        "username": entry["username"],
        "password": Secret.literal(str(entry["password"])),
        "security_token": Secret.literal(str(entry["security_token"])),
        "client_id": entry["client_id"],
        "client_secret": Secret.literal(str(entry["client_secret"])),
        "org_id": entry["org_id"],
        "ca_file": entry["ca_file"],
    }
    if entry.get("private_key_file"):
        values["private_key"] = Secret(f"${{file:{entry['private_key_file']}}}")
    values.update(overrides)
    return SalesforceSettings.model_validate(values)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def org(tmp_path: Path, clock: FakeClock) -> tuple[FaultMiddleware, SalesforceSim]:
    """A fresh small org whose stamps come from ``clock``."""
    return build_app(tmp_path, size=SeedSize.small(), base_url=SIM_URL, clock=clock)


@pytest.fixture
def sim(org: tuple[FaultMiddleware, SalesforceSim]) -> SalesforceSim:
    return org[1]


@pytest.fixture
def faults(org: tuple[FaultMiddleware, SalesforceSim]) -> FaultMiddleware:
    return org[0]


@pytest.fixture
def settings() -> SalesforceSettings:
    return settings_from_entry(dict(connection_entry(SIM_URL, None)))


@pytest.fixture
async def http(org: tuple[FaultMiddleware, SalesforceSim]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=org[0])) as client:
        yield client


@pytest.fixture
def make_connector(
    http: httpx.AsyncClient, settings: SalesforceSettings
) -> Callable[..., SalesforceConnector]:
    def make(**overrides: object) -> SalesforceConnector:
        chosen = settings.model_copy(update=overrides) if overrides else settings
        return SalesforceConnector(chosen, http)

    return make


@pytest.fixture
def connector(make_connector: Callable[..., SalesforceConnector]) -> SalesforceConnector:
    return make_connector()


__all__ = ["ORG_ID", "SIM_URL", "FakeClock", "settings_from_entry"]
