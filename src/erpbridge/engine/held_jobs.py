"""Held jobs for people: list, release (write regardless of the check), reject (end the job).

Every release and rejection is recorded in the hash-chained audit log, like dead-letter
actions. A release queues the same job again with ``released_by`` set, so the worker
writes it without evaluating the hold (and clears the flag); a rejection finishes the
job (state ``done``, outcome ``rejected``) and keeps the flag on the record, so the CRM
still shows that the order did not go through. A later edit of the record is a new
version and is checked afresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from erpbridge.engine.jobs import JobState
from erpbridge.engine.metrics import Metrics
from erpbridge.store.audit import append_audit
from erpbridge.store.schema import jobs

__all__ = ["HeldAction", "list_held", "reject_held", "release_held"]


@dataclass(frozen=True, slots=True)
class HeldAction:
    """What a release or a rejection did to one job."""

    job_id: int
    flow: str | None
    source_id: str | None
    action: str  # "released" | "rejected" | "refused: <why>"


def list_held(
    conn: Connection, *, flow: str | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    """Held jobs, oldest hold first: id, flow, record, since, reason, next recheck."""
    query = (
        sa.select(
            jobs.c.id,
            jobs.c.flow,
            jobs.c.source_id,
            jobs.c.source_version,
            jobs.c.held_at,
            jobs.c.hold_reason,
            jobs.c.next_attempt_at.label("recheck_at"),
        )
        .where(jobs.c.state == JobState.HELD.value)
        .order_by(jobs.c.held_at, jobs.c.id)
        .limit(limit)
    )
    if flow:
        query = query.where(jobs.c.flow == flow)
    return [dict(r._mapping) for r in conn.execute(query)]


def _decide(
    conn: Connection,
    ids: Sequence[int],
    *,
    action: str,
    word: str,
    values: dict[str, Any],
    actor: str,
    now: datetime,
    details: dict[str, Any],
) -> list[HeldAction]:
    rows = {
        int(r.id): r
        for r in conn.execute(
            sa.select(
                jobs.c.id, jobs.c.flow, jobs.c.source_id, jobs.c.state, jobs.c.hold_reason
            ).where(jobs.c.id.in_(list(ids)))
        )
    }
    out: list[HeldAction] = []
    for job_id in ids:
        row = rows.get(job_id)
        if row is None:
            out.append(HeldAction(job_id, None, None, "refused: no such job"))
            continue
        if row.state != JobState.HELD.value:
            out.append(HeldAction(job_id, row.flow, row.source_id, f"refused: it is {row.state}"))
            continue
        changed = conn.execute(
            jobs.update()
            .where(jobs.c.id == job_id, jobs.c.state == JobState.HELD.value)
            .values(**values, updated_at=now)
        ).rowcount
        if not changed:  # a recheck or a newer version got there first
            out.append(HeldAction(job_id, row.flow, row.source_id, "refused: no longer held"))
            continue
        append_audit(
            conn,
            actor,
            f"job.{action}",
            str(job_id),
            {"flow": row.flow, "record": row.source_id, "reason": row.hold_reason, **details},
            now,
        )
        out.append(HeldAction(job_id, row.flow, row.source_id, word))
    return out


def release_held(
    conn: Connection,
    ids: Sequence[int],
    *,
    actor: str,
    now: datetime,
    note: str = "",
) -> list[HeldAction]:
    """Queue held jobs to be written regardless of the check (audited as ``job.release``).

    The worker counts the release (``erpbridge_holds_total{action="released",by="person"}``)
    when it writes the job.
    """
    return _decide(
        conn,
        ids,
        action="release",
        word="released",
        values={
            "state": JobState.QUEUED.value,
            "released_by": actor[:128],
            "next_attempt_at": now,
        },
        actor=actor,
        now=now,
        details={"note": note},
    )


def reject_held(
    conn: Connection,
    ids: Sequence[int],
    *,
    actor: str,
    now: datetime,
    note: str = "",
    metrics: Metrics | None = None,
) -> list[HeldAction]:
    """End held jobs without writing (state ``done``, outcome ``rejected``; ``job.reject``)."""
    done = _decide(
        conn,
        ids,
        action="reject",
        word="rejected",
        values={"state": JobState.DONE.value, "outcome": "rejected"},
        actor=actor,
        now=now,
        details={"note": note},
    )
    if metrics is not None:
        for item in done:
            if item.action == "rejected" and item.flow:
                metrics.holds.labels(item.flow, "rejected", "person").inc()
    return done
