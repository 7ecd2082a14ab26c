"""One-statement forms of the queue's batch writes, for PostgreSQL.

A worker's round on PostgreSQL was bound by round trips and per-row statements: a
``finish_jobs`` of 1000 jobs ran 1000 UPDATEs, numbering their attempts took a select
before the insert, and an intake batch of 1000 jobs was a ``VALUES`` list of 14,000
parameters that the server parsed and planned on every call. Here each is one statement
with a constant text (prepared once per connection) and one parameter: the rows as a
JSON array, encoded by orjson and unpacked by the server with ``jsonb_to_recordset``.
(Typed arrays through ``unnest`` were tried first: psycopg's text-array encoding cost
three times the CPU of the old path for jobs with large snapshots.) SQLite keeps the
plain statements in :mod:`erpbridge.engine.queue` (it runs in process, where a statement
costs no round trip).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from erpbridge.engine.snapshot import json_safe
from erpbridge.store.json_codec import dumps
from erpbridge.store.types import UTCDateTime

__all__ = ["enqueue_jobs_pg", "finish_jobs_pg", "log_attempts_pg"]

_FINISH = sa.text(
    """
    UPDATE jobs SET state = 'done', outcome = v.outcome, target_id = v.target_id,
        mapped_payload = v.payload, mapping_version = v.version,
        lease_owner = NULL, lease_expires_at = NULL, updated_at = :now
    FROM jsonb_to_recordset(CAST(:rows AS jsonb))
        AS v(id bigint, outcome varchar, target_id varchar, payload jsonb, version varchar)
    WHERE jobs.id = v.id AND jobs.lease_owner = :worker
    """
).bindparams(sa.bindparam("now", type_=UTCDateTime))

_ATTEMPTS = sa.text(
    """
    INSERT INTO attempts (job_id, number, worker, started_at, finished_at, outcome,
                          error_class, error_message, target_call)
    SELECT v.job_id,
           COALESCE((SELECT max(a.number) FROM attempts a WHERE a.job_id = v.job_id), 0)
               + v.seq,
           :worker, :now, :now, v.outcome, v.error_class, v.error_message, v.target_call
    FROM jsonb_to_recordset(CAST(:rows AS jsonb))
        AS v(job_id bigint, seq integer, outcome varchar, error_class varchar,
             error_message text, target_call jsonb)
    """
).bindparams(sa.bindparam("now", type_=UTCDateTime))

_ENQUEUE = sa.text(
    """
    INSERT INTO jobs (flow, source_id, source_version, source_stamp, kind, trigger, state,
                      outcome, partition, attempts, next_attempt_at, source_snapshot,
                      created_at, updated_at)
    SELECT :flow, v.source_id, v.source_version, v.source_stamp, v.kind, :trigger, v.state,
           v.outcome, v.partition, 0, :now, v.snapshot, :now, :now
    FROM jsonb_to_recordset(CAST(:rows AS jsonb))
        AS v(source_id varchar, source_version varchar, source_stamp timestamptz,
             kind varchar, state varchar, outcome varchar, partition integer, snapshot jsonb)
    ON CONFLICT (flow, source_id, source_version) DO NOTHING
    RETURNING id, source_id, source_stamp, state
    """
).bindparams(sa.bindparam("now", type_=UTCDateTime))


def enqueue_jobs_pg(
    conn: Connection, flow: str, trigger: str, rows: Sequence[Mapping[str, Any]], now: datetime
) -> list[tuple[int, str, datetime | None, str]]:
    """Insert job rows (``enqueue_changes``' dicts) unless their dedup key exists; returns
    (id, source id, stamp, state) of those inserted."""
    payload = [
        {
            "source_id": r["source_id"],
            "source_version": r["source_version"],
            # ISO 8601 with its offset: PostgreSQL reads it back to the same instant.
            "source_stamp": r["source_stamp"].isoformat() if r["source_stamp"] else None,
            "kind": r["kind"],
            "state": r["state"],
            "outcome": r["outcome"],
            "partition": r["partition"],
            "snapshot": r["source_snapshot"],  # JSON-safe already (record_to_snapshot)
        }
        for r in rows
    ]
    answer = conn.execute(
        _ENQUEUE, {"rows": dumps(payload), "flow": flow, "trigger": trigger, "now": now}
    )
    return [(row.id, row.source_id, row.source_stamp, row.state) for row in answer]


def finish_jobs_pg(
    conn: Connection,
    rows: Sequence[tuple[int, str, str | None, Mapping[str, Any] | None, str | None]],
    worker: str,
    now: datetime,
) -> None:
    """Mark jobs done: rows of (job id, outcome, target id, payload, mapping version)."""
    payload = [
        {
            "id": job_id,
            "outcome": outcome,
            "target_id": target_id,
            "payload": json_safe(mapped) if mapped is not None else None,
            "version": version,
        }
        for job_id, outcome, target_id, mapped, version in rows
    ]
    conn.execute(_FINISH, {"rows": dumps(payload), "worker": worker, "now": now})


def log_attempts_pg(
    conn: Connection,
    rows: Sequence[tuple[int, str, str | None, str | None, Mapping[str, Any] | None]],
    worker: str,
    now: datetime,
) -> None:
    """Append attempt rows: (job id, outcome, error class, error message, target call),
    each numbered after the job's last logged attempt (several for one job count on)."""
    seen: dict[int, int] = {}
    payload = []
    for job_id, outcome, error_class, error_message, call in rows:
        seen[job_id] = seen.get(job_id, 0) + 1
        payload.append(
            {
                "job_id": job_id,
                "seq": seen[job_id],
                "outcome": outcome,
                "error_class": error_class,
                "error_message": error_message,
                "target_call": json_safe(call) if call else None,
            }
        )
    conn.execute(_ATTEMPTS, {"rows": dumps(payload), "worker": worker, "now": now})
