"""The connector over real loopback HTTP against the sandbox's Oracle simulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from erpbridge.connectors.oracle import OracleConnector, OracleSettings
from erpbridge.sims._common.faults import FaultConfig
from erpbridge.sims._common.server import run_simulator
from erpbridge.sims.sandbox import load_simulator, run_sandbox
from erpbridge.spi.errors import TransientError
from erpbridge.spi.records import WriteMode, WriteOp, WriteOutcome
from erpbridge.spi.secrets import Secret
from erpbridge.spi.settings import Limits


async def test_connector_built_from_the_ports_entry_reads_and_writes(tmp_path: Path) -> None:
    ports = tmp_path / "ports.json"
    with run_sandbox(tmp_path / "data", only=["oracle"], ports_file=ports):
        entry = json.loads(ports.read_text())["oracle"]
        password = Secret.literal(entry.pop("password"))
        connector = OracleConnector(OracleSettings(**entry, password=password))
        try:
            check = await connector.check()
            pages = [p async for p in connector.read_changes("salesOrdersForOrderHub", None, 50)]
            [account] = await connector.find(
                "receivablesCustomerAccountActivities", "AccountNumber", ["10000"]
            )
            fields = {
                "SourceTransactionSystem": "CRM",
                "SourceTransactionId": "LOOP-1",
                "SourceTransactionNumber": "CRM-LOOP-1",
                "BuyingPartyName": account.fields["CustomerName"],
                "SubmittedFlag": False,
            }
            [result] = await connector.write(
                "salesOrdersForOrderHub", [WriteOp(WriteMode.CREATE, fields)]
            )
        finally:
            await connector.aclose()
    assert check.ok and sum(len(p.records) for p in pages) == 120
    assert result.outcome is WriteOutcome.CREATED and result.target_id


async def test_a_hanging_pod_is_a_transient_timeout(tmp_path: Path) -> None:
    spec = load_simulator("oracle")
    faults = FaultConfig(hang_rate=1.0, hang_s=2.0)
    with run_simulator(spec, tmp_path / "data", faults=faults) as sim:
        entry = dict(sim.entry)
        password = Secret.literal(str(entry.pop("password")))
        limits = Limits(timeout_s=0.3)
        connector = OracleConnector(OracleSettings(**entry, password=password, limits=limits))  # type: ignore[arg-type]
        try:
            check = await connector.check()
            with pytest.raises(TransientError) as caught:
                await connector.get("salesOrdersForOrderHub", ["1"])
        finally:
            await connector.aclose()
    assert not check.ok and check.details["error_class"] == "TransientError"
    assert "timed out" in str(caught.value)
