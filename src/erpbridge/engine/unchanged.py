"""A change that carries nothing new for its flow is done as it is taken in (DESIGN.md §3.5).

A status the hub writes back onto a CRM order gives the order a new version (the CRM
moves its change stamp), and the flow that sends orders to the ERP reads the order
again. Mapped, it gives the payload that flow last wrote, and the echo check
(engine/echo.py) ends it as ``unchanged``: a job that cost a claim, a mapping and a
commit, and did nothing. Here, at intake, such a change is recognised before it is queued.

Its *content digest* covers what the flow's worker would map from:

- the values of the fields the flow's rules, key fields and ``hold:`` read
  (:attr:`FlowPlan.content_fields`), lines included;
- the answer of its ``when:`` filter, not the fields only the filter reads (an order
  flow's filter may read the ERP's order number that the status written back fills in,
  which changes nothing for an activated order);
- whether it is a delete;

keyed by a fingerprint of the flow's configuration (the mapping's version, which covers
its value tables and aliases; the flow's spec; the field list). Each job keeps the digest
it was taken in with (``jobs.source_digest``).

A change whose digest equals the one of its record's newest job of the flow, when that
job is done with a write or an echo (``created``, ``updated``, ``unchanged``) and no other
flow has written a field of its target record since (the echo check's rule for records
several flows write: such a field is this flow's to write again), is stored
``done`` with outcome ``unchanged`` and no attempt: the record's history shows it, and a
poll's overlap reading it again finds a duplicate. It counts as ``unchanged`` in the
intake's figures (``erpbridge_intake_total{result="unchanged"}``, a run's duplicates).

Anything else queues as before: a record whose newest job is open, held, dead, filtered
or skipped; a change that came without the fields (an id-only webhook); a flow whose
fields are not known statically (a bare ``source``); a record whose newest job is from
before migration 0007 (no digest). And only changes the source gave on its own (a poll, a
webhook, a broker message, a file) are done so: a schedule, a manual or forced sync, a
replay and a recon repair always queue, so a person can make a record go through again.

What the digest does not see: a payload may also depend on xref pairs (an order's
customer linked to another ERP customer since its last write) and on ``now()``. Such a
record is not written again because of a change in fields the flow does not read; its
next real change, a sync or a recon carries the new pairing (before, the echo check
wrote it only by accident of such a change).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy import Connection

from erpbridge.engine.flow import FlowPlan
from erpbridge.engine.jobs import JobState, Trigger
from erpbridge.engine.snapshot import canonical_json, snapshot_covers
from erpbridge.engine.xref import load_echo_hashes
from erpbridge.store.match import unnest_values
from erpbridge.store.schema import jobs

__all__ = [
    "SOURCE_TRIGGERS",
    "Assessed",
    "ContentKey",
    "RecordJobs",
    "content_key",
    "record_jobs",
    "unchanged_records",
]

#: triggers whose changes the source gave on its own: the ones dropped when unchanged.
SOURCE_TRIGGERS = frozenset(
    {Trigger.POLL.value, Trigger.WEBHOOK.value, Trigger.BROKER.value, Trigger.FILE.value}
)
#: outcomes of a done job whose payload the target holds (written, or found there)
_HELD_BY_TARGET = ("created", "updated", "unchanged")
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class ContentKey:
    """How one flow digests a change's content (see the module docstring).

    Attributes:
        fields: the source fields the digest covers, sorted.
        fingerprint: 32 bytes standing for the flow's configuration (the digest's key).
        target: the flow's target (connection, object).
        accepts: the flow's ``when:`` filter (None: it has none).
        read: every source field the flow reads: a snapshot must cover them.
        owner: (entity, source connection) of the flow's records.
        key_fields: the fields other flows find them by (``FlowPlan.key_fields``): intake
            saves them for a change it ends itself, as the worker does for the rest.
    """

    fields: tuple[str, ...]
    fingerprint: bytes
    target: tuple[str, str]
    accepts: Callable[[Mapping[str, object]], bool] | None = None
    read: frozenset[str] = frozenset()
    owner: tuple[str, str] = ("", "")
    key_fields: tuple[str, ...] = ()

    def assess(self, snapshot: Mapping[str, Any]) -> Assessed:
        """The digest of a job snapshot (``record_to_snapshot``) and its ``when:`` answer.

        Both are None when the snapshot may lack a field the flow reads (read with a
        narrower field list) or the filter cannot be evaluated on it (the worker then
        says why). The filter sees the snapshot's values, as the worker does when it
        maps from the snapshot.
        """
        if not snapshot_covers(snapshot, self.read):
            return Assessed(None, None)
        values = snapshot.get("fields") or {}
        passes = True
        if self.accepts is not None:
            try:
                passes = bool(self.accepts(values))
            except Exception:  # noqa: BLE001 - the worker dead-letters it with the reason
                return Assessed(None, None)
        content = [
            bool(snapshot.get("deleted")),
            passes,
            [values.get(name) for name in self.fields],
        ]
        hashed = hashlib.blake2b(canonical_json(content), digest_size=16, key=self.fingerprint)
        return Assessed(hashed.hexdigest(), passes)


class Assessed(NamedTuple):
    """What intake knows of a change from its snapshot (:meth:`ContentKey.assess`).

    Attributes:
        digest: of the content the flow reads; None when not known from the snapshot.
        passes: the answer of the flow's ``when:`` (True without one); None when not
            known from the snapshot.
    """

    digest: str | None
    passes: bool | None


def content_key(plan: FlowPlan) -> ContentKey | None:
    """The flow's :class:`ContentKey`; None when its fields are not known statically."""
    if plan.source_fields is None or plan.content_fields is None:
        return None
    fields = tuple(sorted(plan.content_fields))
    config = {
        "mapping": plan.mapper.version(),
        "flow": plan.spec.model_dump(mode="json"),
        "fields": fields,
    }
    fingerprint = hashlib.blake2b(canonical_json(config), digest_size=32).digest()
    accepts = plan.mapper.accepts if plan.spec.when is not None else None
    target = (plan.target_connection, plan.spec.target.object)
    owner = (plan.entity, plan.source_connection)
    return ContentKey(
        fields, fingerprint, target, accepts, plan.source_fields, owner, plan.key_fields
    )


@dataclass(frozen=True, slots=True)
class RecordJobs:
    """What intake needs to know of one record's jobs of a flow (one query for a page).

    Attributes:
        state, outcome, digest, target_id: of the record's newest job.
        done_stamp: the newest source stamp among its done jobs (the stale check).
        open: some job of the record is queued or held (a new one supersedes it).
    """

    state: str
    outcome: str | None
    digest: str | None
    target_id: str | None
    done_stamp: datetime | None
    open: bool


def record_jobs(conn: Connection, flow: str, ids: Sequence[str]) -> dict[str, RecordJobs]:
    """record id -> :class:`RecordJobs`, for the records of ``ids`` that have a job of
    ``flow``: one indexed query per 500 records (the unique index's leading columns)."""
    out: dict[str, RecordJobs] = {}
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        if conn.dialect.name == "postgresql":  # an index probe per record (store/match.py)
            rows = conn.execute(_PG_RECORD_JOBS, {"flow": flow, "w_id": chunk})
        else:
            rows = conn.execute(_RECORD_JOBS, {"flow": flow, "ids": chunk})
        for source_id, state, outcome, digest, target_id, stamp, is_open in rows:
            out[str(source_id)] = RecordJobs(
                str(state),
                None if outcome is None else str(outcome),
                None if digest is None else str(digest),
                None if target_id is None else str(target_id),
                stamp if isinstance(stamp, datetime) else None,
                bool(is_open),
            )
    return out


def _record_jobs_statements() -> tuple[sa.Select[Any], sa.Select[Any]]:
    """:func:`record_jobs`' query: (PostgreSQL's, the others'), built once."""
    own = jobs.alias("own")
    done = own.c.state == JobState.DONE.value
    waiting = own.c.state.in_((JobState.QUEUED.value, JobState.HELD.value))
    figures = (
        sa.func.max(own.c.id).label("newest"),
        sa.func.max(sa.case((done, own.c.source_stamp))).label("done_stamp"),
        sa.func.max(sa.case((waiting, 1), else_=0)).label("open"),
    )
    w = unnest_values("w", id=jobs.c.source_id)
    lateral = (
        sa.select(w.c.id.label("source_id"), *figures)
        .where(own.c.flow == sa.bindparam("flow"), own.c.source_id == w.c.id)
        .lateral("per_record")
    )
    grouped = (
        sa.select(own.c.source_id, *figures)
        .where(own.c.flow == sa.bindparam("flow"))
        .where(own.c.source_id.in_(sa.bindparam("ids", expanding=True)))
        .group_by(own.c.source_id)
        .subquery("per_record")
    )
    out = []
    for per_record, joined in ((lateral, w.join(lateral, sa.true())), (grouped, grouped)):
        out.append(
            sa.select(
                per_record.c.source_id,
                jobs.c.state,
                jobs.c.outcome,
                jobs.c.source_digest,
                jobs.c.target_id,
                per_record.c.done_stamp,
                per_record.c.open,
            ).select_from(joined.join(jobs, jobs.c.id == per_record.c.newest))
        )
    return out[0], out[1]


_PG_RECORD_JOBS, _RECORD_JOBS = _record_jobs_statements()


def unchanged_records(
    conn: Connection,
    flow: str,
    key: ContentKey,
    digests: Mapping[str, str],
    known: Mapping[str, RecordJobs],
) -> dict[str, str]:
    """record id -> target id, for the records of ``digests`` whose newest job of ``flow``
    (``known``: :func:`record_jobs`) is done, with its payload on the target (written or
    an echo), and was taken in with the same digest; and whose target record no other
    flow wrote a field of since.

    That last condition keeps the echo check's rule for records several flows write
    (engine/echo.py): a field another flow wrote since is this flow's to write again.
    One indexed query per 500 records on the echo hashes of other flows (usually none
    found), in the caller's transaction.
    """
    found: dict[str, str] = {}
    for source_id, digest in digests.items():
        job = known.get(source_id)
        if (
            job is not None
            and job.state == JobState.DONE.value
            and job.outcome in _HELD_BY_TARGET
            and job.target_id is not None
            and job.digest is not None
            and job.digest == digest
        ):
            found[source_id] = job.target_id
    if found:
        rewritten = _written_by_others_since(conn, flow, key.target, set(found.values()))
        found = {s: t for s, t in found.items() if t not in rewritten}
    return found


def _written_by_others_since(
    conn: Connection, flow: str, target: tuple[str, str], target_ids: set[str]
) -> set[str]:
    """The target records a field of which another flow wrote after ``flow`` last did."""
    connection, object_name = target
    others = load_echo_hashes(conn, connection, object_name, target_ids, other_than=flow)
    if not others:  # usually: no other flow writes these records
        return set()
    own = load_echo_hashes(conn, connection, object_name, others)
    out = set()
    for record_id, writes in others.items():
        mine = next((e for e in own.get(record_id, []) if e.flow == flow), None)
        if mine is None or mine.written_at is None:
            out.add(record_id)
            continue
        since = mine.written_at
        if any(
            (e.written_at is None or e.written_at >= since) and set(e.fields) & set(mine.fields)
            for e in writes
        ):
            out.add(record_id)
    return out
