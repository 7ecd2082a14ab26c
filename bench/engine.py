"""Engine throughput: intake -> worker -> no-op target -> commit, on SQLite and PostgreSQL.

    python bench/engine.py [--jobs 20000] [--batch 1,100,1000] [--backend sqlite,postgresql]
                           [--workers 1] [--queue-growth 0] [--again]

Reports jobs/s for intake, for work, and end to end, p50/p99 intake-to-done latency and
peak RSS. ``--queue-growth N`` also queues N jobs first and reports RSS while they wait,
to show memory stays flat as the queue grows. ``--again`` then sends every record a
second time (version 2: half of them unchanged, which the echo check drops, half with a
new name, which are updated) and reports that pass too: the xref and echo lookups and the
updates. Figures go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _measure import proc_cpu_s  # noqa: E402

from erpbridge.config import load_project_text  # noqa: E402
from erpbridge.engine.clock import SystemClock  # noqa: E402
from erpbridge.engine.intake import intake_changes  # noqa: E402
from erpbridge.engine.jobs import Trigger  # noqa: E402
from erpbridge.engine.plans import build_plans  # noqa: E402
from erpbridge.engine.runtime import Runtime  # noqa: E402
from erpbridge.engine.worker import Worker  # noqa: E402
from erpbridge.spi import (  # noqa: E402
    Change,
    ConnectionSettings,
    ConnectorRegistry,
    ConnectorSpec,
    Limits,
    Record,
    WriteOp,
    WriteOutcome,
    WriteResult,
)
from erpbridge.store import open_store  # noqa: E402
from erpbridge.store.schema import jobs as jobs_table  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
#: the PostgreSQL backends' CPU of the last in-process work phase (read before disposal).
_WORK_PG_CPU: list[float] = []


class NoopTarget:
    """Accepts every write at once; finds nothing."""

    system = "noop"

    def __init__(self, batch: int) -> None:
        self.limits = Limits(concurrency=8, batch_size=batch)

    async def check(self):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    async def find(self, object: str, key_field: str, values: Sequence[object]) -> list[Record]:
        return []

    async def get(self, object: str, ids: Sequence[str]) -> list[Record]:
        return []

    async def write(self, object: str, ops: Sequence[WriteOp]) -> list[WriteResult]:
        return [
            WriteResult(ref=op.ref, outcome=WriteOutcome.UPDATED, target_id=op.target_id)
            if op.target_id
            else WriteResult(ref=op.ref, outcome=WriteOutcome.CREATED, target_id=f"T{op.ref}")
            for op in ops
        ]

    async def aclose(self) -> None:
        return None


PROJECT = """\
connections:
  src: {type: noop}
  dst: {type: noop}
flows:
  bench:
    entity: thing
    source: {connection: src, object: Thing, trigger: {webhook: true}}
    target: {connection: dst, object: Thing, write: upsert, key: Code, batch_size: BATCH}
    map:
      Code: source.Code
      Name: source.Name
      Amount: money(source.Amount, scale=2)
"""


def _registry() -> ConnectorRegistry:
    registry = ConnectorRegistry(builtin={}, use_entry_points=False)
    registry.register(
        ConnectorSpec(name="noop", settings=ConnectionSettings, create=lambda s, h: NoopTarget(1))
    )  # type: ignore[arg-type,return-value]
    return registry


def _changes(start: int, count: int, version: int = 1) -> list[Change]:
    """Records R<start>… at ``version``; at version 2 the odd ones have a new name."""
    stamp = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=version - 1)
    return [
        Change.of(
            Record(
                object="Thing",
                id=f"R{n}",
                fields={
                    "Code": f"C{n}",
                    "Name": f"客户 {n}" if version == 1 or n % 2 == 0 else f"客户 {n} 改",
                    "Amount": "1234.5",
                },
                version=str(version),
                stamp=stamp + timedelta(microseconds=n),
            )
        )
        for n in range(start, start + count)
    ]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _store_url(backend: str, tmp: Path) -> tuple[str, sa.Engine | None, str | None]:
    if backend == "sqlite":
        return f"sqlite:///{tmp / f'bench-{uuid.uuid4().hex[:6]}.db'}", None, None
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"erpbridge_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return (
        sa.make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False),
        admin,
        name,
    )


def _pg_cpu_s(url: str) -> float:
    """CPU seconds so far of the PostgreSQL backends connected to ``url``'s database.

    Backends live as long as their pooled connection, so read this before disposing the
    engines whose work it should count.
    """
    if not url.startswith("postgresql"):
        return 0.0
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            pids = conn.execute(
                sa.text(
                    "select pid from pg_stat_activity "
                    "where datname = current_database() and pid <> pg_backend_pid()"
                )
            ).scalars()
            return sum(_proc_cpu(int(pid)) for pid in pids)
    finally:
        engine.dispose()


def _proc_cpu(pid: int) -> float:
    try:
        return proc_cpu_s(pid)
    except OSError:  # the backend ended meanwhile
        return 0.0


def _work_process(url: str, batch: int, index: int) -> None:
    asyncio.run(_work(url, batch, 1, first=index))


async def _work(url: str, batch: int, workers: int, first: int = 0) -> float:
    project = load_project_text(
        PROJECT.replace("BATCH", str(batch)),
        path=Path("bench.yaml"),
        registry=_registry(),
        environ={},
    )
    target = NoopTarget(batch)
    runtime = Runtime(project, _registry(), connectors={"src": target, "dst": target})
    plans = build_plans(project)
    store = open_store(url, migrate=False)
    claim = max(batch, 200)
    pool = [
        Worker(store, runtime, plans, worker_id=f"b{i}", claim_size=claim) for i in range(workers)
    ]

    async def loop(worker: Worker) -> None:
        while await worker.run_once():
            pass

    started = time.perf_counter()
    await asyncio.gather(*(loop(w) for w in pool))
    elapsed = time.perf_counter() - started
    _WORK_PG_CPU.append(_pg_cpu_s(url))
    store.dispose()
    return elapsed


def _again(url: str, store: sa.Engine, jobs: int, batch: int) -> dict[str, object]:
    """Every record once more at version 2 (half unchanged, half renamed), worked by one
    worker: the pass that reads xrefs and echo hashes and updates."""
    clock = SystemClock()
    for start in range(0, jobs, max(batch, 1)):
        changes = _changes(start, min(max(batch, 1), jobs - start), version=2)
        intake_changes(store, ["bench"], changes, Trigger.WEBHOOK, clock)
    cpu0 = time.process_time()
    work_s = asyncio.run(_work(url, batch, 1))
    work_cpu = time.process_time() - cpu0
    with store.connect() as conn:
        outcomes = dict(
            conn.execute(
                sa.text(
                    "select outcome, count(*) from jobs where source_version = '2' group by outcome"
                )
            ).all()
        )
    return {
        "again_work_jobs_s": round(jobs / work_s),
        "again_work_cpu_us_per_job": round(1e6 * work_cpu / jobs, 1),
        "again_outcomes": outcomes,
    }


def run_one(
    backend: str, jobs: int, batch: int, workers: int, tmp: Path, again: bool = False
) -> dict[str, object]:
    url, admin, name = _store_url(backend, tmp)
    try:
        store = open_store(url)
        clock = SystemClock()
        started, cpu0 = time.perf_counter(), time.process_time()
        intake_batch = max(batch, 1)
        for start in range(0, jobs, intake_batch):
            intake_changes(
                store,
                ["bench"],
                _changes(start, min(intake_batch, jobs - start)),
                Trigger.WEBHOOK,
                clock,
            )
        intake_s, intake_cpu = time.perf_counter() - started, time.process_time() - cpu0
        intake_pg = _pg_cpu_s(url)
        cpu0 = time.process_time()
        if workers == 1:
            _WORK_PG_CPU.clear()
            work_s = asyncio.run(_work(url, batch, 1))
            work_cpu = time.process_time() - cpu0
            work_pg = max(0.0, sum(_WORK_PG_CPU) - intake_pg)  # the intake backend is idle
        else:  # worker processes share the queue (SKIP LOCKED on PostgreSQL)
            started = time.perf_counter()
            procs = [
                multiprocessing.Process(target=_work_process, args=(url, batch, i))
                for i in range(workers)
            ]
            for proc in procs:
                proc.start()
            for proc in procs:
                proc.join()
            work_s = time.perf_counter() - started
            work_cpu = work_pg = float("nan")  # other processes: not counted here
        with store.connect() as conn:
            done = conn.execute(
                sa.text("select count(*) from jobs where state = 'done'")
            ).scalar_one()
            latencies = sorted(
                (u - c).total_seconds()
                for c, u in conn.execute(
                    sa.select(jobs_table.c.created_at, jobs_table.c.updated_at)
                ).all()
            ) or [0.0]
        second = _again(url, store, jobs, batch) if again else {}
        store.dispose()
        q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [latencies[0]] * 99
        return {
            "backend": backend,
            "workers": workers,
            "batch": batch,
            "jobs": jobs,
            "done": done,
            "intake_jobs_s": round(jobs / intake_s),
            "work_jobs_s": round(jobs / work_s),
            "end_to_end_jobs_s": round(jobs / (intake_s + work_s)),
            "intake_cpu_us_per_job": round(1e6 * intake_cpu / jobs, 1),
            "intake_pg_cpu_us_per_job": round(1e6 * intake_pg / jobs, 1),
            "work_cpu_us_per_job": round(1e6 * work_cpu / jobs, 1),
            "work_pg_cpu_us_per_job": round(1e6 * work_pg / jobs, 1),
            "p50_s": round(q[49], 3),
            "p99_s": round(q[98], 3),
            "peak_rss_mb": round(_rss_mb(), 1),
            **second,
        }
    finally:
        if admin is not None and name is not None:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def _worker_rss(url: str, batch: int, jobs: int, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """Work ``jobs`` jobs from a large queue in a fresh process; report time and peak RSS."""

    async def go() -> float:
        project = load_project_text(
            PROJECT.replace("BATCH", str(batch)),
            path=Path("bench.yaml"),
            registry=_registry(),
            environ={},
        )
        target = NoopTarget(batch)
        runtime = Runtime(project, _registry(), connectors={"src": target, "dst": target})
        worker = Worker(
            open_store(url, migrate=False),
            runtime,
            build_plans(project),
            worker_id="g",
            claim_size=batch,
        )
        started = time.perf_counter()
        worked = 0
        while worked < jobs:
            n = await worker.run_once()
            if n == 0:
                break
            worked += n
        return time.perf_counter() - started

    elapsed = asyncio.run(go())
    queue.put((elapsed, _rss_mb()))


def queue_growth(sizes: Sequence[int], work: int, tmp: Path) -> None:
    """Peak RSS of a worker process that works ``work`` jobs while N others wait."""
    for size in sizes:
        url = f"sqlite:///{tmp / f'growth-{size}.db'}"
        store = open_store(url)
        clock = SystemClock()
        started = time.perf_counter()
        for start in range(0, size + work, 5000):
            intake_changes(
                store,
                ["bench"],
                _changes(start, min(5000, size + work - start)),
                Trigger.WEBHOOK,
                clock,
            )
        intake_s = time.perf_counter() - started
        store.dispose()
        results: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
        proc = multiprocessing.Process(target=_worker_rss, args=(url, 1000, work, results))
        proc.start()
        proc.join()
        elapsed, rss = results.get()
        print(
            {
                "queued": size + work,
                "intake_s": round(intake_s, 1),
                "worked": work,
                "work_jobs_s": round(work / elapsed),
                "worker_peak_rss_mb": round(rss, 1),
            },
            flush=True,
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--batch", default="1,100,1000")
    parser.add_argument("--backend", default="sqlite,postgresql")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--queue-growth",
        default="",
        help="e.g. 10000,100000,1000000: worker RSS with that many jobs queued (SQLite)",
    )
    parser.add_argument(
        "--again",
        action="store_true",
        help="then every record once more: half unchanged (echo check), half updated",
    )
    args = parser.parse_args()
    if args.queue_growth:
        with tempfile.TemporaryDirectory() as tmp:
            queue_growth([int(n) for n in args.queue_growth.split(",")], 20000, Path(tmp))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backend.split(","):
            for batch in (int(b) for b in args.batch.split(",")):
                jobs = min(args.jobs, 2000) if batch == 1 else args.jobs
                result = run_one(backend, jobs, batch, args.workers, Path(tmp), args.again)
                print(result, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
