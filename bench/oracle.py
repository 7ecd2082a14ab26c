"""Oracle connector throughput against its simulator, in separate processes.

Starts the sandbox's Oracle simulator (``sims.sandbox.run_sandbox``, uvicorn, loopback HTTP)
as a child process, then in this process runs the connector:

- write: N sales orders created through the batch media type (50 parts per call, with the
  pre-create natural-key lookup and ``Upsert-Mode``), then N updates of those orders;
- read: ``read_changes`` over every salesOrdersForOrderHub record (lines expanded, keyset
  pages of 500) and every onhandQuantityDetails record (opaque keys, offset pages);
- get: ``get`` of the N orders by id (40 ids per ``q=HeaderId IN (...)``);
- poll: ``read_changes`` of salesOrdersForOrderHub from a cursor after which 10 orders
  changed, 50 times (a steady poll of a large pod: the simulator reads from the cursor's
  ``LastUpdateDate`` on through a sorted index, as a database reads an indexed range).

Reports records per second and where the time went: CPU seconds of the simulator process
(from /proc) against CPU seconds of this process, as fractions of their sum.

Run: ``.venv/bin/python bench/oracle.py [--records 2000]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from _measure import measure as _measure
from _measure import poll

from erpbridge.connectors.oracle import OracleConnector, OracleSettings
from erpbridge.spi.records import WriteMode, WriteOp
from erpbridge.spi.secrets import Secret
from erpbridge.spi.settings import Limits

ORDERS = "salesOrdersForOrderHub"

_SERVE = """
import signal, sys
from pathlib import Path
from erpbridge.sims.sandbox import run_sandbox
with run_sandbox(Path(sys.argv[1]), only=["oracle"], ports_file=Path(sys.argv[2])):
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
"""


def _start_sandbox(workdir: Path) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    """The sandbox's Oracle simulator in a child process (what ``erpbridge sandbox`` runs)."""
    ports = workdir / "sandbox.json"
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # inherited: sigwait gets it
    try:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and code
            [sys.executable, "-c", _SERVE, str(workdir / "data"), str(ports)],
            stdout=subprocess.DEVNULL,
        )
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    deadline = time.monotonic() + 60
    while not ports.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("sandbox did not start")
        time.sleep(0.05)
    return proc, json.loads(ports.read_text())["oracle"]


async def _read(connector: OracleConnector, obj: str) -> int:
    count = 0
    async for page in connector.read_changes(obj, None, page_size=500):
        count += len(page.records)
    return count


def _order(i: int, party: str) -> dict[str, object]:
    return {
        "SourceTransactionSystem": "BENCH",
        "SourceTransactionId": str(i),
        "SourceTransactionNumber": f"BENCH-{i}",
        "BuyingPartyName": party,
        "TransactionalCurrencyCode": "USD",
        "SubmittedFlag": True,
        "lines": [
            {"SourceTransactionLineId": "1", "ProductNumber": "AS54888", "OrderedQuantity": 2},
            {"SourceTransactionLineId": "2", "ProductNumber": "CM-1001", "OrderedQuantity": 1},
        ],
    }


async def _create(connector: OracleConnector, n: int, parties: list[str]) -> int:
    ops = [
        WriteOp(
            WriteMode.CREATE,
            _order(i, parties[i % len(parties)]),
            key_field="SourceTransactionNumber",
            key_value=f"BENCH-{i}",
            ref=str(i),
        )
        for i in range(n)
    ]
    results = await connector.write(ORDERS, ops)
    return sum(1 for r in results if r.error is None)


async def _update(connector: OracleConnector, ids: list[str], po: str = "B") -> int:
    ops = [WriteOp(WriteMode.UPDATE, {"CustomerPONumber": po}, target_id=i, ref=i) for i in ids]
    results = await connector.write(ORDERS, ops)
    return sum(1 for r in results if r.error is None)


async def main(records: int) -> None:
    """Start the sandbox, run the steps, print a markdown table."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory() as tmp:
        proc, entry = _start_sandbox(Path(tmp))
        try:
            connector = OracleConnector(
                OracleSettings(
                    base_url=entry["base_url"],
                    username=entry["username"],
                    password=Secret.literal(entry["password"]),
                    api_version=entry["api_version"],
                    limits=Limits(timeout_s=120, batch_size=50),
                )
            )
            accounts = await connector.find(
                "receivablesCustomerAccountActivities", "AccountStatus", ["A"]
            )
            parties = [str(r.fields["CustomerName"]) for r in accounts]
            figures = [
                await _measure(
                    f"write {ORDERS} create x{records} (batch)",
                    proc.pid,
                    lambda: _create(connector, records, parties),
                )
            ]
            found = await connector.find(
                ORDERS, "SourceTransactionNumber", [f"BENCH-{i}" for i in range(records)]
            )
            ids = [r.id for r in found]
            figures += [
                await _measure(
                    f"write {ORDERS} update x{len(ids)} (batch)",
                    proc.pid,
                    lambda: _update(connector, ids),
                ),
                await _measure(
                    f"read {ORDERS} + lines (keyset pages)",
                    proc.pid,
                    lambda: _read(connector, ORDERS),
                ),
                await _measure(
                    "read onhandQuantityDetails (offset pages)",
                    proc.pid,
                    lambda: _read(connector, "onhandQuantityDetails"),
                ),
                await _measure(
                    f"get {ORDERS} x{len(ids)}",
                    proc.pid,
                    lambda: _get(connector, ids),
                ),
            ]
            since = datetime.now(UTC) + timedelta(milliseconds=50)
            await asyncio.sleep(0.1)
            await _update(connector, ids[:10], "C")  # 10 changed after the cursor
            figures.append(
                await _measure(
                    f"poll {ORDERS} x50, 10 changed of {len(ids)}+",
                    proc.pid,
                    lambda: poll(connector, ORDERS, since, 50, 500),
                )
            )
            await connector.aclose()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print("| step | records | wall s | records/s | sim CPU s (share) | connector CPU s (share) |")
    print("|---|---|---|---|---|---|")
    for figure in figures:
        print(figure.line())


async def _get(connector: OracleConnector, ids: list[str]) -> int:
    return len(await connector.get(ORDERS, ids))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000, help="sales orders to write")
    asyncio.run(main(parser.parse_args().records))
