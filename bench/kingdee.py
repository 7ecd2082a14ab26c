"""Kingdee K/3 Cloud connector throughput against its simulator, in separate processes.

Starts ``erpbridge sandbox --only kingdee`` as a child process (loopback HTTP), then in
this process runs the connector (signed headers, the SDK's default):

- write: N customers created through BatchSave (100 per call), then the same N updated;
- write: M sales orders with 3 lines each created through BatchSave (100 per call);
- read: ``read_changes`` over every customer and every sales order (keyset pages of 2000;
  orders with their lines, one extra query per page);
- get: 2000 customers by id (200 ids per query);
- poll: ``read_changes`` of BD_Customer from a cursor after which 10 customers changed, 50
  times (a steady poll of a large form: the simulator reads from the cursor's stamp on
  through a sorted index of ``FModifyDate``, as a database reads an indexed range).

Reports records per second and where the time went: CPU seconds of the simulator process
(from /proc) against CPU seconds of this process, as fractions of their sum.

Run: ``.venv/bin/python bench/kingdee.py [--records 5000] [--orders 2000]``
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

import httpx
import structlog
from _measure import measure as _measure
from _measure import poll

from erpbridge.connectors.kingdee import KingdeeConnector, KingdeeSettings
from erpbridge.spi.records import WriteMode, WriteOp, WriteOutcome
from erpbridge.spi.secrets import Secret
from erpbridge.spi.settings import Limits


def _start_sandbox(workdir: Path) -> tuple[subprocess.Popen[bytes], dict[str, object]]:
    ports = workdir / "sandbox.json"
    exe = Path(sys.executable).with_name("erpbridge")
    proc = subprocess.Popen(  # noqa: S603 - our own command
        [
            str(exe),
            "sandbox",
            "--only",
            "kingdee",
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
    return proc, json.loads(ports.read_text())["kingdee"]


def _settings(entry: dict[str, object]) -> KingdeeSettings:
    return KingdeeSettings(
        base_url=str(entry["base_url"]),
        acct_id=str(entry["acct_id"]),
        username=str(entry["username"]),
        app_id=str(entry["app_id"]),
        app_secret=Secret.literal(str(entry["app_secret"])),
        limits=Limits(timeout_s=120, batch_size=100),
    )


async def _read(connector: KingdeeConnector, obj: str) -> int:
    count = 0
    async for page in connector.read_changes(obj, None, page_size=2000):
        count += len(page.records)
    return count


def _ok(results: list) -> int:  # type: ignore[type-arg]
    failed = [r for r in results if r.outcome is WriteOutcome.FAILED]
    if failed:
        raise SystemExit(f"{len(failed)} writes failed, first: {failed[0].error}")
    return len(results)


async def _create_customers(connector: KingdeeConnector, n: int) -> list[str]:
    ops = [
        WriteOp(
            WriteMode.CREATE,
            {
                "FNumber": f"BENCH{i:06d}",
                "FName": f"压测客户{i}号有限公司",
                "FCreateOrgId": "100",
                "FTEL": f"021-{i:08d}",
                "FADDRESS": "上海市浦东新区张江路88号",
                "FTRADINGCURRID": "PRE001",
            },
            ref=str(i),
        )
        for i in range(n)
    ]
    results = await connector.write("BD_Customer", ops)
    _ok(results)
    return [str(r.target_id) for r in results]


async def _update_customers(connector: KingdeeConnector, ids: list[str]) -> int:
    ops = [
        WriteOp(WriteMode.UPDATE, {"FTEL": f"0755-{i:08d}"}, target_id=target)
        for i, target in enumerate(ids)
    ]
    return _ok(await connector.write("BD_Customer", ops))


async def _create_orders(connector: KingdeeConnector, m: int) -> int:
    line = {
        "FMaterialId": "WL00001",
        "FUnitID": "Pcs",
        "FQty": 2,
        "FTaxPrice": 113,
        "FEntryTaxRate": 13,
    }
    ops = [
        WriteOp(
            WriteMode.CREATE,
            {
                "FDate": "2026-11-20",
                "FSaleOrgId": "100",
                "FCustId": f"BENCH{i % 100:06d}",
                "FSalerId": "XSY001",
                "FSettleCurrId": "PRE001",
                "FSaleOrderEntry": [line, {**line, "FMaterialId": "WL00002"}, {**line, "FQty": 5}],
            },
        )
        for i in range(m)
    ]
    return _ok(await connector.write("SAL_SaleOrder", ops))


async def main(records: int, orders: int) -> None:
    """Start the sandbox, run the steps, print a markdown table."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory() as tmp:
        proc, entry = _start_sandbox(Path(tmp))
        try:
            async with httpx.AsyncClient(timeout=120) as http:
                connector = KingdeeConnector(_settings(entry), http)
                await connector.describe()  # warm: metadata is not measured
                ids: list[str] = []

                async def create() -> int:
                    ids.extend(await _create_customers(connector, records))
                    return len(ids)

                figures = [
                    await _measure(
                        f"write BD_Customer create x{records} (100/call)", proc.pid, create
                    ),
                    await _measure(
                        f"write BD_Customer update x{records} (100/call)",
                        proc.pid,
                        lambda: _update_customers(connector, ids),
                    ),
                    await _measure(
                        f"write SAL_SaleOrder create x{orders}, 3 lines (100/call)",
                        proc.pid,
                        lambda: _create_orders(connector, orders),
                    ),
                    await _measure(
                        "read BD_Customer (2000/page)",
                        proc.pid,
                        lambda: _read(connector, "BD_Customer"),
                    ),
                    await _measure(
                        "read SAL_SaleOrder with lines (2000/page)",
                        proc.pid,
                        lambda: _read(connector, "SAL_SaleOrder"),
                    ),
                    await _measure(
                        "get BD_Customer x2000 (200/query)",
                        proc.pid,
                        lambda: _get(connector, ids[:2000]),
                    ),
                ]
                since = datetime.now(UTC) + timedelta(milliseconds=50)
                await asyncio.sleep(0.1)
                changed = [
                    WriteOp(WriteMode.UPDATE, {"FTEL": "0755-00000000"}, target_id=target)
                    for target in ids[:10]
                ]
                _ok(await connector.write("BD_Customer", changed))  # 10 changed after the cursor
                figures.append(
                    await _measure(
                        f"poll BD_Customer x50, 10 changed of {len(ids)}+",
                        proc.pid,
                        lambda: poll(connector, "BD_Customer", since, 50, 2000),
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


async def _get(connector: KingdeeConnector, ids: list[str]) -> int:
    return len(await connector.get("BD_Customer", ids))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=5000, help="customers to write")
    parser.add_argument("--orders", type=int, default=2000, help="sales orders to write")
    args = parser.parse_args()
    asyncio.run(main(args.records, args.orders))
