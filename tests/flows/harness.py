"""A template project running in-process against real simulators (for the e2e tests).

The simulators serve real HTTP on 127.0.0.1 (``run_sandbox``); the project is the
shipped template with the ``.env`` that ``erpbridge demo`` would write; flows are driven
with the engine's own ``sync_flow`` and ``Worker``. Time for parked and retried jobs
comes from a :class:`ManualClock`, so waiting costs nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from typer.testing import CliRunner

from erpbridge.cli.demo import dotenv_lines
from erpbridge.cli.main import app as cli_app
from erpbridge.config import Project, load_project
from erpbridge.engine.clock import ManualClock
from erpbridge.engine.flow import FlowPlan
from erpbridge.engine.hub import Hub
from erpbridge.engine.intake import sync_flow
from erpbridge.engine.jobs import Trigger
from erpbridge.engine.plans import build_plans
from erpbridge.engine.recon import Difference, ReconOptions, run_recon
from erpbridge.engine.runtime import Runtime
from erpbridge.engine.worker import Worker
from erpbridge.flows.templates import template_files
from erpbridge.sims._common.faults import FaultConfig
from erpbridge.sims._common.server import RunningSimulator
from erpbridge.sims.sandbox import run_sandbox
from erpbridge.spi.connector import Connector
from erpbridge.spi.errors import ConnectorError
from erpbridge.spi.records import Record, WriteMode, WriteOp, WriteOutcome
from erpbridge.spi.registry import ConnectorRegistry
from erpbridge.store import open_store
from erpbridge.store.schema import attempts, dead_letters, jobs

__all__ = ["Bridge", "planted_recon", "running_template"]

#: a drive gives up after this many worker rounds (a bug, not a slow system).
MAX_ROUNDS = 400


class _Clock(ManualClock):
    """A manual clock whose sleeps advance it at least 1 ms.

    The engine's token bucket sleeps ``(1 - tokens) / rate``; with float rounding that can
    be ~1e-16 s, which adding to a monotonic reading of a few hundred seconds does not
    change, so a purely manual clock would spin forever there.
    """

    async def sleep(self, seconds: float) -> None:
        """Advance by ``seconds``, at least 1 ms (and yield to the loop once)."""
        await super().sleep(max(seconds, 0.001))


@dataclass
class Bridge:
    """One template project, its simulators, store, runtime and a worker."""

    project: Project
    plans: Mapping[str, FlowPlan]
    store: sa.Engine
    runtime: Runtime
    hub: Hub
    clock: ManualClock
    sims: Mapping[str, RunningSimulator]

    def connector(self, connection: str) -> Connector:
        """The live connector of ``connection``."""
        return self.runtime.connector(connection)

    def fork(self, db_path: Path) -> Bridge:
        """The same project and simulators with an empty store (no xref, no jobs)."""
        store = open_store(f"sqlite:///{db_path}")
        runtime = Runtime(self.project, ConnectorRegistry(), clock=self.clock)
        hub = Hub(self.project, store, runtime, self.plans, clock=self.clock)
        return Bridge(self.project, self.plans, store, runtime, hub, self.clock, self.sims)

    def fork_runtime(self) -> Bridge:
        """The same project, simulators and store with its own connectors."""
        runtime = Runtime(self.project, ConnectorRegistry(), clock=self.clock)
        hub = Hub(self.project, self.store, runtime, self.plans, clock=self.clock)
        return Bridge(self.project, self.plans, self.store, runtime, hub, self.clock, self.sims)

    async def sync(
        self,
        flow: str,
        ids: Sequence[str] | None = None,
        since: datetime | None = None,
        trigger: Trigger = Trigger.MANUAL,
    ) -> None:
        """Queue records of ``flow`` (like ``erpbridge sync``) and work until all settle.

        ``trigger`` POLL queues them as a running hub's poll would (automatic triggers skip a
        payload equal to the last one written; manual syncs always write).

        A failed read of the source (an injected fault) is re-run, as a person re-runs
        ``erpbridge sync`` or the next poll does; the dedup keeps that harmless.
        """
        for attempt in range(1, 6):
            try:
                await sync_flow(
                    self.store,
                    self.runtime,
                    flow,
                    self.clock,
                    ids=ids,
                    since=since,
                    trigger=trigger,
                )
                break
            except ConnectorError:
                if attempt == 5:
                    raise
        await self.drain()

    async def drain(self) -> None:
        """Run the worker until no job is queued, running, parked or waiting for a retry."""
        worker = Worker(self.store, self.runtime, self.plans, clock=self.clock)
        throttled = self.failed_attempts().get("rate_limited", 0)
        for _ in range(MAX_ROUNDS):
            if await worker.run_once():
                continue
            if not self.open_jobs():
                return
            # The hub's token buckets run on the manual clock, which the line below moves
            # on at once; the simulators count their rate limits in real seconds. After a
            # throttled attempt, let a real second pass too, or every retry is refused
            # again within the same real second (the job then dies of a test artefact).
            now = self.failed_attempts().get("rate_limited", 0)
            if now > throttled:
                throttled = now
                await asyncio.sleep(1.05)
            self.clock.advance(6.0)  # past parked re-checks and retry back-offs
        raise AssertionError(f"jobs still open after {MAX_ROUNDS} rounds: {self.open_jobs()}")

    async def validate_online(self, workdir: Path) -> dict[str, Any]:
        """``erpbridge validate --online --json`` on the project: every mapping checked
        against what both systems' ``describe()`` reports."""
        runner = CliRunner()
        result = await asyncio.to_thread(
            runner.invoke, cli_app, ["validate", "-p", str(workdir), "--online", "--json"]
        )
        report: dict[str, Any] = json.loads(result.stdout)
        return report

    async def recon(self, flow: str, since: datetime) -> list[Difference]:
        """Differences a reconciliation of ``flow`` finds for source records changed since."""
        result = await run_recon(
            self.store, self.runtime, self.plans[flow], ReconOptions(since=since), self.clock
        )
        if result.error:
            raise AssertionError(f"recon {flow} failed: {result.error}")
        if result.matches == 0:
            raise AssertionError(f"recon {flow}: nothing matched ({result.totals})")
        return list(result.differences)

    def open_jobs(self) -> list[tuple[str, str, str]]:
        """(flow, source id, state) of every job not finished."""
        with self.store.connect() as conn:
            rows = conn.execute(
                sa.select(jobs.c.flow, jobs.c.source_id, jobs.c.state).where(
                    jobs.c.state.in_(("queued", "running", "parked"))
                )
            ).all()
        return [(str(f), str(s), str(st)) for f, s, st in rows]

    def outcomes(self, flow: str) -> list[tuple[str, str]]:
        """(source id, outcome) of the finished jobs of ``flow``, oldest first."""
        with self.store.connect() as conn:
            rows = conn.execute(
                sa.select(jobs.c.source_id, jobs.c.outcome)
                .where(jobs.c.flow == flow, jobs.c.state == "done")
                .order_by(jobs.c.id)
            ).all()
        return [(str(s), str(o)) for s, o in rows]

    def failed_attempts(self) -> dict[str, int]:
        """error class -> how many attempts failed with it (retried or not)."""
        with self.store.connect() as conn:
            rows = conn.execute(
                sa.select(attempts.c.error_class, sa.func.count())
                .where(attempts.c.outcome == "failed")
                .group_by(attempts.c.error_class)
            ).all()
        return {str(c): int(str(n)) for c, n in rows}

    def dead_letters(self) -> list[tuple[str, str, str]]:
        """(flow, record id, error) of every open dead letter."""
        with self.store.connect() as conn:
            rows = conn.execute(
                sa.select(
                    dead_letters.c.flow, dead_letters.c.source_id, dead_letters.c.error_message
                )
                .where(dead_letters.c.state == "open")
                .order_by(dead_letters.c.id)
            ).all()
        return [(str(f), str(s), str(m)) for f, s, m in rows]

    def dead_letter_hints(self) -> list[str]:
        """The hint of every open dead letter (what a person should do)."""
        with self.store.connect() as conn:
            rows = conn.execute(
                sa.select(dead_letters.c.hint)
                .where(dead_letters.c.state == "open")
                .order_by(dead_letters.c.id)
            ).all()
        return [str(h) for (h,) in rows]

    async def create(self, connection: str, object_name: str, fields: dict[str, object]) -> str:
        """Create one record through the system's own API; returns its id."""
        [result] = await self.connector(connection).write(
            object_name, [WriteOp(mode=WriteMode.CREATE, fields=fields)]
        )
        if result.outcome is not WriteOutcome.CREATED or not result.target_id:
            raise AssertionError(f"create {connection}:{object_name} failed: {result.error}")
        return result.target_id

    async def update(
        self, connection: str, object_name: str, record_id: str, fields: dict[str, object]
    ) -> None:
        """Update one record through the system's own API."""
        [result] = await self.connector(connection).write(
            object_name, [WriteOp(mode=WriteMode.UPDATE, fields=fields, target_id=record_id)]
        )
        if result.outcome is WriteOutcome.FAILED:
            raise AssertionError(f"update {connection}:{object_name} failed: {result.error}")

    async def get(self, connection: str, object_name: str, record_id: str) -> Record:
        """One record read back through the system's own API."""
        found = await self.connector(connection).get(object_name, [record_id])
        if len(found) != 1:
            raise AssertionError(f"{connection}:{object_name} {record_id} not found")
        return found[0]

    async def find(
        self, connection: str, object_name: str, key: str, values: Sequence[str]
    ) -> list[Record]:
        """Records whose ``key`` is one of ``values``, through the system's own API."""
        try:
            return list(await self.connector(connection).find(object_name, key, list(values)))
        except ConnectorError as exc:  # pragma: no cover - shown in the failing assertion
            raise AssertionError(f"find {connection}:{object_name} failed: {exc}") from exc


@contextmanager
def running_template(
    template: str,
    workdir: Path,
    systems: Sequence[str],
    *,
    faults: Mapping[str, FaultConfig] | None = None,
) -> Iterator[Bridge]:
    """Serve ``systems``' simulators and load ``template`` against them, as the demo does."""
    for name, text in template_files(template).items():
        (workdir / name).parent.mkdir(parents=True, exist_ok=True)
        (workdir / name).write_text(text, encoding="utf-8")
    with run_sandbox(workdir / "sandbox", only=list(systems), faults=faults) as sims:
        entries = {name: sim.entry for name, sim in sims.items()}
        (workdir / ".env").write_text("\n".join(dotenv_lines(entries)) + "\n", encoding="utf-8")
        registry = ConnectorRegistry()
        project = load_project(workdir / "erpbridge.yaml", registry=registry, environ={})
        plans = build_plans(project)
        store = open_store(f"sqlite:///{workdir / 'erpbridge.db'}")
        clock = _Clock(datetime.now(UTC) - timedelta(seconds=1))
        runtime = Runtime(project, registry, clock=clock)
        hub = Hub(project, store, runtime, plans, clock=clock)
        try:
            yield Bridge(project, plans, store, runtime, hub, clock, sims)
        finally:
            store.dispose()


async def close(bridge: Bridge) -> None:
    """Close the bridge's connectors (call at the end of each test)."""
    await bridge.runtime.aclose()


async def planted_recon(
    bridge: Bridge, flow: str, since: datetime
) -> tuple[list[tuple[str, str, str | None]], int]:
    """(sorted (kind, key, field) of every difference, run id) of one recon of ``flow``."""
    result = await run_recon(
        bridge.store, bridge.runtime, bridge.plans[flow], ReconOptions(since=since), bridge.clock
    )
    if result.error:
        raise AssertionError(f"recon {flow} failed: {result.error}")
    return sorted((d.kind.value, d.key, d.field) for d in result.differences), result.run_id
