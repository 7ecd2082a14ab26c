"""The echo check (DESIGN.md §3.5): a payload equal to the last one written is not written.

Compared at the mapped level, per target record, with the hashes the worker commits with
every write (store table ``echo_hashes``).
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa

from erpbridge.engine.flow import FlowPlan
from erpbridge.engine.jobs import Job, Trigger
from erpbridge.engine.metrics import Metrics
from erpbridge.engine.outcome import BatchOutcome
from erpbridge.engine.queue import Finished
from erpbridge.engine.snapshot import fields_hash
from erpbridge.engine.xref import load_echo_hashes
from erpbridge.spi.records import Record

__all__ = ["FORCING_TRIGGERS", "skip_unchanged"]

#: triggers that always write, even a payload equal to the last one written.
FORCING_TRIGGERS = frozenset({Trigger.RESYNC.value, Trigger.REPLAY.value, Trigger.RECON.value})


def skip_unchanged(
    store: sa.Engine,
    metrics: Metrics,
    plan: FlowPlan,
    mapped: list[tuple[Job, Record, dict[str, object]]],
    target_ids: Mapping[int, str],
    batch: BatchOutcome,
) -> list[tuple[Job, Record, dict[str, object]]]:
    """Skip writes whose payload equals what we last wrote to that target record.

    This is the echo check (DESIGN.md §3.5). It compares at the mapped level, not the
    raw record: our own write coming back to the other side maps to the payload that
    side last got, so nothing is written and the loop ends; a real edit, or data the
    system added itself (an order number, a status), maps to something new and flows.
    A forced sync (``erpbridge sync --force``), a replay or a recon repair always
    writes, so a person can force a record back in line.
    """
    if not target_ids:
        return mapped
    with store.connect() as conn:
        written = load_echo_hashes(
            conn, plan.target_connection, plan.spec.target.object, set(target_ids.values())
        )
    keep = []
    for job, record, payload in mapped:
        target_id = target_ids.get(job.id)
        echo = written.get(target_id) if target_id else None
        if (
            echo is not None
            and job.trigger not in FORCING_TRIGGERS
            and fields_hash(payload, sorted(payload)) == echo.hash
        ):
            batch.finished.append(Finished(job, "unchanged", target_id, payload))
            metrics.echoes.labels(plan.name).inc()
        else:
            keep.append((job, record, payload))
    return keep
