"""Changes a flow's ``when:`` skips: what they cost from intake to their end.

    python bench/filtered.py [--records 20000] [--skipped 0.5] [--page 500]
                             [--backend sqlite,postgresql]

Takes ``--records`` changes in by webhook, with the record (pages of ``--page``), of which
the share ``--skipped`` fails the flow's ``when:`` (a draft order), then works the queue
with one worker against a target that accepts every write (bench/engine.py's no-op
connector). Reports, per backend, the CPU of this process and of the PostgreSQL backends
for the intake and for the work, in µs per record, the jobs the worker claimed, and the
outcomes. Since intake judges ``when:`` on the change's snapshot (engine/enqueue.py), the
skipped changes end as they are taken in and the worker claims only the others; run it
with ``PYTHONPATH`` to an older ``src/`` to compare (docs/performance.md, "Engine").
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from engine import NoopTarget, _pg_cpu_s, _registry, _store_url  # noqa: E402
from erpbridge.config import load_project_text  # noqa: E402
from erpbridge.engine.clock import SystemClock  # noqa: E402
from erpbridge.engine.intake import intake_changes  # noqa: E402
from erpbridge.engine.jobs import Trigger  # noqa: E402
from erpbridge.engine.plans import build_plans  # noqa: E402
from erpbridge.engine.runtime import Runtime  # noqa: E402
from erpbridge.engine.worker import Worker  # noqa: E402
from erpbridge.spi import Change, Record  # noqa: E402
from erpbridge.store import open_store  # noqa: E402

PROJECT = """\
connections:
  src: {type: noop}
  dst: {type: noop}
flows:
  bench:
    entity: order
    source: {connection: src, object: Order, trigger: {webhook: true}}
    target: {connection: dst, object: SalesOrder, write: upsert, key: Code, batch_size: 200}
    when: source.Status == "Activated"
    map:
      Code: source.OrderNumber
      Name: source.Name
      Amount: money(source.Amount, scale=2)
"""


def _changes(start: int, count: int, skipped: float) -> list[Change]:
    """Orders O<start>…; every order whose number falls in the ``skipped`` share is a draft."""
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    every = round(1 / skipped) if skipped else 0
    return [
        Change.of(
            Record(
                object="Order",
                id=f"O{n}",
                fields={
                    "OrderNumber": f"PO-{n:07d}",
                    "Name": f"订单 {n}",
                    "Amount": "1234.5",
                    "Status": "Draft" if every and n % every == 0 else "Activated",
                    "Description": "x" * 200,
                },
                version="1",
                stamp=stamp + timedelta(microseconds=n),
            )
        )
        for n in range(start, start + count)
    ]


async def _work(store: sa.Engine, runtime: Runtime) -> int:
    worker = Worker(store, runtime, build_plans(runtime.project), worker_id="b1", claim_size=200)
    claimed = 0
    while n := await worker.run_once():
        claimed += n
    return claimed


def run_one(backend: str, records: int, skipped: float, page: int, tmp: Path) -> dict[str, object]:
    url, admin, name = _store_url(backend, tmp)
    try:
        project = load_project_text(
            PROJECT, path=tmp / "bench.yaml", registry=_registry(), environ={}
        )
        target = NoopTarget(200)
        runtime = Runtime(project, _registry(), connectors={"src": target, "dst": target})
        content = {"bench": runtime.content_key("bench")}
        store = open_store(url)
        clock = SystemClock()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for start in range(0, records, page):
            changes = _changes(start, min(page, records - start), skipped)
            intake_changes(store, ["bench"], changes, Trigger.WEBHOOK, clock, content=content)
        intake_cpu, intake_wall = time.process_time() - cpu0, time.perf_counter() - wall0
        intake_pg = _pg_cpu_s(url)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        claimed = asyncio.run(_work(store, runtime))
        work_cpu, work_wall = time.process_time() - cpu0, time.perf_counter() - wall0
        work_pg = max(0.0, _pg_cpu_s(url) - intake_pg)
        with store.connect() as conn:
            outcomes = dict(
                conn.execute(
                    sa.text("select coalesce(outcome, state), count(*) from jobs group by 1")
                ).all()
            )
        store.dispose()

        def us(seconds: float) -> float:
            return round(1e6 * seconds / records, 1)

        return {
            "backend": backend,
            "records": records,
            "skipped_share": skipped,
            "claimed": claimed,
            "outcomes": outcomes,
            "intake_cpu_us": us(intake_cpu),
            "work_cpu_us": us(work_cpu),
            "postgresql_cpu_us": us(intake_pg + work_pg) if backend == "postgresql" else None,
            "total_cpu_us": us(intake_cpu + work_cpu + intake_pg + work_pg),
            "wall_s": round(intake_wall + work_wall, 2),
        }
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--skipped", type=float, default=0.5, help="share failing when:")
    parser.add_argument("--page", type=int, default=500)
    parser.add_argument("--backend", default="sqlite,postgresql")
    args = parser.parse_args()
    if not 0 <= args.skipped <= 1 or args.records < 1 or args.page < 1:
        parser.error("--skipped is a share (0 to 1); --records and --page at least 1")
    with tempfile.TemporaryDirectory() as folder:
        for backend in args.backend.split(","):
            print(run_one(backend.strip(), args.records, args.skipped, args.page, Path(folder)))


if __name__ == "__main__":
    main()
