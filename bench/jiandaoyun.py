"""Jiandaoyun connector throughput against its simulator, in separate processes.

Starts ``erpbridge sandbox --only jiandaoyun`` as a child process (plain HTTP on loopback)
twice: once with the documented request-rate limits off (what the connector and simulator
cost) and once with them on (what a real tenant allows: 10 batch calls/s, 20 single
writes/s, 30 list calls/s, 50/s in all). In this process the connector:

- write: N creates through ``batch_create`` (100 per call, with transaction_id);
- read: ``read_changes`` over the whole 客户 form (data_id pages of 100, then stamp order);
- update: N updates with different data (``update`` per record) and N with the same data
  (``batch_update``, 100 per call);
- get / find: by id (``data/get`` per id) and by natural key (``in`` filters of 200);
- poll (limits off only): ``read_changes`` of 客户 from a cursor after which 10 records
  changed, 50 times (a steady poll of a large form: the simulator reads from the cursor's
  stamp on through a sorted index of ``updateTime``, as a database reads an indexed range).

Rate-limited ops are retried after the connector's ``retry_after_s`` as the engine does.
Reports records per second and CPU seconds of each process.

Run: ``.venv/bin/python bench/jiandaoyun.py [--records 5000] [--limited-records 1000]``
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
from datetime import datetime, timedelta
from pathlib import Path

import structlog
from _measure import poll

from erpbridge.connectors.jiandaoyun import JiandaoyunConnector, JiandaoyunSettings
from erpbridge.spi.errors import RateLimitedError
from erpbridge.spi.records import WriteMode, WriteOp, WriteResult
from erpbridge.spi.secrets import Secret
from erpbridge.spi.settings import Limits

CUSTOMER = "客户"


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
        return (
            f"| {self.name} | {self.records} | {self.wall_s:.2f} | "
            f"{self.records / self.wall_s:,.0f} | {self.sim_cpu_s:.2f} | {self.client_cpu_s:.2f} |"
        )


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def _start_sandbox(
    workdir: Path, *, limits: bool
) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    ports = workdir / "sandbox.json"
    exe = Path(sys.executable).with_name("erpbridge")
    env = {**os.environ, "ERPBRIDGE_JIANDAOYUN_RATE_LIMITS": "on" if limits else "off"}
    proc = subprocess.Popen(  # noqa: S603 - our own command
        [
            str(exe),
            "sandbox",
            "--only",
            "jiandaoyun",
            "--ports-file",
            str(ports),
            "--data-dir",
            str(workdir / "data"),
        ],
        stdout=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + 60
    while not ports.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("sandbox did not start")
        time.sleep(0.05)
    return proc, json.loads(ports.read_text())["jiandaoyun"]


def _connector(entry: dict[str, str]) -> JiandaoyunConnector:
    settings = JiandaoyunSettings(
        base_url=entry["base_url"],
        api_key=Secret.literal(entry["api_key"]),
        app_id=entry["app_id"],
        push_secret=Secret.literal(entry["push_secret"]),
        natural_keys={CUSTOMER: "客户编号"},
        limits=Limits(timeout_s=60, concurrency=4),
    )
    return JiandaoyunConnector(settings)


async def _measure(name: str, sim_pid: int, step: Callable[[], Awaitable[int]]) -> Figure:
    sim0, cpu0, t0 = _proc_cpu_s(sim_pid), time.process_time(), time.perf_counter()
    records = await step()
    return Figure(
        name,
        records,
        time.perf_counter() - t0,
        time.process_time() - cpu0,
        _proc_cpu_s(sim_pid) - sim0,
    )


async def _write_all(
    connector: JiandaoyunConnector, ops: Sequence[WriteOp], chunk: int
) -> list[WriteResult]:
    """Write in chunks; retry rate-limited ops after the hint (the engine's job)."""
    results: dict[str, WriteResult] = {}
    pending = list(ops)
    while pending:
        batch, pending = pending[:chunk], pending[chunk:]
        answers = await connector.write(CUSTOMER, batch)
        retry = [
            op
            for op, r in zip(batch, answers, strict=True)
            if isinstance(r.error, RateLimitedError)
        ]
        results.update({r.ref: r for r in answers if not isinstance(r.error, RateLimitedError)})
        if retry:
            await asyncio.sleep(
                max(
                    e.error.retry_after_s or 1.0
                    for e in answers
                    if isinstance(e.error, RateLimitedError)
                )
            )  # type: ignore[union-attr]
            pending = retry + pending
    failed = [r for r in results.values() if r.error is not None]
    if failed:
        raise SystemExit(f"{len(failed)} writes failed, first: {failed[0].error}")
    return [results[op.ref] for op in ops]


async def _patient(call: Callable[[], Awaitable[int]]) -> int:
    while True:
        try:
            return await call()
        except RateLimitedError as exc:
            await asyncio.sleep(exc.retry_after_s or 1.0)


async def _get(connector: JiandaoyunConnector, ids: Sequence[str]) -> int:
    """``get`` in slices of 25 ids, so a slice fits in one second's 30 data/get calls."""
    count = 0
    for start in range(0, len(ids), 25):
        part = ids[start : start + 25]
        count += await _patient(lambda part=part: _len(connector.get(CUSTOMER, part)))  # type: ignore[misc]
    return count


async def _read(connector: JiandaoyunConnector) -> int:
    count = 0
    async for page in connector.read_changes(CUSTOMER, None, page_size=500):
        count += len(page.records)
    return count


async def _last_stamp(connector: JiandaoyunConnector) -> datetime:
    """The latest ``updateTime`` of 客户. A cursor is taken from the simulator's stamps, not
    the clock: a write in the same millisecond as the one before is stamped 1 ms later, so
    after a fast run of writes the stamps are ahead of the clock."""
    cursor = None
    async for page in connector.read_changes(CUSTOMER, None, page_size=500):
        cursor = page.cursor
    if cursor is None:
        raise SystemExit("no records to poll")
    return cursor.stamp


async def _run(
    entry: dict[str, str], pid: int, n: int, label: str, *, limits: bool
) -> list[Figure]:
    connector = _connector(entry)
    await connector.describe()  # metadata is not measured
    creates = [
        WriteOp(
            WriteMode.CREATE,
            {"客户编号": f"BN{i:06d}", "客户名称": f"基准客户{i}有限公司", "信用额度": i},
            idempotency_key=f"bench-{label}-{i}",
            ref=str(i),
        )
        for i in range(n)
    ]
    figures: list[Figure] = []
    created: list[WriteResult] = []

    async def write() -> int:
        created.extend(await _write_all(connector, creates, 1000))
        return len(created)

    figures.append(
        await _measure(f"{label}: write create x{n} (batch_create, 100/call)", pid, write)
    )
    figures.append(
        await _measure(
            f"{label}: read_changes 客户 (all)", pid, lambda: _patient(lambda: _read(connector))
        )
    )
    ids = [str(r.target_id) for r in created]
    different = [
        WriteOp(WriteMode.UPDATE, {"信用额度": i + 1}, target_id=t, ref=str(i))
        for i, t in enumerate(ids)
    ]
    same = [
        WriteOp(WriteMode.UPDATE, {"客户状态": "冻结"}, target_id=t, ref=str(i))
        for i, t in enumerate(ids)
    ]
    figures.append(
        await _measure(
            f"{label}: write update x{n} (update per record)",
            pid,
            lambda: _count(_write_all(connector, different, 200)),
        )
    )
    figures.append(
        await _measure(
            f"{label}: write update x{n} (same data, batch_update)",
            pid,
            lambda: _count(_write_all(connector, same, 1000)),
        )
    )
    sample = ids[: min(n, 1000)]
    figures.append(
        await _measure(
            f"{label}: get x{len(sample)} (data/get per id)",
            pid,
            lambda: _get(connector, sample),
        )
    )
    keys = [f"BN{i:06d}" for i in range(len(sample))]
    figures.append(
        await _measure(
            f"{label}: find x{len(keys)} by 客户编号 (in, 200/call)",
            pid,
            lambda: _patient(lambda: _len(connector.find(CUSTOMER, "客户编号", keys))),
        )
    )
    if not limits:  # with them on, 50 polls in a row would only measure the rate limits
        since = await _last_stamp(connector) + timedelta(milliseconds=1)
        changed = [
            WriteOp(WriteMode.UPDATE, {"信用额度": -1}, target_id=t, ref=str(i))
            for i, t in enumerate(ids[:10])
        ]
        await _write_all(connector, changed, 200)  # 10 changed after the cursor
        figures.append(
            await _measure(
                f"{label}: poll 客户 x50, 10 changed of {n}+",
                pid,
                lambda: poll(connector, CUSTOMER, since, 50, 500),
            )
        )
    await connector.aclose()
    return figures


async def _count(results: Awaitable[list[WriteResult]]) -> int:
    return len(await results)


async def _len(records: Awaitable[Sequence[object]]) -> int:
    return len(await records)


async def main(records: int, limited_records: int) -> None:
    """Start the sandbox twice, run the steps, print a markdown table."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    figures: list[Figure] = []
    for limits, n, label in (
        (False, records, "limits off"),
        (True, limited_records, "documented limits"),
    ):
        if n <= 0:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            proc, entry = _start_sandbox(Path(tmp), limits=limits)
            try:
                figures += await _run(entry, proc.pid, n, label, limits=limits)
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
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=5000, help="records per step, limits off")
    parser.add_argument(
        "--limited-records", type=int, default=1000, help="records per step, documented limits"
    )
    args = parser.parse_args()
    asyncio.run(main(args.records, args.limited_records))
