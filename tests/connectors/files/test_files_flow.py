"""A files -> files flow through the real engine: intake commits, then the file moves."""

from __future__ import annotations

import json
import random
from pathlib import Path

import sqlalchemy as sa

from erpbridge.config import load_project_text
from erpbridge.engine.clock import ManualClock
from erpbridge.engine.intake import poll_flow
from erpbridge.engine.plans import build_plans
from erpbridge.engine.runtime import Runtime
from erpbridge.engine.worker import Worker
from erpbridge.spi import ConnectorRegistry
from erpbridge.store import open_store

PROJECT = """\
connections:
  drop:
    type: files
    root: {root}/drop
    objects:
      orders: {{glob: "*.csv", key: 订单号, ready: immediate, types: {{金额: decimal}}}}
  out:
    type: files
    root: {root}/out
    objects:
      orders: {{format: jsonl, pattern: "orders-{{batch}}-{{part}}.jsonl"}}
flows:
  orders-to-file:
    source: {{connection: drop, object: orders, trigger: {{poll: 1m}}, page_size: 10}}
    target: {{connection: out, object: orders, write: create, key: no}}
    map:
      no: source.订单号
      customer: source.客户
      amount: source.金额
"""


def _setup(tmp_path: Path, store_url: str) -> tuple[Runtime, sa.Engine, ManualClock]:
    registry = ConnectorRegistry()
    text = PROJECT.format(root=tmp_path)
    project = load_project_text(text, path=tmp_path / "erpbridge.yaml", registry=registry)
    clock = ManualClock()
    return Runtime(project, registry, clock), open_store(store_url), clock


def _written(tmp_path: Path) -> list[dict[str, object]]:
    out = []
    for path in sorted((tmp_path / "out").glob("orders-*.jsonl")):
        out += [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    return out


async def test_file_drop_flows_to_files_once_even_when_intake_stops_mid_file(
    tmp_path: Path, store_url: str
) -> None:
    (tmp_path / "drop").mkdir()
    (tmp_path / "out").mkdir()
    rows = "".join(f"SO-{i},客户{i},{i}.50\n" for i in range(25))
    (tmp_path / "drop" / "orders.csv").write_text("订单号,客户,金额\n" + rows, "gbk")
    runtime, store, clock = _setup(tmp_path, store_url)
    try:
        stopped = await poll_flow(store, runtime, "orders-to-file", clock, max_pages=1)
        still_there = (tmp_path / "drop" / "orders.csv").exists()
        rest = await poll_flow(store, runtime, "orders-to-file", clock)
        kept_until_next_poll = (tmp_path / "drop" / "orders.csv").exists()
        again = await poll_flow(store, runtime, "orders-to-file", clock)
        worker = Worker(
            store, runtime, build_plans(runtime.project), clock=clock, rng=random.Random(1)
        )
        while await worker.run_once():
            pass
    finally:
        store.dispose()

    assert stopped.queued == 10 and still_there
    assert (rest.queued, rest.duplicates) == (15, 10)
    assert kept_until_next_poll  # moved by the poll handed the cursor naming it
    assert again.queued == 0
    assert (tmp_path / "drop" / "done" / "orders.csv").exists()
    written = _written(tmp_path)
    assert sorted(str(r["no"]) for r in written) == sorted(f"SO-{i}" for i in range(25))
    assert {"no": "SO-3", "customer": "客户3", "amount": "3.50"} in written


KEPT = """\
connections:
  drop:
    type: files
    root: {root}/drop
    objects:
      orders: {{glob: "*.csv", key: 订单号, ready: immediate, after_read: keep, types: {{金额: decimal}}}}
  out:
    type: files
    root: {root}/out
    objects:
      orders: {{format: jsonl, pattern: "orders-{{batch}}-{{part}}.jsonl"}}
flows:
  orders-to-file:
    source: {{connection: drop, object: orders, trigger: {{file_drop: 30s}}, page_size: 10}}
    target: {{connection: out, object: orders, write: create, key: no}}
    map:
      no: source.订单号
      amount: source.金额
"""


async def _schedule_until(
    store: sa.Engine, runtime: Runtime, clock: ManualClock, jobs: int
) -> None:
    """Run the scheduler (file_drop: 30s polls at once) until ``jobs`` jobs are stored."""
    import asyncio

    from erpbridge.engine.metrics import Metrics
    from erpbridge.engine.scheduler import Scheduler

    stop = asyncio.Event()
    scheduler = Scheduler(store, runtime, build_plans(runtime.project), clock, Metrics())
    task = asyncio.create_task(scheduler.run(stop))
    try:
        async with asyncio.timeout(10):
            while True:
                with store.connect() as conn:
                    if conn.execute(sa.text("select count(*) from jobs")).scalar() >= jobs:
                        break
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await task


async def test_kept_file_drop_is_polled_by_the_scheduler_and_read_once_across_a_restart(
    tmp_path: Path, store_url: str
) -> None:
    (tmp_path / "drop").mkdir()
    (tmp_path / "out").mkdir()
    rows = "".join(f"SO-{i},{i}.50\n" for i in range(12)) + "SO-X,abc\n"
    (tmp_path / "drop" / "orders.csv").write_text("订单号,金额\n" + rows, "gbk")
    registry = ConnectorRegistry()
    project = load_project_text(
        KEPT.format(root=tmp_path), path=tmp_path / "erpbridge.yaml", registry=registry
    )
    clock = ManualClock()
    store = open_store(store_url)
    try:
        first = Runtime(project, registry, clock)
        await _schedule_until(store, first, clock, jobs=13)  # 12 records + 1 unreadable row
        await first.aclose()
        restarted = Runtime(project, registry, clock)  # a new process: only the store remains
        again = await poll_flow(store, restarted, "orders-to-file", clock)
        worker = Worker(store, restarted, build_plans(project), clock=clock, rng=random.Random(1))
        while await worker.run_once():
            pass
        await restarted.aclose()
        with store.connect() as conn:
            dead = conn.execute(sa.text("select error_message from dead_letters")).scalars().all()
    finally:
        store.dispose()

    assert (again.queued, again.duplicates) == (0, 0)  # the stored cursor lists the file
    assert sorted(p.name for p in (tmp_path / "drop").iterdir()) == ["orders.csv"]
    assert sorted(str(r["no"]) for r in _written(tmp_path)) == sorted(f"SO-{i}" for i in range(12))
    (message,) = dead
    assert "orders.csv (sha256 " in message and "row 14 column 金额" in message
