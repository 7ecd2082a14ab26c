"""One-statement forms of the queue's batch writes, for PostgreSQL.

A worker's round on PostgreSQL was bound by round trips and per-row statements: a
``finish_jobs`` of 1000 jobs ran 1000 UPDATEs, and numbering their attempts took a select
before the insert. Here each is one statement over ``unnest`` of typed arrays: the SQL
text is constant (prepared once per connection), the rows travel as a handful of array
parameters, and the server joins them in one pass. SQLite keeps the plain statements in
:mod:`erpbridge.engine.queue` (it runs in process, where a statement costs no round trip).
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
        mapped_payload = CAST(v.payload AS jsonb), mapping_version = v.version,
        lease_owner = NULL, lease_expires_at = NULL, updated_at = :now
    FROM unnest(CAST(:ids AS bigint[]), CAST(:outcomes AS varchar[]),
                CAST(:target_ids AS varchar[]), CAST(:payloads AS text[]),
                CAST(:versions AS varchar[]))
        AS v(id, outcome, target_id, payload, version)
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
           :worker, :now, :now, v.outcome, v.error_class, v.error_message,
           CAST(v.target_call AS jsonb)
    FROM unnest(CAST(:job_ids AS bigint[]), CAST(:seqs AS integer[]),
                CAST(:outcomes AS varchar[]), CAST(:error_classes AS varchar[]),
                CAST(:error_messages AS text[]), CAST(:target_calls AS text[]))
        AS v(job_id, seq, outcome, error_class, error_message, target_call)
    """
).bindparams(sa.bindparam("now", type_=UTCDateTime))


_ENQUEUE = sa.text(
    """
    INSERT INTO jobs (flow, source_id, source_version, source_stamp, kind, trigger, state,
                      outcome, partition, attempts, next_attempt_at, source_snapshot,
                      created_at, updated_at)
    SELECT :flow, v.source_id, v.source_version, v.source_stamp, v.kind, :trigger, v.state,
           v.outcome, v.partition, 0, :now, CAST(v.snapshot AS jsonb), :now, :now
    FROM unnest(CAST(:source_ids AS varchar[]), CAST(:versions AS varchar[]),
                CAST(:stamps AS timestamptz[]), CAST(:kinds AS varchar[]),
                CAST(:states AS varchar[]), CAST(:outcomes AS varchar[]),
                CAST(:partitions AS integer[]), CAST(:snapshots AS text[]))
        AS v(source_id, source_version, source_stamp, kind, state, outcome, partition,
             snapshot)
    ON CONFLICT (flow, source_id, source_version) DO NOTHING
    RETURNING id, source_id, source_stamp, state
    """
).bindparams(sa.bindparam("now", type_=UTCDateTime))


def enqueue_jobs_pg(
    conn: Connection, flow: str, trigger: str, rows: Sequence[Mapping[str, Any]], now: datetime
) -> list[tuple[int, str, datetime | None, str]]:
    """Insert job rows (``enqueue_changes``' dicts) unless their dedup key exists; returns
    (id, source id, stamp, state) of those inserted.

    One prepared statement whatever the batch size: a multi-row ``VALUES`` of 1000 jobs
    has 14,000 parameters that the server parses and plans on every call.
    """
    answer = conn.execute(
        _ENQUEUE,
        {
            "source_ids": [r["source_id"] for r in rows],
            "versions": [r["source_version"] for r in rows],
            "stamps": [r["source_stamp"] for r in rows],
            "kinds": [r["kind"] for r in rows],
            "states": [r["state"] for r in rows],
            "outcomes": [r["outcome"] for r in rows],
            "partitions": [r["partition"] for r in rows],
            "snapshots": [_json_text(r["source_snapshot"]) for r in rows],
            "flow": flow,
            "trigger": trigger,
            "now": now,
        },
    )
    return [(row.id, row.source_id, row.source_stamp, row.state) for row in answer]


def _json_text(value: Any) -> str:
    """What the store's JSON column type writes for ``value`` (``None`` is JSON ``null``)."""
    return dumps(json_safe(value) if value is not None else None)


def finish_jobs_pg(
    conn: Connection,
    rows: Sequence[tuple[int, str, str | None, Mapping[str, Any] | None, str | None]],
    worker: str,
    now: datetime,
) -> None:
    """Mark jobs done: rows of (job id, outcome, target id, payload, mapping version)."""
    conn.execute(
        _FINISH,
        {
            "ids": [r[0] for r in rows],
            "outcomes": [r[1] for r in rows],
            "target_ids": [r[2] for r in rows],
            "payloads": [_json_text(r[3]) for r in rows],
            "versions": [r[4] for r in rows],
            "worker": worker,
            "now": now,
        },
    )


def log_attempts_pg(
    conn: Connection,
    rows: Sequence[tuple[int, str, str | None, str | None, Mapping[str, Any] | None]],
    worker: str,
    now: datetime,
) -> None:
    """Append attempt rows: (job id, outcome, error class, error message, target call),
    each numbered after the job's last logged attempt (several for one job count on)."""
    seen: dict[int, int] = {}
    seqs = []
    for job_id, *_ in rows:
        seen[job_id] = seen.get(job_id, 0) + 1
        seqs.append(seen[job_id])
    conn.execute(
        _ATTEMPTS,
        {
            "job_ids": [r[0] for r in rows],
            "seqs": seqs,
            "outcomes": [r[1] for r in rows],
            "error_classes": [r[2] for r in rows],
            "error_messages": [r[3] for r in rows],
            "target_calls": [dumps(json_safe(r[4]) if r[4] else None) for r in rows],
            "worker": worker,
            "now": now,
        },
    )
