"""Retention: how fast ``prune_jobs`` empties a large job history, on SQLite and PostgreSQL.

    python bench/retention.py [--jobs 200000] [--versions 10] [--backend sqlite,postgresql]

Fills the store with ``--jobs`` finished jobs (``--versions`` versions per record, each
job with one or two attempts, one in fifty dead with a discarded dead letter), all
finished 60 days ago, then prunes at 30 days and reports jobs/s, the number of batches
and the longest transaction (each batch of 5,000 jobs is one: how long a worker's write could
wait on SQLite). Figures go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from erpbridge.engine.enqueue import partition_of  # noqa: E402
from erpbridge.engine.retention import prune_jobs  # noqa: E402
from erpbridge.store import open_store  # noqa: E402
from erpbridge.store.schema import attempts, dead_letters, jobs  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=60)


def fill(store: sa.Engine, total: int, versions: int) -> None:
    """``total`` finished jobs, ``versions`` per record, in chunks of 10,000."""
    records = max(1, total // versions)
    next_id = 1
    for start in range(0, total, 10_000):
        job_rows, attempt_rows, letter_rows = [], [], []
        for n in range(start, min(total, start + 10_000)):
            record, version = f"R{n % records}", n // records
            at = OLD + timedelta(seconds=n)
            dead = n % 50 == 49
            job_rows.append(
                {
                    "id": next_id, "flow": "orders", "source_id": record,
                    "source_version": f"v{version}", "source_stamp": at, "kind": "upsert",
                    "trigger": "poll", "state": "dead" if dead else "done",
                    "partition": partition_of("orders", record), "attempts": 1,
                    "next_attempt_at": at, "created_at": at, "updated_at": at,
                }
            )  # fmt: skip
            for number in range(1, 2 + n % 2):
                attempt_rows.append(
                    {"job_id": next_id, "number": number, "started_at": at, "outcome": "updated"}
                )
            if dead:
                letter_rows.append(
                    {
                        "job_id": next_id, "flow": "orders", "source_id": record,
                        "error_class": "validation", "error_message": "bad", "state": "discarded",
                        "created_at": at, "resolved_at": at,
                    }
                )  # fmt: skip
            next_id += 1
        with store.begin() as conn:
            conn.execute(jobs.insert(), job_rows)
            conn.execute(attempts.insert(), attempt_rows)
            if letter_rows:
                conn.execute(dead_letters.insert(), letter_rows)
    if store.dialect.name == "postgresql":
        with store.begin() as conn:
            conn.execute(sa.text(f"SELECT setval('jobs_id_seq', {next_id})"))
            conn.execute(sa.text("ANALYZE"))


def measure(url: str, total: int, versions: int) -> None:
    store = open_store(url)
    fill(store, total, versions)
    marks: list[float] = []

    def mark() -> bool:
        marks.append(time.perf_counter())
        return False

    started = time.perf_counter()
    result = prune_jobs(store, older_than=timedelta(days=30), now=NOW, should_stop=mark)
    elapsed = time.perf_counter() - started
    longest = max((b - a for a, b in itertools.pairwise(marks)), default=0.0)
    with store.connect() as conn:
        left = conn.execute(sa.select(sa.func.count()).select_from(jobs)).scalar_one()
    store.dispose()
    print(
        f"{store.dialect.name:10} {total:>8} jobs ({versions} versions/record): pruned "
        f"{result.jobs} jobs, {result.attempts} attempts, {result.dead_letters} dead letters "
        f"in {elapsed:.1f} s ({result.jobs / elapsed:,.0f} jobs/s), {len(marks) - 1} transactions, "
        f"longest {longest * 1000:.0f} ms; {left} jobs kept"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200_000)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--backend", default="sqlite,postgresql")
    args = parser.parse_args()
    for backend in args.backend.split(","):
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as folder:
                measure(f"sqlite:///{folder}/bench.db", args.jobs, args.versions)
            continue
        name = f"bench_retention_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            measure(sa.make_url(PG_ADMIN).set(database=name).render_as_string(False), args.jobs,
                    args.versions)  # fmt: skip
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
