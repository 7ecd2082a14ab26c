"""Files connector throughput and memory: CSV and XLSX, read and written, 1,000,000 records.

Each step runs in its own process so its peak RSS is its own:

- ``csv-read``: a 1M-record CSV (5 columns, Chinese text, GB18030 so ``encoding: auto``
  has to scan the whole file before falling back from UTF-8) is dropped in a folder and
  read through ``read_changes`` in pages of 2000 (hash pass included), then moved to
  done/ by the next ``read_changes`` handed the last page's cursor (as the engine does);
- ``csv-write``: 1M records written through ``write()`` in calls of 10,000 ops (the
  engine's chunks), each call one atomic file;
- ``xlsx-read`` / ``xlsx-write``: the same with one .xlsx sheet (openpyxl read-only /
  write-only);
- ``sftp-csv-read`` / ``sftp-csv-write``: the CSV steps over SFTP, against an asyncssh
  SFTP server on 127.0.0.1 run in the same process and event loop (as the tests run it),
  password login, pinned host key: the read spools the file to a local temp copy first,
  the write uploads each file under a hidden name and renames it into place. The
  server's CPU and memory are counted in the step's.

The input files are made before the timed part (not counted). Run:
``.venv/bin/python bench/files.py [--records 1000000] [--only csv-read,xlsx-read]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncssh
import structlog

from erpbridge.connectors.files import FilesConnector, FilesSettings
from erpbridge.spi.records import WriteMode, WriteOp
from erpbridge.spi.secrets import Secret

STEPS = ("csv-read", "csv-write", "xlsx-read", "xlsx-write", "sftp-csv-read", "sftp-csv-write")
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


_SFTP_PASSWORD = "bench-pass"  # noqa: S105 - a throwaway server on 127.0.0.1


class _SftpLogin(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == "bench" and password == _SFTP_PASSWORD


@contextlib.asynccontextmanager
async def _sftp_server(root: Path) -> AsyncIterator[dict[str, object]]:
    """An SFTP server on 127.0.0.1 chrooted to ``root``; yields the connection settings."""
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    server = await asyncssh.listen(
        "127.0.0.1",
        0,
        server_host_keys=[host_key],
        server_factory=_SftpLogin,
        sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=str(root)),
    )
    try:
        yield {
            "location": "sftp",
            "root": "/",
            "host": "127.0.0.1",
            "port": server.sockets[0].getsockname()[1],
            "username": "bench",
            "password": Secret.literal(_SFTP_PASSWORD),
            "host_key": host_key.export_public_key().decode().strip(),
        }
    finally:
        server.close()
        await server.wait_closed()


def _connector(root: Path, fmt: str, remote: dict[str, object] | None = None) -> FilesConnector:
    where: dict[str, object] = remote or {"root": str(root)}
    settings = FilesSettings.model_validate(
        {
            **where,
            "objects": {
                "orders": {"glob": f"*.{fmt}", "format": fmt, "ready": "immediate", "key": "单号"}
            },
        }
    )
    return FilesConnector(settings)


async def _read(root: Path, fmt: str, sftp: bool = False) -> int:
    if sftp:
        async with _sftp_server(root) as remote:
            return await _read_with(root, fmt, _connector(root, fmt, remote))
    return await _read_with(root, fmt, _connector(root, fmt))


async def _read_with(root: Path, fmt: str, conn: FilesConnector) -> int:
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


async def _write(root: Path, fmt: str, count: int, sftp: bool = False) -> int:
    if sftp:
        async with _sftp_server(root) as remote:
            return await _write_with(fmt, count, remote)
    return await _write_with(fmt, count, {"root": str(root)})


async def _write_with(fmt: str, count: int, where: dict[str, object]) -> int:
    settings = FilesSettings.model_validate(
        {**where, "objects": {"orders": {"folder": "out", "format": fmt, "roll_records": CALL}}}
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
    sftp = step.startswith("sftp-")
    fmt, action = step.removeprefix("sftp-").split("-")
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
            done = asyncio.run(_read(root, fmt, sftp))
        else:
            done = asyncio.run(_write(root, fmt, count, sftp))
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
