"""End to end: Salesforce orders → hub → SAP sales orders → status back, each simulator in
its own process (``erpbridge sandbox --only …``).

    python bench/e2e.py [--store sqlite|postgresql] [--orders 2000] [--lines 5]
                        [--workers 0] [--profile FILE]
    python bench/e2e.py --latency [--rate 100] [--orders 1000] [--max-s 60]
    python bench/e2e.py --round-trip [--store …] [--orders 2000] [--poll-s 2]
                        [--hub-workers 1] [--worker-processes 0] [--max-s 300]
                        [--profile-sims DIR] [--timeline]

Throughput (the default): syncs the seeded CRM customers and products first and makes
``--orders`` Draft orders with ``--lines`` items each through Salesforce's REST API, then
activates them (not timed). Timed: ``orders-to-sap`` for those orders (read, xref
lookups, mapping with lines, natural-key lookup in SAP, ``$batch`` deep inserts, commit),
then ``orders-from-sap`` (SAP's number and status back onto the CRM order). ``--workers
0`` works in this process after the intake (one core); ``--workers N`` starts N worker
processes that work while this process takes the intake in. Reports orders/s, and CPU
seconds per order of the hub (this process and its workers) and of each simulator
process: on a busy machine the CPU figures are the stable ones.

Latency (``--latency``): the hub runs as ``erpbridge run`` in its own process; the
Salesforce simulator sends an outbound message to ``/hooks/salesforce`` for each order
change. Orders are activated at ``--rate`` per second, ``--group`` per REST call (10: a
call every 0.1 s at 100/s; one call per order is bounded by the simulator's durable
write per call on a busy disk); the latency of each order is from its activation request
to the sales order's creation stamp in SAP (``LastChangeDateTime``, milliseconds).
Bounded by ``--orders`` and ``--max-s``.

Round trip (``--round-trip``): both order flows at once, run by the engine's own hub
(scheduler polls every ``--poll-s``, worker loops) as ``erpbridge run`` runs them; reports
round trips per second (orders whose SAP status is on the Salesforce order, over the wall
time from the first activation taken in to the last status back) and CPU per round trip
of each process. ``--worker-processes N`` also starts N ``erpbridge worker`` processes
(the scale-out deployment: this process then takes the intake in, with ``--hub-workers``
worker loops of its own, 0 for none). Details in bench/_e2e_round_trip.py.

``--profile-sims DIR`` writes a cProfile of each simulator's timed part to
``DIR/<name>.prof`` (``ERPBRIDGE_SIM_PROFILE_DIR``, see erpbridge/sims/_common/profile.py).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import multiprocessing
import os
import resource
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _e2e_round_trip import round_trip, round_trip_polls  # noqa: E402
from _e2e_setup import (  # noqa: E402
    activate_orders,
    draft_orders,
    profile_sims,
    project_folder,
    simulators,
    store_url,
)
from _measure import proc_cpu_s  # noqa: E402

from erpbridge.config import load_project  # noqa: E402
from erpbridge.engine.clock import SystemClock  # noqa: E402
from erpbridge.engine.intake import sync_flow  # noqa: E402
from erpbridge.engine.plans import build_plans  # noqa: E402
from erpbridge.engine.runtime import Runtime  # noqa: E402
from erpbridge.engine.worker import Worker  # noqa: E402
from erpbridge.log import configure_logging  # noqa: E402
from erpbridge.store import open_store  # noqa: E402
from erpbridge.store.schema import jobs  # noqa: E402

#: the bench's limits: the template's (SAP 10 requests/s) are a production default that
#: by itself caps orders-to-sap near 450 orders/s (11 guarded calls per 500 orders).
LIMITS = {
    "sap": {"requests_per_s": 200, "concurrency": 4},
    "salesforce": {"requests_per_s": 200, "concurrency": 4},
}
_OPEN = ("queued", "running", "parked")


def _open_jobs(store: sa.Engine, flow: str) -> int:
    with store.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(jobs.c.flow == flow, jobs.c.state.in_(_OPEN))
            ).scalar_one()
        )


def _written(store: sa.Engine, flow: str) -> int:
    with store.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(
                    jobs.c.flow == flow, jobs.c.outcome.in_(("created", "updated"))
                )
            ).scalar_one()
        )


def _worker_process(
    project_path: str, flow: str, index: int, go: Any, intake_done: Any, out: Any
) -> None:
    """One worker process: work ``flow`` until the intake is done and no job is open."""

    async def work() -> float:
        project = load_project(Path(project_path))
        store = open_store(project.store_url(), migrate=False)
        runtime = Runtime(project)
        worker = Worker(
            store, runtime, build_plans(project), worker_id=f"bench:{index}", claim_size=500
        )
        try:
            go.wait()
            started = time.process_time()
            while True:
                if await worker.run_once() == 0:
                    if intake_done.is_set() and _open_jobs(store, flow) == 0:
                        break
                    await asyncio.sleep(0.02)
            return time.process_time() - started
        finally:
            await runtime.aclose()

    configure_logging(0)
    out.put(asyncio.run(work()))


async def _run_flow(
    store: sa.Engine,
    runtime: Runtime,
    plans: dict[str, Any],
    project_path: Path,
    flow: str,
    since: datetime | None,
    workers: int,
) -> tuple[float, float]:
    """Intake (sync since) and work ``flow``; returns (wall s, CPU s of worker processes)."""
    clock = SystemClock()
    if workers == 0:
        started = time.perf_counter()
        await sync_flow(store, runtime, flow, clock, since=since)
        worker = Worker(store, runtime, {flow: plans[flow]}, clock=clock, claim_size=500)
        while await worker.run_once():
            pass
        return time.perf_counter() - started, 0.0
    ctx = multiprocessing.get_context("spawn")
    go, done, out = ctx.Event(), ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_worker_process, args=(str(project_path), flow, i, go, done, out))
        for i in range(workers)
    ]
    for proc in procs:
        proc.start()
    await asyncio.sleep(3)  # the processes import and open the store before the clock starts
    started = time.perf_counter()
    go.set()
    await sync_flow(store, runtime, flow, clock, since=since)
    done.set()
    cpu = sum(await asyncio.to_thread(lambda: [out.get() for _ in procs]))
    for proc in procs:
        proc.join()
    return time.perf_counter() - started, cpu


async def throughput(
    args: argparse.Namespace, path: Path, entries: dict[str, Any], sims: dict[str, int]
) -> dict[str, Any]:
    project = load_project(path)
    store = open_store(project.store_url())
    runtime = Runtime(project)
    plans = build_plans(project)
    try:
        for flow in ("customers-to-sap", "products-to-sap"):
            await _run_flow(store, runtime, plans, path, flow, None, 0)
        salesforce = runtime.connector("salesforce")
        ids = await draft_orders(store, salesforce, args.orders, args.lines)
        since = datetime.now(UTC) - timedelta(seconds=1)
        await activate_orders(salesforce, ids)
        out: dict[str, Any] = {
            "store": args.store,
            "orders": len(ids),
            "lines": args.lines,
            "workers": args.workers,
        }
        profile = cProfile.Profile() if args.profile else None
        if args.profile_sims:
            await profile_sims(entries, "start")
        for flow, label in (("orders-to-sap", "to_sap"), ("orders-from-sap", "back")):
            next_since = datetime.now(UTC) - timedelta(seconds=1)
            hub0, sim0 = time.process_time(), {n: proc_cpu_s(p) for n, p in sims.items()}
            if profile is not None:
                profile.enable()
            wall, worker_cpu = await _run_flow(
                store, runtime, plans, path, flow, since, args.workers
            )
            if profile is not None:
                profile.disable()
            hub = time.process_time() - hub0 + worker_cpu
            sim = {n: proc_cpu_s(p) - sim0[n] for n, p in sims.items()}
            written = _written(store, flow)
            out[f"{label}_orders"] = written
            out[f"{label}_orders_per_s"] = round(written / wall, 1)
            out[f"{label}_hub_cpu_ms_per_order"] = round(1000 * hub / written, 3)
            for name, seconds in sim.items():
                out[f"{label}_{name}_cpu_ms_per_order"] = round(1000 * seconds / written, 3)
            out[f"{label}_hub_cpu_share"] = round(hub / (hub + sum(sim.values())), 2)
            since = next_since
        if profile is not None:
            profile.dump_stats(args.profile)
        if args.profile_sims:
            await profile_sims(entries, "stop")
        out["hub_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        return out
    finally:
        await runtime.aclose()
        store.dispose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _outbound_to(entry: dict[str, Any], url: str) -> None:
    """Point the Salesforce simulator's outbound message for Order at ``url``."""
    verify = ssl.create_default_context(cafile=str(entry["ca_file"]))
    async with httpx.AsyncClient(verify=verify, timeout=30) as http:
        token = await http.post(
            f"{entry['base_url']}/services/oauth2/token",
            data={
                "grant_type": "password",
                "client_id": entry["client_id"],
                "client_secret": entry["client_secret"],
                "username": entry["username"],
                "password": entry["password"],
            },
        )
        token.raise_for_status()
        session = token.json()
        answer = await http.put(
            f"{session['instance_url']}/_sim/outbound",
            json=[{"url": url, "object": "Order", "fields": ["Id", "Status"]}],
            headers={"Authorization": f"Bearer {session['access_token']}"},
        )
        answer.raise_for_status()


async def latency(
    args: argparse.Namespace, path: Path, entries: dict[str, Any], sims: dict[str, int]
) -> dict[str, Any]:
    project = load_project(path)
    store = open_store(project.store_url())
    runtime = Runtime(project)
    plans = build_plans(project)
    hub = None
    try:
        for flow in ("customers-to-sap", "products-to-sap"):
            await _run_flow(store, runtime, plans, path, flow, None, 0)
        salesforce = runtime.connector("salesforce")
        count = min(args.orders, int(args.rate * args.max_s / 2))
        ids = await draft_orders(store, salesforce, count, args.lines)
        numbers = {r.id: str(r.fields["OrderNumber"]) for r in await salesforce.get("Order", ids)}
        port = _free_port()
        command = [sys.executable, "-m", "erpbridge.cli.main", "run", "--project", str(path)]
        command += ["--port", str(port), "--workers", str(args.hub_workers)]
        hub = subprocess.Popen(  # noqa: S603, ASYNC220 - our own CLI, started once
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        async with httpx.AsyncClient(timeout=5) as http:
            for _ in range(300):
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        await _outbound_to(entries["salesforce"], f"http://127.0.0.1:{port}/hooks/salesforce")
        hub0, sim0 = proc_cpu_s(hub.pid), {n: proc_cpu_s(p) for n, p in sims.items()}
        sent: dict[str, float] = {}
        started = time.time()

        async def activate(group: list[str]) -> None:
            at = time.time()
            sent.update(dict.fromkeys(group, at))
            await activate_orders(salesforce, group)

        tasks = []
        for n in range(0, len(ids), args.group):
            await asyncio.sleep(max(0.0, started + n / args.rate - time.time()))
            tasks.append(asyncio.create_task(activate(ids[n : n + args.group])))
        await asyncio.gather(*tasks)
        send_s = time.time() - started
        sap = runtime.connector("sap")
        keys = {f"SF-{numbers[i]}": i for i in ids}
        created: dict[str, float] = {}
        deadline = started + args.max_s
        while len(created) < len(keys) and time.time() < deadline:
            await asyncio.sleep(0.5)
            missing = [k for k in keys if keys[k] not in created]
            for record in await sap.find("A_SalesOrder", "PurchaseOrderByCustomer", missing):
                key = str(record.fields.get("PurchaseOrderByCustomer"))
                if key in keys and record.stamp is not None:
                    created[keys[key]] = record.stamp.timestamp()
        hub_cpu = proc_cpu_s(hub.pid) - hub0
        sim = {n: proc_cpu_s(p) - sim0[n] for n, p in sims.items()}
        waits = sorted(created[i] - sent[i] for i in created)
        q = statistics.quantiles(waits, n=100) if len(waits) > 1 else waits * 99
        out: dict[str, Any] = {
            "store": args.store,
            "orders": len(ids),
            "rate_asked": args.rate,
            "rate_sent": round(len(ids) / send_s, 1),
            "reached_sap": len(created),
            "p50_s": round(q[49], 3),
            "p90_s": round(q[89], 3),
            "p99_s": round(q[98], 3),
            "max_s": round(waits[-1], 3) if waits else None,
            "hub_cpu_share_of_a_core": round(hub_cpu / (time.time() - started), 2),
        }
        for name, seconds in sim.items():
            out[f"{name}_cpu_share_of_a_core"] = round(seconds / (time.time() - started), 2)
        return out
    finally:
        if hub is not None:
            hub.terminate()
            hub.wait(timeout=30)
        await runtime.aclose()
        store.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--lines", type=int, default=5)
    parser.add_argument("--workers", type=int, default=0, help="worker processes (0: inline)")
    parser.add_argument("--profile", help="cProfile the timed part of this process to FILE")
    parser.add_argument(
        "--profile-sims",
        help="cProfile each simulator's timed part to DIR/<name>.prof (not --latency)",
    )
    parser.add_argument("--latency", action="store_true", help="webhook -> SAP latency")
    parser.add_argument("--rate", type=float, default=100.0, help="orders/s (--latency)")
    parser.add_argument(
        "--max-s",
        type=float,
        default=None,
        help="time bound (--latency: 60, --round-trip: 300)",
    )
    parser.add_argument(
        "--round-trip", action="store_true", help="both order flows at once, by the hub"
    )
    parser.add_argument(
        "--poll-s", type=float, default=2.0, help="poll interval of both flows (--round-trip)"
    )
    parser.add_argument(
        "--overlap-s",
        type=float,
        default=None,
        help="cursor overlap of both flows (--round-trip; default: the template's, 5 s)",
    )
    parser.add_argument(
        "--group", type=int, default=10, help="orders activated per call (--latency)"
    )
    parser.add_argument(
        "--hub-workers", type=int, default=1, help="worker loops (--latency, --round-trip)"
    )
    parser.add_argument(
        "--timeline", action="store_true", help="print each poll of both flows (--round-trip)"
    )
    parser.add_argument(
        "--worker-processes",
        type=int,
        default=0,
        help="also start N `erpbridge worker` processes (--round-trip)",
    )
    parser.add_argument(
        "--template-limits", action="store_true", help="keep the template's rate limits"
    )
    args = parser.parse_args()
    if args.latency and args.round_trip:
        parser.error("--latency and --round-trip are different runs: choose one")
    if args.max_s is None:
        args.max_s = 300.0 if args.round_trip else 60.0
    configure_logging(0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        admin = name = None
        profile_dir = Path(args.profile_sims) if args.profile_sims else None
        with simulators(folder, ["salesforce", "sap"], profile_dir=profile_dir) as (
            entries,
            pids,
        ):
            try:
                url, admin, name = store_url(args.store, folder)
                os.environ["ERPBRIDGE_DB_URL"] = url
                flows = ["customers-to-sap", "products-to-sap", "orders-to-sap"]
                path = project_folder(
                    folder,
                    entries,
                    limits={} if args.template_limits else LIMITS,
                    flows=flows if args.latency else None,
                    polls=round_trip_polls(args) if args.round_trip else None,
                )
                sims = dict(zip(["salesforce", "sap"], pids, strict=True))
                if args.latency:
                    result = asyncio.run(latency(args, path, entries, sims))
                elif args.round_trip:
                    result = asyncio.run(round_trip(args, path, entries, sims))
                else:
                    result = asyncio.run(throughput(args, path, entries, sims))
                print(result, flush=True)
            finally:
                if admin is not None and name is not None:
                    with admin.connect() as conn:
                        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return 0


if __name__ == "__main__":
    sys.exit(main())
