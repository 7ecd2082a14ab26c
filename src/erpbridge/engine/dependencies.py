"""Parking a job whose referenced records are not in the target yet (DESIGN.md §6).

The job waits (``parked``) and every missing reference is queued for its own flow; after
the flow's dependency timeout it becomes a dead letter naming what it waited for.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import sqlalchemy as sa

from erpbridge.engine.clock import Clock
from erpbridge.engine.enqueue import open_dead_letter
from erpbridge.engine.flow import FlowPlan
from erpbridge.engine.jobs import Job
from erpbridge.engine.outcome import BatchOutcome
from erpbridge.engine.queue import Attempt
from erpbridge.mapping.errors import MissingReference
from erpbridge.spi.records import Change

__all__ = ["PARK_RECHECK_S", "dependency_hint", "park"]

#: re-check a parked job this often while its dependency is missing.
PARK_RECHECK_S = 5.0


def park(
    store: sa.Engine,
    plans: Mapping[str, FlowPlan],
    clock: Clock,
    plan: FlowPlan,
    job: Job,
    exc: MissingReference,
    missing: set[tuple[str, str]],
    batch: BatchOutcome,
) -> None:
    """Wait for referenced records; ask their flows to sync every one that is missing.

    One dependency job per (flow, record) and parked job: the dedup on the version
    keeps re-checks from queueing it again, and none is queued while one is open.
    """
    now = clock.now()
    since = job.waiting_since or now
    if (now - since).total_seconds() >= plan.policy.dependency_timeout_s:
        hint = dependency_hint(store, plans, plan, exc)
        batch.dead.append(
            (
                job,
                Attempt("failed", "dependency", str(exc)),
                None,
                hint,
                job.source_snapshot,
                None,
            )
        )
        return
    batch.parked.append((job, now + timedelta(seconds=PARK_RECHECK_S), since, str(exc)))
    version = f"dependency:{job.flow}:{job.id}"
    for entity, source_id in sorted(missing):
        for dep in plans.values():
            if dep.entity == entity and dep.source_connection == plan.source_connection:
                change = Change(object=dep.spec.source.object, record_id=source_id, version=version)
                batch.dependencies.append((dep.name, change))


def dependency_hint(
    store: sa.Engine, plans: Mapping[str, FlowPlan], plan: FlowPlan, exc: MissingReference
) -> str:
    """What to do about a reference that never synced: its own dead letter, if it has one."""
    if exc.record_id is None:  # a code no source record holds (xref by key)
        return (
            f"no {exc.entity} with {exc.key_field} {exc.source_id!r} ever synced: "
            "create or fix it in the source (or fix this record), then replay"
        )
    flows = [
        dep.name
        for dep in plans.values()
        if dep.entity == exc.entity and dep.source_connection == plan.source_connection
    ]
    with store.connect() as conn:
        found = open_dead_letter(conn, flows, exc.record_id)
    if found is None:
        return f"the referenced {exc.entity} {exc.source_id!r} never synced; sync it, then replay"
    flow, error = found
    return (
        f"the referenced {exc.entity} {exc.source_id!r} is a dead letter in {flow} "
        f"({error[:300]}); fix and replay it there, then replay this"
    )
