"""The connector over real loopback HTTP against the sandbox's Oracle simulator."""

from __future__ import annotations

import json
from pathlib import Path

from erpbridge.connectors.oracle import OracleConnector, OracleSettings
from erpbridge.sims.sandbox import run_sandbox
from erpbridge.spi.records import WriteMode, WriteOp, WriteOutcome
from erpbridge.spi.secrets import Secret


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
