"""SAP connector throughput against its simulator, in separate processes.

Starts the sandbox's SAP simulator (``sims.sandbox.run_sandbox``, uvicorn, loopback HTTP) as
a child process, then in this process runs the connector:

- read: ``read_changes`` over every A_SalesOrder (with its items expanded) and every
  A_BusinessPartner (keyset paging, 1000 per page);
- write: N sales orders created through ``$batch`` (100 per call, one changeset each, with
  the pre-create natural-key lookup), then N header updates of those orders, then N
  line-level updates (the orders read with their items, then per order one changeset of
  header PATCH + one item PATCH + one item POST);
- get: ``get`` of 2000 sales orders by id (40 ids per ``$filter``);
- poll: ``read_changes`` of A_SalesOrder from a cursor after which 10 orders changed, 50
  times (a steady poll of a large system: the simulator reads from the cursor's stamp on
  through a sorted index of ``LastChangeDateTime``, as a database reads an indexed range).

Reports records per second and where the time went: CPU seconds of the simulator process
(from /proc) against CPU seconds of this process, as fractions of their sum.

Run: ``.venv/bin/python bench/sap.py [--records 2000]``
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
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import structlog
from _measure import measure as _measure
from _measure import poll

from erpbridge.connectors.sap import SapConnector, SapSettings
from erpbridge.spi.records import Record, WriteMode, WriteOp
from erpbridge.spi.secrets import Secret
from erpbridge.spi.settings import Limits

_SERVE = """
import signal, sys
from pathlib import Path
from erpbridge.sims.sandbox import run_sandbox
with run_sandbox(Path(sys.argv[1]), only=["sap"], ports_file=Path(sys.argv[2])):
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
"""


def _start_sandbox(workdir: Path) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    """The sandbox's SAP simulator in a child process (what ``erpbridge sandbox`` runs)."""
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
    return proc, json.loads(ports.read_text())["sap"]


async def _read(connector: SapConnector, obj: str) -> int:
    count = 0
    async for page in connector.read_changes(obj, None, page_size=1000):
        count += len(page.records)
    return count


def _order(run: str, i: int, customer: str) -> dict[str, object]:
    return {
        "SalesOrderType": "OR",
        "SalesOrganization": "1710",
        "DistributionChannel": "10",
        "OrganizationDivision": "00",
        "SoldToParty": customer,
        "PurchaseOrderByCustomer": f"BENCH-{run}-{i}",
        "to_Item": [
            {"ExternalItemID": "L1", "Material": "TG0011", "RequestedQuantity": Decimal(2)},
            {"ExternalItemID": "L2", "Material": "TG0012", "RequestedQuantity": Decimal(1)},
        ],
    }


async def _create(connector: SapConnector, n: int, run: str, customers: list[str]) -> int:
    ops = [
        WriteOp(
            WriteMode.CREATE,
            _order(run, i, customers[i % len(customers)]),
            key_field="PurchaseOrderByCustomer",
            key_value=f"BENCH-{run}-{i}",
            ref=str(i),
        )
        for i in range(n)
    ]
    results = await connector.write("A_SalesOrder", ops)
    return sum(1 for r in results if r.error is None)


async def _update(connector: SapConnector, ids: list[str]) -> int:
    ops = [
        WriteOp(WriteMode.UPDATE, {"DeliveryBlockReason": "01"}, target_id=i, ref=i) for i in ids
    ]
    results = await connector.write("A_SalesOrder", ops)
    return sum(1 for r in results if r.error is None)


async def _update_lines(connector: SapConnector, ids: list[str], customers: list[str]) -> int:
    """Line-level updates: one line changed, one kept, one added (read + 3 requests each)."""
    ops = []
    for n, order_id in enumerate(ids):
        fields = _order("a", n, customers[n % len(customers)])
        fields.pop("PurchaseOrderByCustomer")
        fields["to_Item"] = [
            {"ExternalItemID": "L1", "Material": "TG0011", "RequestedQuantity": Decimal(3)},
            {"ExternalItemID": "L2", "Material": "TG0012", "RequestedQuantity": Decimal(1)},
            {"ExternalItemID": "L3", "Material": "TG0013", "RequestedQuantity": Decimal(1)},
        ]
        ops.append(WriteOp(WriteMode.UPDATE, fields, target_id=order_id, ref=order_id))
    results = await connector.write("A_SalesOrder", ops)
    return sum(1 for r in results if r.error is None)


async def main(records: int) -> None:
    """Start the sandbox, run the steps, print a markdown table."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory() as tmp:
        proc, entry = _start_sandbox(Path(tmp))
        try:
            connector = SapConnector(
                SapSettings(
                    base_url=entry["base_url"],
                    username=entry["username"],
                    password=Secret.literal(entry["password"]),
                    limits=Limits(timeout_s=120, batch_size=100),
                )
            )
            await connector.describe()  # warm: token and $metadata are not measured
            customers = [r.id async for r in _records(connector, "A_Customer")][:50]
            figures = [
                await _measure(
                    "read A_SalesOrder + to_Item (paged)",
                    proc.pid,
                    lambda: _read(connector, "A_SalesOrder"),
                ),
                await _measure(
                    "read A_BusinessPartner + addresses (paged)",
                    proc.pid,
                    lambda: _read(connector, "A_BusinessPartner"),
                ),
                await _measure(
                    f"write A_SalesOrder create x{records} ($batch)",
                    proc.pid,
                    lambda: _create(connector, records, "a", customers),
                ),
            ]
            found = await connector.find(
                "A_SalesOrder", "PurchaseOrderByCustomer", [f"BENCH-a-{i}" for i in range(records)]
            )
            ids = [r.id for r in found]
            figures.append(
                await _measure(
                    f"write A_SalesOrder update x{len(ids)} ($batch)",
                    proc.pid,
                    lambda: _update(connector, ids),
                )
            )
            figures.append(
                await _measure(
                    f"write A_SalesOrder line update x{len(ids)} (read, header + 2 item requests)",
                    proc.pid,
                    lambda: _update_lines(connector, ids, customers),
                )
            )
            figures.append(
                await _measure(
                    f"get A_SalesOrder x{len(ids)}",
                    proc.pid,
                    lambda: _get(connector, ids),
                )
            )
            since = datetime.now(UTC) + timedelta(milliseconds=50)
            await asyncio.sleep(0.1)
            await _update(connector, ids[:10])  # 10 changed after the cursor
            figures.append(
                await _measure(
                    f"poll A_SalesOrder x50, 10 changed of {len(ids) + 3000}+",
                    proc.pid,
                    lambda: poll(connector, "A_SalesOrder", since, 50, 1000),
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


async def _get(connector: SapConnector, ids: list[str]) -> int:
    return len(await connector.get("A_SalesOrder", ids))


async def _records(connector: SapConnector, obj: str) -> AsyncIterator[Record]:
    async for page in connector.read_changes(obj, None, page_size=1000):
        for record in page.records:
            yield record


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000, help="sales orders to write")
    asyncio.run(main(parser.parse_args().records))
