"""bench/e2e.py ``--round-trip``: both order flows at once, run by the engine's own hub.

Not a benchmark itself (``run_all.py`` skips files starting with ``_``).

Setup (not timed) is the throughput mode's: customers and products synced, ``--orders``
Draft orders with ``--lines`` items made and activated through Salesforce's REST API.
The two flows' cursors are set to just before the activations (the drafts lie outside
the first poll's overlap window). Then :class:`~erpbridge.engine.hub.Hub` runs
``orders-to-sap`` and ``orders-from-sap`` as ``erpbridge run`` does (its scheduler polls
both flows every ``--poll-s``, ``--hub-workers`` worker loops), in this process: the
status-back flow polls SAP while orders are still being written, and the statuses
written back come round to ``orders-to-sap`` as echoes, which it drops.

Measured: round trips (orders whose SAP number and status are on the Salesforce order,
read back from Salesforce at the end) per second of wall time from the first activation
taken in (the first ``orders-to-sap`` job) to the last status back (the last
``orders-from-sap`` job that updated an order); and CPU per round trip of the hub (this
process, its monitoring queries included) and of each simulator process, over the whole
run until the echoes are worked.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from _e2e_setup import activate_orders, draft_orders, profile_sims
from _measure import proc_cpu_s, server_cpu_s, server_cpu_since

from erpbridge.config import Project, load_project
from erpbridge.engine.clock import SystemClock
from erpbridge.engine.hub import Hub
from erpbridge.engine.intake import sync_flow
from erpbridge.engine.plans import build_plans
from erpbridge.engine.runtime import Runtime
from erpbridge.engine.worker import Worker
from erpbridge.spi.records import Cursor
from erpbridge.store import open_store
from erpbridge.store.schema import cursors, jobs, runs

__all__ = ["FLOWS", "round_trip", "round_trip_polls"]

TO_SAP, BACK = "orders-to-sap", "orders-from-sap"
FLOWS = (TO_SAP, BACK)
_OPEN = ("queued", "running", "parked")


def round_trip_polls(args: argparse.Namespace) -> dict[str, dict[str, str]]:
    """The trigger keys the round trip sets on both flows (poll interval, overlap)."""
    values = {"poll": f"{args.poll_s}s"}
    if args.overlap_s is not None:
        values["overlap"] = f"{args.overlap_s}s"
    return {flow: dict(values) for flow in FLOWS}


@dataclass(frozen=True, slots=True)
class _Progress:
    """Where the two flows stand, from the store."""

    written: int  # orders created in SAP
    held: int  # orders held for credit (never sent)
    dead: int
    back: int  # orders whose status was written back
    open_jobs: int
    behind_hold: int  # open jobs of held orders (their flag's echo waits for the recheck)
    first_in: datetime | None
    last_back: datetime | None
    echo_polled: bool  # an orders-to-sap poll started after the last status back, and ended

    def is_done(self, orders: int) -> bool:
        return (
            self.written + self.held + self.dead >= orders
            and self.back >= self.written
            and self.open_jobs == 0
            and self.echo_polled
        )


#: the job's order is held: a held order's own flag write can come back as a version
#: queued behind the held job (it waits for the hold's recheck), not part of any round
#: trip, not waited for (asked of each job: an index probe, not a scan of the held ones)
_HELD = jobs.alias("held")
_OF_HELD_ORDER = (
    sa.select(_HELD.c.id)
    .where(
        _HELD.c.flow == TO_SAP,
        _HELD.c.source_id == jobs.c.source_id,
        _HELD.c.state == "held",
    )
    .exists()
)
#: open jobs of either flow
_IS_OPEN = sa.and_(jobs.c.flow.in_(FLOWS), jobs.c.state.in_(_OPEN))


def _progress(store: sa.Engine) -> _Progress:
    """Where the flows stand: one pass over the jobs (each figure a filter of one
    aggregate), not a scan per figure; the open counts read the state index."""

    def distinct(flow: str, *where: Any) -> Any:
        return sa.func.count(sa.distinct(jobs.c.source_id)).filter(jobs.c.flow == flow, *where)

    with store.connect() as conn:
        written, held, dead, back, first_in, last_back = conn.execute(
            sa.select(
                distinct(TO_SAP, jobs.c.outcome == "created"),
                distinct(TO_SAP, jobs.c.state == "held"),
                distinct(TO_SAP, jobs.c.state == "dead"),
                distinct(BACK, jobs.c.outcome == "updated"),
                sa.func.min(jobs.c.created_at).filter(jobs.c.flow == TO_SAP),
                sa.func.max(jobs.c.updated_at).filter(
                    jobs.c.flow == BACK, jobs.c.outcome == "updated"
                ),
            ).where(jobs.c.flow.in_(FLOWS))
        ).one()
        open_jobs = int(
            conn.execute(sa.select(sa.func.count()).where(_IS_OPEN, ~_OF_HELD_ORDER)).scalar_one()
        )
        behind_hold = int(
            conn.execute(sa.select(sa.func.count()).where(_IS_OPEN, _OF_HELD_ORDER)).scalar_one()
        )
        echo_polled = _echo_polled(conn, last_back)
    return _Progress(
        int(written),
        int(held),
        int(dead),
        int(back),
        open_jobs,
        behind_hold,
        first_in,
        last_back,
        echo_polled,
    )


def _echo_polled(conn: sa.Connection, last_back: datetime | None) -> bool:
    """An orders-to-sap poll started after the last status back, and ended."""
    if last_back is None:
        return False
    query = sa.select(runs.c.id).where(
        runs.c.flow == TO_SAP, runs.c.started_at > last_back, runs.c.finished_at.is_not(None)
    )
    return conn.execute(query.limit(1)).first() is not None


#: jobs read at a time by :meth:`_Tally.read`
_READ_ROWS = 500


class _Tally:
    """:class:`_Progress`'s figures while the hub works, read a little at a time.

    Each :meth:`read` reads only the jobs after the last one it counted, by the primary
    key, up to the first job still open (it and the jobs after it are read again next
    time): counted jobs have ended, and an ended job of this bench does not change (a
    held order stays held; a version queued behind it, waiting for the hold's recheck, is
    not waited for). So a read while the hub works costs a few rows, and the question
    "is any job open?" needs no scan of the state index, whose entries for ended jobs
    PostgreSQL keeps until a vacuum (3-6 ms a call without statistics, 62 calls a run).
    The full count, one pass over every job of the flows, cost the database 26-36 ms a
    call, a dozen calls or more a run: all of it in the figures the bench reports.
    """

    def __init__(self) -> None:
        self.after = 0  # the last job id counted
        self.written: set[str] = set()
        self.held: set[str] = set()
        self.dead: set[str] = set()
        self.back: set[str] = set()
        self.first_in: datetime | None = None
        self.last_back: datetime | None = None

    def read(self, store: sa.Engine) -> bool:
        """Count what ended since the last read; True while a job is still open."""
        c = jobs.c
        columns = (c.id, c.flow, c.source_id, c.state, c.outcome, c.created_at, c.updated_at)
        with store.connect() as conn:
            while True:
                query = sa.select(*columns).where(c.id > self.after).order_by(c.id)
                rows = conn.execute(query.limit(_READ_ROWS)).all()
                for id_, flow, source_id, state, outcome, created, updated in rows:
                    if state in _OPEN and flow in FLOWS and source_id not in self.held:
                        return True  # not ended: read again next time
                    self.after = id_  # (a version queued behind a held order is passed)
                    if flow == TO_SAP:
                        if self.first_in is None or created < self.first_in:
                            self.first_in = created
                        if outcome == "created":
                            self.written.add(source_id)
                        elif state in ("held", "dead"):
                            (self.held if state == "held" else self.dead).add(source_id)
                    elif flow == BACK and outcome == "updated":
                        self.back.add(source_id)
                        if self.last_back is None or updated > self.last_back:
                            self.last_back = updated
                if len(rows) < _READ_ROWS:
                    return False

    def progress(self, store: sa.Engine) -> _Progress:
        """The figures read so far, as :func:`_progress` gives them; asked after a
        :meth:`read` found no job open (jobs behind holds are not counted here)."""
        with store.connect() as conn:
            echo_polled = _echo_polled(conn, self.last_back)
        return _Progress(
            len(self.written),
            len(self.held),
            len(self.dead),
            len(self.back),
            0,
            0,
            self.first_in,
            self.last_back,
            echo_polled,
        )


def _start_workers(path: Path, count: int) -> list[subprocess.Popen[bytes]]:
    """``count`` ``erpbridge worker`` processes on the project (its store from the
    environment), started and past their imports before the clock starts."""
    procs = [
        subprocess.Popen(  # noqa: S603 - our own CLI, beside this interpreter
            [str(Path(sys.executable).with_name("erpbridge")), "worker", "--project", str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(count)
    ]
    for proc in procs:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "erpbridge: N flows, …" once it is ready
        if not line.startswith(b"erpbridge:"):
            _stop_workers(procs)
            raise RuntimeError(f"erpbridge worker did not start: {line!r}")
        # the rest of its output is read and dropped, so a full pipe never stops it
        threading.Thread(target=proc.stdout.read, daemon=True).start()
    return procs


def _stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _set_cursors(store: sa.Engine, project: Project, stamp: datetime) -> None:
    """Both flows read from ``stamp`` on (their first poll sees only the bench's orders)."""
    with store.begin() as conn:
        for flow in FLOWS:
            overlap = project.spec.flows[flow].source.trigger.overlap
            text = Cursor(stamp=stamp, last_id="", overlap=overlap).to_json()
            conn.execute(cursors.delete().where(cursors.c.flow == flow))
            conn.execute(cursors.insert().values(flow=flow, cursor=text, updated_at=stamp))


def _reads(store: sa.Engine, *, timeline: bool = False) -> dict[str, Any]:
    """Records read and polls run per flow (the overlap window re-reads records); with
    ``timeline``, each poll printed (flow, start and duration in seconds, read, queued,
    not queued)."""
    with store.connect() as conn:
        rows = conn.execute(
            sa.select(runs.c.flow, sa.func.sum(runs.c.read), sa.func.count())
            .where(runs.c.flow.in_(FLOWS), runs.c.trigger == "poll")
            .group_by(runs.c.flow)
        ).all()
        # the status written back, read again by orders-to-sap: done at intake (no
        # attempt: nothing new for the flow, engine/unchanged.py) or worked to an echo
        unchanged = sa.and_(jobs.c.flow == TO_SAP, jobs.c.outcome == "unchanged")
        echoes = conn.execute(
            sa.select(sa.func.count()).where(unchanged, jobs.c.attempts > 0)
        ).scalar_one()
        at_intake = conn.execute(
            sa.select(sa.func.count()).where(unchanged, jobs.c.attempts == 0)
        ).scalar_one()
        outcomes = conn.execute(
            sa.select(jobs.c.flow, jobs.c.state, jobs.c.outcome, sa.func.count())
            .where(jobs.c.flow.in_(FLOWS))
            .group_by(jobs.c.flow, jobs.c.state, jobs.c.outcome)
        ).all()
        if timeline:
            polls = conn.execute(
                sa.select(
                    runs.c.flow,
                    runs.c.started_at,
                    runs.c.finished_at,
                    runs.c.read,
                    runs.c.queued,
                    runs.c.duplicates,
                )
                .where(runs.c.flow.in_(FLOWS))
                .order_by(runs.c.started_at)
            ).all()
            t0 = polls[0][1] if polls else None
            for flow, st, fin, read, queued, dups in polls:
                print(
                    f"{flow:16} {(st - t0).total_seconds():7.2f} "
                    f"{((fin or st) - st).total_seconds():6.2f} read={read} q={queued} d={dups}"
                )
    out: dict[str, Any] = {"echo_jobs": int(echoes), "done_at_intake": int(at_intake)}
    out["jobs"] = {
        f"{'to_sap' if flow == TO_SAP else 'back'}:{state}:{outcome}": int(n)
        for flow, state, outcome, n in outcomes
    }
    for flow, read, polls in rows:
        label = "to_sap" if flow == TO_SAP else "back"
        out[f"{label}_polls"] = int(polls)
        out[f"{label}_records_read"] = int(read or 0)
    return out


async def _setup(store: sa.Engine, runtime: Runtime, project: Project, args: Any) -> list[str]:
    """Master data synced, the orders made and activated; returns the order ids."""
    plans = build_plans(project)
    clock = SystemClock()
    for flow in ("customers-to-sap", "products-to-sap"):
        await sync_flow(store, runtime, flow, clock)
        worker = Worker(store, runtime, {flow: plans[flow]}, clock=clock, claim_size=500)
        while await worker.run_once():
            pass
    salesforce = runtime.connector("salesforce")
    ids = await draft_orders(store, salesforce, args.orders, args.lines)
    # The drafts (and the totals their items moved) must fall outside the first poll's
    # overlap window: wait it out, then the cursors stand before the activations only.
    overlap = max(project.spec.flows[f].source.trigger.overlap for f in FLOWS)
    await asyncio.sleep(overlap.total_seconds() + 1)
    _set_cursors(store, project, datetime.now(UTC))
    await activate_orders(salesforce, ids)
    return ids


async def _statuses_on_orders(runtime: Runtime, ids: list[str]) -> int:
    """Orders whose SAP number and status are on the Salesforce order (read back)."""
    salesforce = runtime.connector("salesforce")
    found = 0
    for start in range(0, len(ids), 500):
        for record in await salesforce.get("Order", ids[start : start + 500]):
            if record.fields.get("ERP_SalesOrder__c") and record.fields.get("ERP_Status__c"):
                found += 1
    return found


async def round_trip(
    args: argparse.Namespace, path: Path, entries: dict[str, Any], sims: dict[str, int]
) -> dict[str, Any]:
    """Run the round trip; returns the figures (see the module docstring)."""
    project = load_project(path)
    store = open_store(project.store_url())
    runtime = Runtime(project)
    try:
        ids = await _setup(store, runtime, project, args)
        plans = build_plans(project)
        hub = Hub(project, store, runtime, {flow: plans[flow] for flow in FLOWS})
        stop = asyncio.Event()
        workers = _start_workers(path, args.worker_processes)
        if args.profile_sims:
            await profile_sims(entries, "start")
        profile = cProfile.Profile() if args.profile else None
        hub0, sim0 = time.process_time(), {n: proc_cpu_s(p) for n, p in sims.items()}
        workers0 = {w.pid: proc_cpu_s(w.pid) for w in workers}
        server0 = server_cpu_s() if args.store == "postgresql" else None
        if profile is not None:
            profile.enable()
        started = time.monotonic()
        task = asyncio.create_task(hub.run(stop, workers=args.hub_workers))
        tally = _Tally()
        while time.monotonic() - started < args.max_s and not task.done():
            await asyncio.sleep(0.25)
            if tally.read(store):
                continue
            if tally.progress(store).is_done(len(ids)):
                break
        stop.set()
        await task
        if profile is not None:
            profile.disable()
            profile.dump_stats(args.profile)
        hub_cpu = time.process_time() - hub0
        workers_cpu = sum(proc_cpu_s(w.pid) - workers0[w.pid] for w in workers)
        server_cpu = server_cpu_since(server0) if server0 is not None else 0.0
        _stop_workers(workers)
        sim = {n: proc_cpu_s(p) - sim0[n] for n, p in sims.items()}
        run_s = time.monotonic() - started
        if args.profile_sims:
            await profile_sims(entries, "stop")
        progress = _progress(store)
        trips = await _statuses_on_orders(runtime, ids)
        wall = (
            (progress.last_back - progress.first_in).total_seconds()
            if progress.first_in and progress.last_back
            else float("nan")
        )
        per = max(trips, 1)
        total_ms = 1000 * (hub_cpu + workers_cpu + server_cpu + sum(sim.values())) / per
        out: dict[str, Any] = {
            "mode": "round-trip",
            "store": args.store,
            "orders": len(ids),
            "lines": args.lines,
            "hub_workers": args.hub_workers,
            "poll_s": args.poll_s,
            "overlap_s": project.spec.flows[TO_SAP].source.trigger.overlap.total_seconds(),
            "written_to_sap": progress.written,
            "held": progress.held,
            "dead": progress.dead,
            "open_behind_hold": progress.behind_hold,
            "round_trips": trips,
            "all_back": trips == progress.written and progress.written > 0,
            "timed_out": not progress.is_done(len(ids)),
            "wall_s": round(wall, 2),
            "round_trips_per_s": round(trips / wall, 1) if wall > 0 else None,
            "run_s": round(run_s, 2),
            "worker_processes": len(workers),
            "hub_cpu_ms_per_order": round(1000 * (hub_cpu + workers_cpu) / per, 3),
        }
        if workers:
            out["hub_intake_process_cpu_ms_per_order"] = round(1000 * hub_cpu / per, 3)
            out["hub_worker_processes_cpu_ms_per_order"] = round(1000 * workers_cpu / per, 3)
        for name, seconds in sim.items():
            out[f"{name}_cpu_ms_per_order"] = round(1000 * seconds / per, 3)
        if server0 is not None:  # the database server shares the cores
            out["postgresql_cpu_ms_per_order"] = round(1000 * server_cpu / per, 3)
        out["cpu_ms_per_order"] = round(total_ms, 3)
        # two cores, perfectly busy, this CPU per round trip and nothing else running
        out["cpu_bound_round_trips_per_s_2_cores"] = round(2000 / total_ms, 0)
        out.update(_reads(store, timeline=args.timeline))
        out["load_avg_1m"] = round(os.getloadavg()[0], 2)
        return out
    finally:
        await runtime.aclose()
        store.dispose()
