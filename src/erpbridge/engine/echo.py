"""The echo check (DESIGN.md §3.5): a payload the target record already holds is not written.

Compared at the mapped level, per target record, with what the hub itself last wrote
there (store table ``echo_hashes``: one row per record *and flow*, committed with every
write). Several flows may write one record, each its own fields (a customer flow and a
credit flow onto one CRM account): each keeps its own row, so neither overwrites the
other's, and a payload is an echo when, field by field, the last value the hub wrote to
that field of the record (by whichever flow) is the value it would write now.

Cost: one indexed query per batch (all flows' rows of the batch's target records) and one
hash per payload, as before; per-field digests are computed for each payload written
(stored with its hash) and, when checking, only for records another flow also wrote.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from erpbridge.engine.flow import FlowPlan
from erpbridge.engine.jobs import Job, Trigger
from erpbridge.engine.metrics import Metrics
from erpbridge.engine.outcome import BatchOutcome
from erpbridge.engine.queue import Finished
from erpbridge.engine.snapshot import field_digests, fields_hash
from erpbridge.engine.xref import EchoHash, load_echo_hashes
from erpbridge.spi.records import Record

__all__ = ["FORCING_TRIGGERS", "echo_of", "is_echo", "skip_unchanged"]

#: the commit time of a row not committed yet (rows read from the store always have one)
_NEVER = datetime.min.replace(tzinfo=UTC)

#: triggers that always write, even a payload equal to the last one written.
FORCING_TRIGGERS = frozenset({Trigger.RESYNC.value, Trigger.REPLAY.value, Trigger.RECON.value})


def echo_of(payload: Mapping[str, object], version: str | None) -> EchoHash:
    """What to remember of a payload just written: its hash and a digest per field."""
    return EchoHash(fields_hash(payload, payload), field_digests(payload, payload), version)


def skip_unchanged(
    store: sa.Engine,
    metrics: Metrics,
    plan: FlowPlan,
    mapped: list[tuple[Job, Record, dict[str, object]]],
    target_ids: Mapping[int, str],
    batch: BatchOutcome,
) -> list[tuple[Job, Record, dict[str, object]]]:
    """Skip writes whose payload the target record already holds from our own writes.

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
        rows = written.get(target_id) if target_id else None
        if rows and job.trigger not in FORCING_TRIGGERS and is_echo(plan.name, payload, rows):
            batch.finished.append(Finished(job, "unchanged", target_id, payload))
            metrics.echoes.labels(plan.name).inc()
        else:
            keep.append((job, record, payload))
    return keep


def is_echo(flow: str, payload: Mapping[str, object], rows: Sequence[EchoHash]) -> bool:
    """True when the record already holds ``payload``, as far as the hub's writes tell.

    ``rows`` are what each flow last wrote to the record. Each field of the payload must
    equal the value of the last write of that field (rows committed at the same moment
    must all agree). A field no flow wrote, or a row from before migration 0005 whose
    whole payload differs, makes it a write.
    """
    whole = fields_hash(payload, payload)
    own = next((row for row in rows if row.flow == flow), None)
    others = [row for row in rows if row is not own and any(name in row.fields for name in payload)]
    if not others:  # the usual case: only this flow wrote these fields
        return own is not None and own.hash == whole
    if (
        own is not None
        and own.hash == whole
        and all((row.written_at or _NEVER) < (own.written_at or _NEVER) for row in others)
    ):
        return True  # this flow's own last write, and none of its fields written since
    digests: dict[str, str] | None = None
    for name in payload:
        writers = [row for row in rows if name in row.fields]
        if not writers:
            return False
        last = max(row.written_at or _NEVER for row in writers)
        for row in writers:
            if (row.written_at or _NEVER) != last or row.hash == whole:
                continue  # an older write, or one of exactly this payload
            digest = row.fields[name]
            if digest is None:  # before 0005: only the hash of the whole payload is known
                if fields_hash(payload, row.fields) != row.hash:
                    return False
                continue
            if digests is None:
                digests = field_digests(payload, payload)
            if digests[name] != digest:
                return False
    return True
