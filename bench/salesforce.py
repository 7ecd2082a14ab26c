"""Salesforce connector throughput against its simulator, in separate processes.

Starts ``erpbridge sandbox --only salesforce`` as a child process (loopback HTTPS), then
in this process runs the connector:

- read: ``read_changes`` over every Order and OrderItem (SOQL paging, 2000 per page);
- write: upserts of N accounts by external id through sObject Collections (200 per call);
- get: ``get`` of 2000 accounts by id (200 per call);
- poll: ``read_changes`` of Account from a cursor after which 10 accounts changed, 50
  times (a steady poll of a large org: the simulator reads from the cursor's stamp on,
  not the whole table).

Reports records per second and where the time went: CPU seconds of the simulator process
(from /proc) against CPU seconds of this process, as fractions of their sum.

Run: ``.venv/bin/python bench/salesforce.py [--records 10000]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from _measure import measure as _measure
from _measure import poll

from erpbridge.connectors.salesforce import SalesforceSettings, create_connector
from erpbridge.connectors.salesforce.connector import SalesforceConnector
from erpbridge.spi.records import WriteMode, WriteOp
from erpbridge.spi.secrets import Secret
from erpbridge.spi.settings import Limits


def _start_sandbox(workdir: Path) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    ports = workdir / "sandbox.json"
    # the sandbox command on its own (python -m), so other CLI commands cannot affect the run
    proc = subprocess.Popen(  # noqa: S603 - our own command
        [
            sys.executable,
            "-m",
            "erpbridge.cli.sandbox",
            "--only",
            "salesforce",
            "--ports-file",
            str(ports),
            "--data-dir",
            str(workdir / "data"),
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not ports.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("sandbox did not start")
        time.sleep(0.05)
    return proc, json.loads(ports.read_text())["salesforce"]


def _settings(entry: dict[str, str]) -> SalesforceSettings:
    return SalesforceSettings(
        base_url=entry["base_url"],
        api_version=entry["api_version"],
        username=entry["username"],
        password=Secret.literal(entry["password"]),
        security_token=Secret.literal(entry["security_token"]),
        client_id=entry["client_id"],
        client_secret=Secret.literal(entry["client_secret"]),
        org_id=entry["org_id"],
        ca_file=Path(entry["ca_file"]),
        limits=Limits(timeout_s=60),
    )


async def _read(connector: SalesforceConnector, obj: str) -> int:
    count = 0
    async for page in connector.read_changes(obj, None, page_size=2000):
        count += len(page.records)
    return count


async def _write(connector: SalesforceConnector, n: int, run: str) -> int:
    ops = [
        WriteOp(
            WriteMode.UPSERT,
            {"Name": f"Bench {run} {i}", "BillingCity": "上海", "Phone": f"+86 21 {i:08d}"},
            key_field="ERP_Customer_Id__c",
            key_value=f"B{run}-{i}",
            ref=str(i),
        )
        for i in range(n)
    ]
    results = await connector.write("Account", ops)
    return sum(1 for r in results if r.error is None)


async def _get(connector: SalesforceConnector, ids: list[str]) -> int:
    return len(await connector.get("Account", ids))


async def main(records: int) -> None:
    """Start the sandbox, run the steps, print a markdown table."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory() as tmp:
        proc, entry = _start_sandbox(Path(tmp))
        try:
            connector = create_connector(_settings(entry))
            assert isinstance(connector, SalesforceConnector)
            await connector.describe()  # warm: login and describe are not measured
            figures = [
                await _measure("read Order (paged)", proc.pid, lambda: _read(connector, "Order")),
                await _measure(
                    "read OrderItem (paged)", proc.pid, lambda: _read(connector, "OrderItem")
                ),
                await _measure(
                    f"write Account upsert x{records} (create)",
                    proc.pid,
                    lambda: _write(connector, records, "a"),
                ),
                await _measure(
                    f"write Account upsert x{records} (update)",
                    proc.pid,
                    lambda: _write(connector, records, "a"),
                ),
            ]
            ids = [
                r.id
                for r in (
                    await connector.find(
                        "Account", "ERP_Customer_Id__c", [f"Ba-{i}" for i in range(2000)]
                    )
                )
            ]
            figures.append(
                await _measure("get Account x2000", proc.pid, lambda: _get(connector, ids))
            )
            since = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
            await asyncio.sleep((since - datetime.now(UTC)).total_seconds() + 0.05)
            await _write(connector, 10, "p")  # 10 changed after the cursor (whole seconds)
            figures.append(
                await _measure(
                    f"poll Account x50, 10 changed of {records + 10}+",
                    proc.pid,
                    lambda: poll(connector, "Account", since, 50, 2000),
                )
            )
            await connector.aclose()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print("| step | records | wall s | records/s | sim CPU s | connector CPU s |")
    print("|---|---|---|---|---|---|")
    for figure in figures:
        print(figure.line())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10000, help="accounts to write")
    asyncio.run(main(parser.parse_args().records))
