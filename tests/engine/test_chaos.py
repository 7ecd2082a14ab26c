"""Chaos: worker processes SIGKILLed at random while duplicate and out-of-order webhooks
arrive and the target fails, throttles and loses answers. At the end every record is in
the target exactly once at its latest version, no change is lost, the only dead letters
are the records made invalid on purpose, and the xref is complete.

Bounded: a fixed number of records, a deadline of about a minute per backend.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from erpbridge.engine.clock import SystemClock
from erpbridge.engine.intake import intake_changes
from erpbridge.engine.jobs import Trigger
from erpbridge.spi import Change, Record
from erpbridge.store import open_store
from tests.engine.tablesys import items
from tests.engine.tablesys import metadata as target_metadata

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 1, tzinfo=UTC)
pytestmark = pytest.mark.slow


def _changes(count: int, rng: random.Random) -> tuple[list[Change], dict[str, int], set[str]]:
    latest: dict[str, int] = {}
    invalid = set()
    changes = []
    for n in range(count):
        key = f"K{n:05d}"
        bad = n % 97 == 13
        if bad:
            invalid.add(key)
        versions = rng.randint(1, 3)
        latest[key] = versions
        for version in range(1, versions + 1):
            name = "INVALID" if bad else f"item {n} v{version}"
            fields = {"Key": key, "Version": version, "Name": name}
            stamp = T0 + timedelta(seconds=version)
            record = Record(object="Item", id=key, fields=fields, version=str(version), stamp=stamp)
            changes.append(Change.of(record))
    return changes, latest, invalid


def _deliveries(changes: list[Change], rng: random.Random) -> list[list[Change]]:
    shuffled = changes[:]
    rng.shuffle(shuffled)  # out of order: a version 1 may come after its version 3
    batches = [shuffled[i : i + 25] for i in range(0, len(shuffled), 25)]
    duplicates = [rng.choice(batches) for _ in range(len(batches) // 5)]  # re-sent deliveries
    all_batches = batches + duplicates
    rng.shuffle(all_batches)
    return all_batches


class Workers:
    def __init__(self, store_url: str, target_url: str, count: int) -> None:
        self.store_url, self.target_url = store_url, target_url
        self.procs: list[subprocess.Popen[bytes]] = []
        self.seed = 0
        self.kills = 0
        for _ in range(count):
            self.procs.append(self._start())

    def _start(self) -> subprocess.Popen[bytes]:
        self.seed += 1
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        return subprocess.Popen(  # noqa: S603 - our own module
            [
                sys.executable,
                "-m",
                "tests.engine.chaos_worker",
                self.store_url,
                self.target_url,
                str(self.seed),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def kill_one(self, rng: random.Random) -> None:
        index = rng.randrange(len(self.procs))
        self.procs[index].send_signal(signal.SIGKILL)
        self.procs[index].wait()
        self.kills += 1
        self.procs[index] = self._start()

    def stop(self) -> list[str]:
        errors = []
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                errors.append("a worker ignored SIGTERM")
            # A worker started by the last kill_one may get SIGTERM while still importing,
            # before it installs its handler: it dies of the signal having claimed nothing.
            if proc.returncode not in (0, None, -signal.SIGTERM) and proc.stderr is not None:
                errors.append(proc.stderr.read().decode(errors="replace")[-2000:])
        return errors


def _open_jobs(store: sa.Engine) -> int:
    with store.connect() as conn:
        return int(
            conn.execute(
                sa.text("select count(*) from jobs where state in ('queued','running','parked')")
            ).scalar_one()
        )


def test_chaos_nothing_lost_nothing_duplicated(store_url: str, tmp_path: Path) -> None:
    is_pg = store_url.startswith("postgresql")
    count, worker_count = (1200, 3) if is_pg else (400, 1)
    target_url = store_url if is_pg else f"sqlite:///{tmp_path / 'target.db'}"
    store = open_store(store_url)
    target = sa.create_engine(target_url)
    target_metadata.create_all(target)
    rng = random.Random(20261125)
    changes, latest, invalid = _changes(count, rng)
    deliveries = _deliveries(changes, rng)
    clock = SystemClock()
    workers = Workers(store_url, target_url, worker_count)
    deadline = time.monotonic() + 90
    try:
        kill_at = set(rng.sample(range(len(deliveries)), 8))
        for index, delivery in enumerate(deliveries):
            intake_changes(store, ["items"], delivery, Trigger.WEBHOOK, clock)
            time.sleep(0.01)
            if index in kill_at:
                workers.kill_one(rng)
        for _ in range(3):  # a few more kills while the queue drains
            time.sleep(rng.uniform(0.2, 0.6))
            workers.kill_one(rng)
        while _open_jobs(store) and time.monotonic() < deadline:
            time.sleep(0.25)
    finally:
        errors = workers.stop()
    assert errors == []
    assert _open_jobs(store) == 0, "the queue did not drain before the deadline"
    assert workers.kills == 11

    with store.connect() as conn:
        fed = {(c.record_id, c.version) for c in changes}
        stored = {
            (r[0], r[1])
            for r in conn.execute(sa.text("select source_id, source_version from jobs"))
        }
        dead = {
            r[0]: r[1]
            for r in conn.execute(sa.text("select source_id, error_class from dead_letters"))
        }
        xrefs = int(
            conn.execute(sa.text("select count(*) from xref where entity = 'item'")).scalar_one()
        )
    with target.connect() as conn:
        rows = conn.execute(
            sa.select(items.c.key, sa.func.count(), sa.func.max(items.c.version)).group_by(
                items.c.key
            )
        ).all()
    in_target = {key: (n, version) for key, n, version in rows}

    assert fed <= stored, "a change was lost"
    duplicates = {k: n for k, (n, _) in in_target.items() if n != 1}
    assert duplicates == {}, f"records written more than once: {list(duplicates)[:5]}"
    valid = {k: v for k, v in latest.items() if k not in invalid}
    assert {k: v for k, (_, v) in in_target.items()} == valid, (
        "a record is missing or not at its latest version"
    )
    assert set(dead) == invalid and set(dead.values()) == {"validation"}
    assert xrefs == len(valid)
