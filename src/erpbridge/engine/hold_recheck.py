"""Recheck held jobs: credit may have freed up since a job was held (docs/engine.md, "Holds").

Run by the scheduler of ``erpbridge run``/``serve`` for the jobs whose ``recheck`` time
has come, and by ``erpbridge sync <flow> --recheck`` for every held job of a flow. Each
job is evaluated again on its stored snapshot with freshly read related records; those
that pass are queued (the worker checks them once more, then writes), the others keep
waiting with the new reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from erpbridge.engine.clock import Clock
from erpbridge.engine.flow import FlowPlan
from erpbridge.engine.hold import judge, write_flags
from erpbridge.engine.hold_plan import HoldPlan
from erpbridge.engine.jobs import Job, JobState
from erpbridge.engine.queue import job_from_row
from erpbridge.engine.runtime import Runtime
from erpbridge.engine.snapshot import record_from_snapshot
from erpbridge.log import get_logger
from erpbridge.store.schema import jobs

__all__ = ["RecheckResult", "recheck_held"]

log = get_logger("engine.hold")


@dataclass(frozen=True, slots=True)
class RecheckResult:
    """What one recheck did: jobs queued again, jobs still held, jobs whose reads failed."""

    released: int = 0
    held: int = 0
    failed: int = 0

    def __add__(self, other: RecheckResult) -> RecheckResult:
        return RecheckResult(
            self.released + other.released, self.held + other.held, self.failed + other.failed
        )


async def recheck_held(
    store: sa.Engine,
    runtime: Runtime,
    plans: Mapping[str, FlowPlan],
    clock: Clock,
    *,
    flows: Sequence[str] | None = None,
    due_only: bool = True,
    page: int = 500,
) -> RecheckResult:
    """Evaluate held jobs again (credit may have freed up); queue those that pass.

    Args:
        flows: only these flows (default: every flow with a hold).
        due_only: only jobs whose ``recheck`` time has come (the scheduler); False takes
            every held job (``erpbridge sync <flow> --recheck``).
        page: jobs read per query.
    """
    total = RecheckResult()
    for plan in plans.values():
        if plan.hold is None or (flows is not None and plan.name not in flows):
            continue
        last_id = 0
        while True:
            now = clock.now()
            query = sa.select(jobs).where(
                jobs.c.flow == plan.name,
                jobs.c.state == JobState.HELD.value,
                jobs.c.id > last_id,
            )
            if due_only:
                query = query.where(jobs.c.next_attempt_at <= now)
            with store.connect() as conn:
                held = [
                    job_from_row(r) for r in conn.execute(query.order_by(jobs.c.id).limit(page))
                ]
            if not held:
                break
            last_id = held[-1].id
            total += await _recheck_page(store, runtime, plan, plan.hold, held, now)
    return total


async def _recheck_page(
    store: sa.Engine,
    runtime: Runtime,
    plan: FlowPlan,
    hold: HoldPlan,
    held: list[Job],
    now: datetime,
) -> RecheckResult:
    pairs = [
        (job, record_from_snapshot(job.source_snapshot))
        for job in held
        if job.source_snapshot is not None
    ]
    verdicts, errors = await judge(runtime, hold, pairs)
    still = [(j, r, verdicts[j.id]) for j, r in pairs if j.id in verdicts and verdicts[j.id].held]
    flag_errors = await write_flags(runtime, hold, [(j, r, v.scope) for j, r, v in still], "set")
    for job_id, error in flag_errors.items():
        log.warning("hold.flag_failed", flow=plan.name, job_id=job_id, error=str(error))
    recheck_at = now + timedelta(seconds=hold.recheck_s)
    released = [j.id for j, _ in pairs if j.id in verdicts and not verdicts[j.id].held]
    with store.begin() as conn:
        for job, _, verdict in still:
            conn.execute(
                jobs.update()
                .where(jobs.c.id == job.id, jobs.c.state == JobState.HELD.value)
                .values(hold_reason=verdict.reason, next_attempt_at=recheck_at, updated_at=now)
            )
        waiting = [j.id for j in held if j.id in errors or j.source_snapshot is None]
        if waiting:
            conn.execute(
                jobs.update()
                .where(jobs.c.id.in_(waiting), jobs.c.state == JobState.HELD.value)
                .values(next_attempt_at=recheck_at, updated_at=now)
            )
        if released:  # compare-and-set: a job a person released or rejected meanwhile stays so
            conn.execute(
                jobs.update()
                .where(jobs.c.id.in_(released), jobs.c.state == JobState.HELD.value)
                .values(state=JobState.QUEUED.value, next_attempt_at=now, updated_at=now)
            )
    if released or still:
        log.info("hold.rechecked", flow=plan.name, released=len(released), held=len(still))
    return RecheckResult(len(released), len(still), len(errors))
