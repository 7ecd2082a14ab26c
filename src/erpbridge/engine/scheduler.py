"""Triggers over time: poll each flow at its interval, run cron schedules in their time zone.

It also rechecks held jobs (flows with ``hold:``) when their ``recheck`` time comes, and
prunes finished jobs past the project's ``store.retention`` every :data:`PRUNE_INTERVAL_S`
(engine/retention.py), in a thread, batch by batch, so intake goes on meanwhile.
A flow's ``recon: {schedule: …}`` runs its reconciliation at the schedule's times (trigger
``schedule``, kept in the store like a manual run) and repairs it as its ``repair:`` says.

A failing poll is logged and counted, and tried again at the next interval; it never
stops the other flows. Cron schedules run a full read of the flow's source (the
deduplication makes unchanged records cheap) as trigger ``schedule``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from croniter import croniter

from erpbridge.engine.clock import Clock
from erpbridge.engine.flow import FlowPlan
from erpbridge.engine.hold_recheck import recheck_held
from erpbridge.engine.intake import poll_flow, sync_flow
from erpbridge.engine.jobs import Trigger
from erpbridge.engine.metrics import Metrics
from erpbridge.engine.recon import (
    ReconResult,
    apply_repairs,
    note_repairs,
    plan_repairs,
    recon_options,
    run_recon,
)
from erpbridge.engine.retention import prune_jobs
from erpbridge.engine.runtime import Runtime
from erpbridge.log import get_logger
from erpbridge.spi.errors import ErpBridgeError

__all__ = ["PRUNE_INTERVAL_S", "Scheduler", "next_cron_time"]

#: how often the running hub prunes finished jobs past the retention (first: at start).
PRUNE_INTERVAL_S = 3600.0

log = get_logger("engine.scheduler")


def next_cron_time(expression: str, zone: str, after: datetime) -> datetime:
    """The next time ``expression`` fires in time zone ``zone`` after ``after`` (aware UTC out)."""
    local = after.astimezone(ZoneInfo(zone))
    fire: datetime = croniter(expression, local).get_next(datetime)
    return fire.astimezone(after.tzinfo)


class Scheduler:
    """Runs the poll and cron triggers of the plans until stopped."""

    def __init__(
        self,
        store: sa.Engine,
        runtime: Runtime,
        plans: Mapping[str, FlowPlan],
        clock: Clock,
        metrics: Metrics,
        default_zone: str = "UTC",
        retention: timedelta | None = None,
    ) -> None:
        self.store = store
        self.retention = retention
        self.runtime = runtime
        self.plans = dict(plans)
        self.clock = clock
        self.metrics = metrics
        self.default_zone = default_zone

    async def run(self, stop: asyncio.Event) -> None:
        """One task per trigger; returns when ``stop`` is set."""
        tasks = []
        for plan in self.plans.values():
            trigger = plan.spec.source.trigger
            interval = trigger.poll_interval  # poll, or file_drop (a poll of a folder)
            if interval is not None:
                tasks.append(
                    asyncio.create_task(self._poll_loop(plan, interval.total_seconds(), stop))
                )
            if trigger.schedule is not None:
                zone = trigger.schedule.timezone or self.default_zone
                tasks.append(
                    asyncio.create_task(
                        self._cron_loop(
                            plan,
                            trigger.schedule.cron,
                            zone,
                            stop,
                            "schedule",
                            functools.partial(self._sync_scheduled, plan),
                        )
                    )
                )
            recon = plan.spec.recon
            if recon is not None and recon.schedule is not None:
                zone = recon.schedule.timezone or self.default_zone
                tasks.append(
                    asyncio.create_task(
                        self._cron_loop(
                            plan,
                            recon.schedule.cron,
                            zone,
                            stop,
                            "recon.schedule",
                            functools.partial(self.run_scheduled_recon, plan),
                        )
                    )
                )
        holds = [p.hold.recheck_s for p in self.plans.values() if p.hold is not None]
        if holds:
            # Look for due held jobs at least every minute; each job keeps its own time.
            recheck_s = max(1.0, min(60.0, *holds))
            tasks.append(asyncio.create_task(self._recheck_loop(recheck_s, stop)))
        if self.retention is not None:
            tasks.append(asyncio.create_task(self._prune_loop(self.retention, stop)))
        if not tasks:
            await stop.wait()
            return
        await stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _wait(self, stop: asyncio.Event, seconds: float) -> bool:
        """Sleep ``seconds`` or until stopped; True when stopped."""
        try:
            await asyncio.wait_for(stop.wait(), timeout=max(0.0, seconds))
        except TimeoutError:
            return False
        return True

    async def _poll_loop(self, plan: FlowPlan, interval_s: float, stop: asyncio.Event) -> None:
        while not stop.is_set():
            started = self.clock.monotonic()
            try:
                result = await poll_flow(
                    self.store, self.runtime, plan.name, self.clock, self.metrics
                )
                if result.queued or result.filtered:
                    log.info(
                        "poll.done",
                        flow=plan.name,
                        queued=result.queued,
                        duplicates=result.duplicates,
                        filtered=result.filtered,
                    )
            except ErpBridgeError as exc:
                log.warning("poll.failed", flow=plan.name, error=str(exc))
            except sa.exc.OperationalError as exc:
                log.error("poll.store_failed", flow=plan.name, error=str(exc.orig))
            if await self._wait(stop, interval_s - (self.clock.monotonic() - started)):
                return

    async def _cron_loop(
        self,
        plan: FlowPlan,
        cron: str,
        zone: str,
        stop: asyncio.Event,
        event: str,
        fire: Callable[[], Awaitable[object]],
    ) -> None:
        """Call ``fire`` at every time ``cron`` names in ``zone``; its failures are logged."""
        while not stop.is_set():
            now = self.clock.now()
            at = next_cron_time(cron, zone, now)
            if await self._wait(stop, (at - now).total_seconds()):
                return
            try:
                await fire()
            except (ErpBridgeError, OSError) as exc:
                log.warning(f"{event}.failed", flow=plan.name, error=str(exc))
            except sa.exc.OperationalError as exc:
                log.error(f"{event}.store_failed", flow=plan.name, error=str(exc.orig))

    async def _sync_scheduled(self, plan: FlowPlan) -> None:
        result = await sync_flow(
            self.store, self.runtime, plan.name, self.clock, trigger=Trigger.SCHEDULE
        )
        log.info("schedule.done", flow=plan.name, queued=result.queued)

    async def _recheck_loop(self, interval_s: float, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await recheck_held(self.store, self.runtime, self.plans, self.clock)
            except ErpBridgeError as exc:
                log.warning("hold.recheck_failed", error=str(exc))
            except sa.exc.OperationalError as exc:
                log.error("hold.recheck_store_failed", error=str(exc.orig))
            if await self._wait(stop, interval_s):
                return

    async def _prune_loop(self, older_than: timedelta, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.to_thread(
                    prune_jobs,
                    self.store,
                    older_than=older_than,
                    now=self.clock.now(),
                    metrics=self.metrics,
                    should_stop=stop.is_set,
                )
            except sa.exc.SQLAlchemyError as exc:
                log.error("retention.failed", error=str(getattr(exc, "orig", None) or exc))
            if await self._wait(stop, PRUNE_INTERVAL_S):
                return

    async def run_scheduled_recon(self, plan: FlowPlan) -> ReconResult:
        """One scheduled recon of ``plan`` (trigger ``schedule``), repaired as configured."""
        recon = plan.spec.recon
        options = recon_options(recon, self.clock.now(), trigger=Trigger.SCHEDULE.value)
        result = await run_recon(self.store, self.runtime, plan, options, self.clock)
        mode = recon.repair if recon is not None else "none"
        repairs: list[dict[str, object]] = []
        if result.state == "done" and mode != "none":
            repairs = (
                apply_repairs(self.store, plan, result.run_id, self.clock)
                if mode == "apply"
                else plan_repairs(self.store, result.run_id)
            )
            note_repairs(self.store, result.run_id, mode, repairs)
        log.info(
            "recon.done",
            flow=plan.name,
            run=result.run_id,
            state=result.state,
            error=result.error,
            matches=result.matches,
            differences=len(result.differences),
            repair=mode,
            repairs=len(repairs),
        )
        return result
