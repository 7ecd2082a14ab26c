"""Edge cases of the sap connector against the simulator: quoting, sap-client with server
paging, timeouts over real loopback HTTP."""

from __future__ import annotations

import httpx
import pytest

from erpbridge.connectors.sap import SapConnector
from erpbridge.sims._common.faults import FaultConfig, FaultMiddleware
from erpbridge.sims._common.server import serve_app
from erpbridge.spi import Limits, TransientError, WriteMode, WriteOp, WriteOutcome
from tests.connectors.sap.conftest import settings


@pytest.mark.parametrize(
    "term", ["O'Brien", "上海华东", "a%20b&c", "x' or '1' eq '1", "$skip=5", "  spaced "]
)
async def test_find_matches_exactly_values_that_need_quoting(
    connector: SapConnector, term: str
) -> None:
    written = await connector.write(
        "A_BusinessPartner",
        [WriteOp(WriteMode.UPDATE, {"SearchTerm1": term}, target_id="17100002")],
    )
    found = await connector.find("A_BusinessPartner", "SearchTerm1", [term])
    assert written[0].outcome is WriteOutcome.UPDATED
    assert [r.id for r in found] == ["17100002"]
    assert found[0].fields["SearchTerm1"] == term


async def test_server_paging_with_sap_client_follows_next_links(http: httpx.AsyncClient) -> None:
    conn = SapConnector(settings(sap_client="100"), http)
    pages = [p async for p in conn.read_changes("A_SalesOrder", None, 50)]
    ids = [r.id for p in pages for r in p.records]
    assert [len(p.records) for p in pages] == [50, 10]  # the simulator pages at 20
    assert len(set(ids)) == 60


async def test_hanging_sap_call_times_out_as_transient(faults: FaultMiddleware) -> None:
    faults.configure(FaultConfig(hang_rate=1.0, hang_s=1.0))
    with serve_app(faults) as server:
        conn = SapConnector(
            settings(limits=Limits(timeout_s=0.2)).model_copy(update={"base_url": server.base_url})
        )
        try:
            with pytest.raises(TransientError, match="timed out"):
                await conn.get("A_SalesOrder", ["1000001"])
        finally:
            await conn.aclose()
