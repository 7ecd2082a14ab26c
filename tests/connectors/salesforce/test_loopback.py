"""The connector over real loopback HTTPS: its own pooled client, the simulator's CA, timeouts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from erpbridge.connectors.salesforce import create_connector
from erpbridge.sims._common.faults import FaultConfig
from erpbridge.sims._common.server import RunningSimulator, run_simulator
from erpbridge.sims.salesforce import SIMULATOR
from erpbridge.spi.errors import TransientError
from erpbridge.spi.records import Cursor
from erpbridge.spi.settings import Limits

from .conftest import settings_from_entry


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSimulator]:
    """The full-size simulator over HTTPS (read-only use in this module)."""
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
