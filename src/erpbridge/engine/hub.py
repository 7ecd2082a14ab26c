"""The hub: one running project — its store, connections, flows, triggers and workers.

``erpbridge run`` runs intake (scheduler + webhook receiver) and workers in one process;
``erpbridge serve`` runs intake only and ``erpbridge worker`` workers only, so workers
can scale out on a PostgreSQL store.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping

import sqlalchemy as sa

from erpbridge.config import Project
from erpbridge.engine.clock import Clock, SystemClock
from erpbridge.engine.enqueue import IntakeResult
from erpbridge.engine.flow import FlowPlan
from erpbridge.engine.intake import intake_changes
from erpbridge.engine.jobs import JobState, Trigger
from erpbridge.engine.metrics import Metrics
from erpbridge.engine.runtime import Runtime
from erpbridge.engine.scheduler import Scheduler
from erpbridge.engine.worker import Worker
from erpbridge.spi.connector import ObjectResolver, WebhookConnector
from erpbridge.spi.errors import ConfigError, ValidationError
from erpbridge.spi.records import Change
from erpbridge.store.schema import dead_letters, jobs

__all__ = ["Hub"]


class Hub:
    """Everything a running project needs, shared by the API and the loops."""

    def __init__(
        self,
        project: Project,
        store: sa.Engine,
        runtime: Runtime,
        plans: Mapping[str, FlowPlan],
        *,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.project = project
        self.store = store
        self.runtime = runtime
        self.plans = dict(plans)
        self.clock = clock or SystemClock()
        self.metrics = metrics or Metrics()
        self._object_names: dict[tuple[str, str], str] = {}
        #: set after a webhook's jobs are committed: idle workers of this process look at once.
        self.wake = asyncio.Event()

    async def _canonical(self, connection: str, object_name: str) -> str:
        key = (connection, object_name)
        if key not in self._object_names:
            connector = self.runtime.connector(connection)
            if isinstance(connector, ObjectResolver):
                self._object_names[key] = await connector.resolve_object(object_name)
            else:
                self._object_names[key] = object_name
        return self._object_names[key]

    async def webhook_flows(self, connection: str, object_name: str) -> list[str]:
        """Flows fed by webhooks of ``connection`` for ``object_name`` (any of its names)."""
        out = []
        for name, plan in self.plans.items():
            if plan.source_connection != connection or not plan.spec.source.trigger.webhook:
                continue
            configured = plan.spec.source.object
            if object_name in (configured, await self._canonical(connection, configured)):
                out.append(name)
        return out

    async def accept_webhook(
        self, connection: str, headers: Mapping[str, str], body: bytes
    ) -> IntakeResult:
        """Verify, parse and commit one webhook delivery; returns what was queued.

        Raises:
            ConfigError: unknown connection, or one whose connector takes no webhooks.
            AuthError: bad or missing signature (the receiver answers 401).
            ValidationError: a body the system would not send, or one no flow takes (400).
        """
        if connection not in self.project.connections:
            raise ConfigError(f"unknown connection {connection!r}")
        connector = self.runtime.connector(connection)
        if not isinstance(connector, WebhookConnector):
            raise ConfigError(f"connection {connection!r} does not receive webhooks")
        changes = connector.parse_webhook(headers, body)
        by_object: dict[str, list[Change]] = defaultdict(list)
        for change in changes:
            by_object[change.object].append(change)
        total = IntakeResult()
        routed = False
        for object_name, group in by_object.items():
            flows = await self.webhook_flows(connection, object_name)
            if not flows:
                continue
            routed = True
            # the key a poll of the flow uses too, so either finds the other's digests
            content = {flow: self.runtime.content_key(flow) for flow in flows}
            total += intake_changes(
                self.store, flows, group, Trigger.WEBHOOK, self.clock, self.metrics, content
            )
        if total.queued:
            self.wake.set()
        if changes and not routed:
            raise ValidationError(
                f"no flow takes webhooks of {connection} for {', '.join(sorted(by_object))}",
                system=connection,
            )
        return total

    def refresh_gauges(self) -> None:
        """Set the queue, held and dead-letter gauges from the store (called at scrape time)."""
        for name, plan in self.plans.items():
            if plan.hold is not None:
                self.metrics.held.labels(name).set(0.0)
        with self.store.connect() as conn:
            for flow, state, count in conn.execute(
                sa.select(jobs.c.flow, jobs.c.state, sa.func.count())
                .where(jobs.c.state.in_([s.value for s in JobState]))
                .group_by(jobs.c.flow, jobs.c.state)
            ):
                self.metrics.queue.labels(flow, state).set(float(str(count)))
                if state == JobState.HELD.value:
                    self.metrics.held.labels(flow).set(float(str(count)))
            for flow, count in conn.execute(
                sa.select(dead_letters.c.flow, sa.func.count())
                .where(dead_letters.c.state == "open")
                .group_by(dead_letters.c.flow)
            ):
                self.metrics.dead_letters.labels(flow).set(float(str(count)))

    def is_ready(self) -> tuple[bool, str]:
        """Store reachable and at the newest schema."""
        from erpbridge.store import current_revision, head_revision

        try:
            revision = current_revision(self.store)
        except ConfigError as exc:
            return False, exc.reason
        if revision != head_revision():
            return (
                False,
                f"store schema {revision} is not {head_revision()}; run erpbridge db upgrade",
            )
        return True, "ok"

    async def run(self, stop: asyncio.Event, *, workers: int = 1, intake: bool = True) -> None:
        """Run the scheduler (when ``intake``) and ``workers`` workers until ``stop`` is set.

        Workers finish the round in hand before returning (graceful shutdown).
        """
        tasks = []
        if intake:
            scheduler = Scheduler(
                self.store,
                self.runtime,
                self.plans,
                self.clock,
                self.metrics,
                self.project.spec.timezone,
                retention=self.project.spec.store.retention.jobs_age,
            )
            tasks.append(asyncio.create_task(scheduler.run(stop)))
        for index in range(workers):
            worker = Worker(
                self.store, self.runtime, self.plans, clock=self.clock, metrics=self.metrics
            )
            worker.id = f"{worker.id}:{index}"
            tasks.append(asyncio.create_task(worker.run(stop, wake=self.wake)))
        await asyncio.gather(*tasks)
