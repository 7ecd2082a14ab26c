"""What the connector benchmarks share: one measured step with its CPU split.

Not a benchmark itself (``run_all.py`` skips files starting with ``_``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from erpbridge.spi.connector import Connector
from erpbridge.spi.records import Cursor

__all__ = ["Figure", "measure", "poll", "proc_cpu_s", "server_cpu_s", "server_cpu_since"]


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
        rate = self.records / self.wall_s
        return (
            f"| {self.name} | {self.records} | {self.wall_s:.2f} | {rate:,.0f} | "
            f"{self.sim_cpu_s:.2f} ({self.sim_cpu_s / cpu:.0%}) | "
            f"{self.client_cpu_s:.2f} ({self.client_cpu_s / cpu:.0%}) |"
        )


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def server_cpu_s(name: str = "postgres") -> dict[int, float]:
    """pid -> CPU seconds so far of every process named ``name`` (a local database server:
    its backends and its background writers), for :func:`server_cpu_since`."""
    out: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() == name:
                out[int(entry.name)] = proc_cpu_s(int(entry.name))
        except OSError:  # it ended meanwhile
            continue
    return out


def server_cpu_since(before: dict[int, float], name: str = "postgres") -> float:
    """CPU seconds the server's processes used since ``before`` (:func:`server_cpu_s`);
    a backend that started since counts whole, one that ended since is not counted."""
    now = server_cpu_s(name)
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in now.items())


async def measure(name: str, sim_pid: int, step: Callable[[], Awaitable[int]]) -> Figure:
    sim0, cpu0, t0 = proc_cpu_s(sim_pid), time.process_time(), time.perf_counter()
    records = await step()
    return Figure(
        name,
        records,
        time.perf_counter() - t0,
        time.process_time() - cpu0,
        proc_cpu_s(sim_pid) - sim0,
    )


async def poll(connector: Connector, obj: str, since: datetime, times: int, page_size: int) -> int:
    """``times`` incremental reads of ``obj`` from a cursor at ``since`` (no overlap): a
    steady poll, which should cost what changed since, not the size of the table."""
    count = 0
    for _ in range(times):
        cursor = Cursor(stamp=since, overlap=timedelta(0))
        async for page in connector.read_changes(obj, cursor, page_size=page_size):
            count += len(page.records)
    return count
