"""Repair of a recon run: each difference becomes the job that would fix it, or a flag."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from erpbridge.engine.clock import Clock
from erpbridge.engine.enqueue import enqueue_changes
from erpbridge.engine.flow import FlowPlan
from erpbridge.engine.jobs import Trigger
from erpbridge.engine.recon_compare import DifferenceKind
from erpbridge.spi.records import Change
from erpbridge.store.schema import jobs, recon_differences, recon_runs

__all__ = ["apply_repairs", "note_repairs", "plan_repairs"]


def plan_repairs(store: sa.Engine, run_id: int) -> list[dict[str, Any]]:
    """What repairing run ``run_id`` would do, per difference not accepted by a person."""
    with store.connect() as conn:
        run = conn.execute(sa.select(recon_runs).where(recon_runs.c.id == run_id)).first()
        if run is None or run.state != "done":
            return []
        rows = conn.execute(
            sa.select(recon_differences)
            .where(recon_differences.c.run_id == run_id, recon_differences.c.accepted.is_(False))
            .order_by(recon_differences.c.id)
        ).all()
    repairs = []
    seen: set[str] = set()
    for row in rows:
        source_id = (row.source_value or {}).get("source_id")
        if (
            row.kind in (DifferenceKind.MISSING_IN_TARGET.value, DifferenceKind.FIELD.value)
            and source_id
        ):
            if source_id in seen:
                continue
            seen.add(source_id)
            repairs.append(
                {
                    "difference": row.id,
                    "kind": row.kind,
                    "key": row.record_key,
                    "action": "resync from source",
                    "source_id": source_id,
                }
            )
        else:
            repairs.append(
                {
                    "difference": row.id,
                    "kind": row.kind,
                    "key": row.record_key,
                    "action": "flag for a person",
                }
            )
    return repairs


def apply_repairs(
    store: sa.Engine, plan: FlowPlan, run_id: int, clock: Clock
) -> list[dict[str, Any]]:
    """Queue the resync jobs of :func:`plan_repairs` (trigger ``recon``) and return them."""
    repairs = plan_repairs(store, run_id)
    changes = [
        Change(object=plan.spec.source.object, record_id=r["source_id"], version=f"recon:{run_id}")
        for r in repairs
        if r["action"] == "resync from source"
    ]
    with store.begin() as conn:
        enqueue_changes(conn, plan.name, changes, Trigger.RECON.value, clock.now())
        ids = [r["difference"] for r in repairs if r["action"] == "resync from source"]
        if ids:
            query = sa.select(jobs.c.source_id, jobs.c.id).where(
                jobs.c.flow == plan.name, jobs.c.source_version == f"recon:{run_id}"
            )
            job_ids = {str(r.source_id): int(str(r.id)) for r in conn.execute(query)}
            for repair in repairs:
                if repair["action"] == "resync from source":
                    repair["job"] = job_ids.get(repair["source_id"])
                    conn.execute(
                        recon_differences.update()
                        .where(recon_differences.c.id == repair["difference"])
                        .values(repair_job_id=repair["job"])
                    )
    for repair in repairs:
        repair.setdefault("job", None)
    return repairs


def note_repairs(store: sa.Engine, run_id: int, mode: str, repairs: Sequence[Any]) -> None:
    """Keep what a repair of the run did (or would do) in its totals."""
    with store.begin() as conn:
        totals = conn.execute(
            sa.select(recon_runs.c.totals).where(recon_runs.c.id == run_id)
        ).scalar_one_or_none()
        queued = sum(1 for r in repairs if r.get("job"))
        conn.execute(
            recon_runs.update()
            .where(recon_runs.c.id == run_id)
            .values(
                totals={
                    **(totals or {}),
                    "repairs": {"mode": mode, "planned": len(repairs), "queued": queued},
                }
            )
        )
