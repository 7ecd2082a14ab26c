"""Files connector throughput and memory: CSV and XLSX, read and written, 1,000,000 records.

Each step runs in its own process so its peak RSS is its own:

- ``csv-read``: a 1M-record CSV (5 columns, Chinese text, GB18030 so ``encoding: auto``
  has to scan the whole file before falling back from UTF-8) is dropped in a folder and
  read through ``read_changes`` in pages of 2000 (hash pass included), then moved to
  done/ by the next ``read_changes`` handed the last page's cursor (as the engine does);
- ``csv-write``: 1M records written through ``write()`` in calls of 10,000 ops (the
  engine's chunks), each call one atomic file;
- ``xlsx-read`` / ``xlsx-write``: the same with one .xlsx sheet (openpyxl read-only /
  write-only).

The input files are made before the timed part (not counted). Run:
``.venv/bin/python bench/files.py [--records 1000000] [--only csv-read,xlsx-read]``
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import structlog

from erpbridge.connectors.files import FilesConnector, FilesSettings
from erpbridge.spi.records import WriteMode, WriteOp

STEPS = ("csv-read", "csv-write", "xlsx-read", "xlsx-write")
COLUMNS = ("单号", "客户名称", "金额", "日期", "备注")
CALL = 10_000


def _row(i: int) -> list[object]:
    return [f"SO-{i:08d}", f"华北机械有限公司{i % 997}", f"{i % 100000}.25", "2026-11-25", "含税价"]


def _rows(count: int) -> Iterator[list[object]]:
    for i in range(count):
        yield _row(i)


def make_csv(path: Path, count: int) -> None:
    """Write the input CSV in GB18030 (what Chinese Excel saves)."""
    with path.open("w", encoding="gb18030", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        writer.writerows(_rows(count))


def make_xlsx(path: Path, count: int) -> None:
    """Write the input sheet with openpyxl's write-only mode."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(list(COLUMNS))
    for row in _rows(count):
        sheet.append(row)
    book.save(path)


def _connector(root: Path, fmt: str) -> FilesConnector:
    settings = FilesSettings(
        root=str(root),
        objects={
            "orders": {"glob": f"*.{fmt}", "format": fmt, "ready": "immediate", "key": "单号"}
        },
    )
    return FilesConnector(settings)


async def _read(root: Path, fmt: str) -> int:
    conn = _connector(root, fmt)
    count = 0
    cursor = None
    async for page in conn.read_changes("orders", None, 2000):
        count += len(page.records)
        cursor = page.cursor or cursor
    # the next poll, handed the stored cursor, moves the committed file to done/
    async for page in conn.read_changes("orders", cursor, 2000):
        count += len(page.records)
    await conn.aclose()
    if not (root / "done" / f"input.{fmt}").exists():
        raise RuntimeError("the input file was not moved to done/")
    return count


async def _write(root: Path, fmt: str, count: int) -> int:
    settings = FilesSettings(
        root=str(root),
        objects={"orders": {"folder": "out", "format": fmt, "roll_records": CALL}},
    )
    conn = FilesConnector(settings)
    written = 0
    for start in range(0, count, CALL):
        ops = [
            WriteOp(
                WriteMode.CREATE,
                dict(zip(COLUMNS, _row(i), strict=True)),
                idempotency_key=f"bench:{i}:1",
                ref=str(i),
            )
            for i in range(start, min(count, start + CALL))
        ]
        written += len(await conn.write("orders", ops))
    await conn.aclose()
    return written


def run_step(step: str, count: int) -> dict[str, object]:
    """Run one step in this process; its figures as a dict."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    fmt, action = step.split("-")
    with tempfile.TemporaryDirectory(prefix="bench-files-") as tmp:
        root = Path(tmp)
        size = 0
        if action == "read":
            source = root / f"input.{fmt}"
            (make_csv if fmt == "csv" else make_xlsx)(source, count)
            size = source.stat().st_size
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started, cpu = time.perf_counter(), time.process_time()
        if action == "read":
            done = asyncio.run(_read(root, fmt))
        else:
            done = asyncio.run(_write(root, fmt, count))
            size = sum(p.stat().st_size for p in (root / "out").iterdir())
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if done != count:
        raise RuntimeError(f"{step}: {done} records, expected {count}")
    return {
        "step": step,
        "records": done,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "rate": round(done / wall),
        "file_mb": round(size / 1e6, 1),
        "peak_rss_mb": round(rss / 1024, 1),
        "rss_before_mb": round(rss_before / 1024, 1),
    }


def main() -> int:
    """Run each step in a child process and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--only", default=",".join(STEPS))
    parser.add_argument("--step", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        print(json.dumps(run_step(args.step, args.records)))
        return 0
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {args.records:,} records"
    )
    print("| step | records/s | wall s | CPU s | file MB | peak RSS MB (before the step) |")
    print("|---|---:|---:|---:|---:|---:|")
    for step in args.only.split(","):
        out = subprocess.run(  # noqa: S603 - this very script
            [sys.executable, __file__, "--step", step, "--records", str(args.records)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        f = json.loads(out.strip().splitlines()[-1])
        print(
            f"| {f['step']} | {f['rate']:,} | {f['wall_s']} | {f['cpu_s']} | {f['file_mb']} "
            f"| {f['peak_rss_mb']} ({f['rss_before_mb']}) |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
