"""Yonyou connectors' throughput against their simulators, in separate processes.

Starts ``erpbridge sandbox --only yonbip,yonyou`` as a child process (loopback HTTP; both
simulators in that one process), then in this process runs the two connectors:

YonBIP (``yonbip``):
- write: N customers created through ``merchant/idempotent/newinsert`` (one call each,
  with resubmitCheckKey), then the same N updated through ``batch/merchant/save`` (50 per
  call);
- write: M sales orders with 2 lines through ``voucherorder/singleSave`` (one call each);
- read: ``read_changes`` over every customer (pages of 1000) and every order with its lines
  (list pages of 200 + one ``detail`` call per order);
- get: N customers by id (``newBatchDetail``, 50 ids per call);
- poll: ``read_changes`` of merchant from a cursor after which 10 customers changed, 50
  times (a steady poll of a large tenant: the simulator reads from the cursor's ``pubts`` on
  through a sorted index, as a database reads an indexed range).

U8 OpenAPI (``yonyou``):
- write: N customers (``/api/customer/add``, tradeid from the job key), the same N edited,
  M sale orders with 2 lines (``/api/saleorder/add``);
- read: customers (pages of 500) and sale orders with their lines (list + one ``get`` each);
- get: N customers by code (one call each).

Reports records per second and CPU seconds of the simulator process (from /proc) against
this process, as fractions of their sum.

Run: ``.venv/bin/python bench/yonyou.py [--records 2000] [--orders 500]``
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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import structlog
from _measure import poll

from erpbridge.connectors.yonbip import YonBipConnector, YonBipSettings
from erpbridge.connectors.yonyou import U8Connector, U8Settings
from erpbridge.spi.records import WriteMode, WriteOp, WriteOutcome, WriteResult
from erpbridge.spi.secrets import Secret
from erpbridge.spi.settings import Limits

_Write = Callable[[str, Sequence[WriteOp]], Awaitable[list[WriteResult]]]


@dataclass
class Figure:
    """One measured step."""

    name: str
    records: int
    wall_s: float
    client_cpu_s: float
    sim_cpu_s: float

    def line(self) -> str:
        """A table row."""
        cpu = self.client_cpu_s + self.sim_cpu_s or 1e-9
        return (
            f"| {self.name} | {self.records} | {self.wall_s:.2f} | "
            f"{self.records / self.wall_s:,.0f} | "
            f"{self.sim_cpu_s:.2f} ({self.sim_cpu_s / cpu:.0%}) | "
            f"{self.client_cpu_s:.2f} ({self.client_cpu_s / cpu:.0%}) |"
        )


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start_sandbox(workdir: Path) -> tuple[subprocess.Popen[bytes], dict[str, dict[str, object]]]:
    ports = workdir / "sandbox.json"
    exe = Path(sys.executable).with_name("erpbridge")
    proc = subprocess.Popen(  # noqa: S603 - our own command
        [
            str(exe),
            "sandbox",
            "--only",
            "yonbip,yonyou",
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
    return proc, json.loads(ports.read_text())


async def _measure(name: str, pid: int, step: Callable[[], Awaitable[int]]) -> Figure:
    sim0, cpu0, t0 = _proc_cpu_s(pid), time.process_time(), time.perf_counter()
    records = await step()
    return Figure(
        name, records, time.perf_counter() - t0, time.process_time() - cpu0, _proc_cpu_s(pid) - sim0
    )


async def _write_all(write: _Write, obj: str, ops: list[WriteOp], batch: int) -> list[str]:
    ids: list[str] = []
    for start in range(0, len(ops), batch):
        results = await write(obj, ops[start : start + batch])
        failed = [r for r in results if r.outcome is WriteOutcome.FAILED]
        if failed:
            raise SystemExit(f"{len(failed)} writes failed, first: {failed[0].error}")
        ids += [str(r.target_id) for r in results]
    return ids


async def _read(connector: YonBipConnector | U8Connector, obj: str, size: int) -> int:
    count = 0
    async for page in connector.read_changes(obj, None, size):
        count += len(page.records)
    return count


async def _bip_steps(bip: YonBipConnector, pid: int, n: int, m: int) -> list[Figure]:
    ids: list[str] = []
    creates = [
        WriteOp(
            WriteMode.CREATE,
            {
                "code": f"BENCH{i:06d}",
                "name": {"zh_CN": f"压测客户{i}号有限公司"},
                "createOrgCode": "991",
                "customerClassCode": "02",
                "contactTel": f"021-{i:08d}",
            },
            idempotency_key=f"bench-c-{i}",
        )
        for i in range(n)
    ]

    async def create() -> int:
        ids.extend(await _write_all(bip.write, "merchant", creates, 50))
        return len(ids)

    async def update() -> int:
        ops = [
            WriteOp(WriteMode.UPDATE, {"contactTel": f"0755-{i:08d}"}, target_id=t)
            for i, t in enumerate(ids)
        ]
        return len(await _write_all(bip.write, "merchant", ops, 50))

    async def orders() -> int:
        line = {"productId": "WL00001", "qty": 2, "oriTaxUnitPrice": 113, "oriSum": 226}
        ops = [
            WriteOp(
                WriteMode.CREATE,
                {
                    "salesOrgId": "991",
                    "transactionTypeId": "SO01",
                    "vouchdate": "2026-11-20 00:00:00",
                    "agentId": f"BENCH{i % 100:06d}",
                    "payMoney": 452,
                    "orderDetails": [line, {**line, "productId": "WL00002"}],
                },
                idempotency_key=f"bench-o-{i}",
            )
            for i in range(m)
        ]
        return len(await _write_all(bip.write, "voucherorder", ops, 50))

    async def get() -> int:
        found = 0
        for start in range(0, len(ids), 50):
            found += len(await bip.get("merchant", ids[start : start + 50]))
        return found

    figures = [
        await _measure(f"yonbip write merchant create x{n} (1 call each)", pid, create),
        await _measure(f"yonbip write merchant update x{n} (batch save, 50/call)", pid, update),
        await _measure(f"yonbip write voucherorder create x{m}, 2 lines", pid, orders),
        await _measure(
            "yonbip read merchant (1000/page)", pid, lambda: _read(bip, "merchant", 1000)
        ),
        await _measure(
            "yonbip read voucherorder with lines (200/page + detail each)",
            pid,
            lambda: _read(bip, "voucherorder", 200),
        ),
        await _measure(f"yonbip get merchant x{n} (50 ids/call)", pid, get),
    ]
    # pubts has whole seconds: the cursor is the next second, the 10 changes come after it
    since = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    await asyncio.sleep((since - datetime.now(UTC)).total_seconds() + 0.05)
    changed = [
        WriteOp(WriteMode.UPDATE, {"contactTel": f"0755-9{i:07d}"}, target_id=t)
        for i, t in enumerate(ids[:10])
    ]
    await _write_all(bip.write, "merchant", changed, 50)
    figures.append(
        await _measure(
            f"yonbip poll merchant x50, 10 changed of {n}+",
            pid,
            lambda: poll(bip, "merchant", since, 50, 1000),
        )
    )
    return figures


async def _u8_steps(u8: U8Connector, pid: int, n: int, m: int) -> list[Figure]:
    creates = [
        WriteOp(
            WriteMode.CREATE,
            {
                "code": f"B{i:06d}",
                "name": f"压测客户{i}号有限公司",
                "abbrname": f"压测{i}",
                "sort_code": "01",
            },
            idempotency_key=f"bench-u8-c-{i:06d}",
        )
        for i in range(n)
    ]
    ids: list[str] = []

    async def create() -> int:
        ids.extend(await _write_all(u8.write, "customer", creates, 20))
        return len(ids)

    async def update() -> int:
        ops = [
            WriteOp(
                WriteMode.UPDATE,
                {"phone": f"0755-{i:08d}"},
                target_id=code,
                idempotency_key=f"bench-u8-u-{i:06d}",
            )
            for i, code in enumerate(ids)
        ]
        return len(await _write_all(u8.write, "customer", ops, 20))

    async def orders() -> int:
        line = {"inventorycode": "000001", "quantity": 2, "taxunitprice": 113, "bgift": 0}
        ops = [
            WriteOp(
                WriteMode.CREATE,
                {
                    "businesstype": "普通销售",
                    "typecode": "1",
                    "custcode": f"B{i % 100:06d}",
                    "deptcode": "01",
                    "date": "2026-11-20",
                    "entry": [
                        {**line, "rowno": 1},
                        {**line, "inventorycode": "000002", "rowno": 2},
                    ],
                },
                idempotency_key=f"bench-u8-o-{i:06d}",
            )
            for i in range(m)
        ]
        return len(await _write_all(u8.write, "saleorder", ops, 20))

    async def get() -> int:
        found = 0
        for start in range(0, len(ids), 50):
            found += len(await u8.get("customer", ids[start : start + 50]))
        return found

    return [
        await _measure(f"yonyou write customer create x{n} (1 call each)", pid, create),
        await _measure(f"yonyou write customer edit x{n} (1 call each)", pid, update),
        await _measure(f"yonyou write saleorder create x{m}, 2 lines", pid, orders),
        await _measure("yonyou read customer (500/page)", pid, lambda: _read(u8, "customer", 500)),
        await _measure(
            "yonyou read saleorder with lines (500/page + get each)",
            pid,
            lambda: _read(u8, "saleorder", 500),
        ),
        await _measure(f"yonyou get customer x{n} (1 call each)", pid, get),
    ]


async def main(records: int, orders: int) -> None:
    """Start the sandbox, run the steps, print a markdown table."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    limits = Limits(timeout_s=120, batch_size=50)
    with tempfile.TemporaryDirectory() as tmp:
        proc, ports = _start_sandbox(Path(tmp))
        try:
            async with httpx.AsyncClient(timeout=120) as http:
                b, u = ports["yonbip"], ports["yonyou"]
                bip = YonBipConnector(
                    YonBipSettings(
                        gateway_url=str(b["gateway_url"]),
                        token_url=str(b["token_url"]),
                        app_key=str(b["app_key"]),
                        app_secret=Secret.literal(str(b["app_secret"])),
                        limits=limits,
                    ),
                    http,
                )
                u8 = U8Connector(
                    U8Settings(
                        base_url=str(u["base_url"]),
                        from_account=str(u["from_account"]),
                        to_account=str(u["to_account"]),
                        app_key=str(u["app_key"]),
                        app_secret=Secret.literal(str(u["app_secret"])),
                        limits=limits,
                    ),
                    http,
                )
                await bip.check()  # warm: the token is not measured
                await u8.check()
                figures = await _bip_steps(bip, proc.pid, records, orders)
                figures += await _u8_steps(u8, proc.pid, records, orders)
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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=2000, help="customers to write")
    parser.add_argument("--orders", type=int, default=500, help="sales orders to write")
    args = parser.parse_args()
    asyncio.run(main(args.records, args.orders))
