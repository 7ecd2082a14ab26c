"""One-statement forms of the queue's batch writes (PostgreSQL and SQLite).

A worker's round was bound by per-row statements: a ``finish_jobs`` of 1000 jobs ran 1000
UPDATEs, numbering their attempts took a select before the insert, and an intake batch of
1000 jobs was a ``VALUES`` list of 14,000 parameters. Here each is one statement with a
constant text (prepared once per connection) and one parameter: the rows as a JSON
array, encoded by orjson and unpacked by the database, with ``json_to_recordset`` on
PostgreSQL and ``json_each`` on SQLite. On PostgreSQL that saves round trips and planning;
on SQLite (in process, no round trip) it saves SQLAlchemy's per-row parameter work
(building, type-processing and binding 14 parameters a job), which was the largest part of
the store's CPU in the end-to-end benchmark (docs/performance.md). (Typed arrays through
``unnest`` were tried first on PostgreSQL: psycopg's text-array encoding cost three times
the CPU of the old path for jobs with large snapshots.) SQLite needs 3.38 or newer for
``->>``; Python 3.11's own is 3.40 or newer. Other databases keep the plain statements in
:mod:`erpbridge.engine.queue`.

Datetimes inside the JSON: ISO 8601 with its offset for PostgreSQL (it reads them back to
the same instant); on SQLite, the text SQLAlchemy itself stores there (naive UTC,
``YYYY-MM-DD HH:MM:SS.ffffff``), so rows written here read back exactly like rows written
through the table objects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from erpbridge.engine.snapshot import json_safe
from erpbridge.store.json_codec import dumps
from erpbridge.store.types import UTCDateTime

__all__ = ["DIALECTS", "enqueue_jobs_json", "finish_jobs_json", "log_attempts_json"]

_PG_FINISH = sa.text(
    """
    UPDATE jobs SET state = 'done', outcome = v.outcome, target_id = v.target_id,
        mapped_payload = v.payload, mapping_version = v.version,
        lease_owner = NULL, lease_expires_at = NULL, updated_at = :now
    FROM json_to_recordset(CAST(:rows AS json))
        AS v(id bigint, outcome varchar, target_id varchar, payload json, version varchar)
    WHERE jobs.id = v.id AND jobs.lease_owner = :worker
    """
).bindparams(sa.bindparam("now", type_=UTCDateTime))

_PG_ATTEMPTS = sa.text(
    """
    INSERT INTO attempts (job_id, number, worker, started_at, finished_at, outcome,
                          error_class, error_message, target_call)
    SELECT v.job_id,
           COALESCE((SELECT max(a.number) FROM attempts a WHERE a.job_id = v.job_id), 0)
               + v.seq,
           :worker, :now, :now, v.outcome, v.error_class, v.error_message, v.target_call
    FROM json_to_recordset(CAST(:rows AS json))
        AS v(job_id bigint, seq integer, outcome varchar, error_class varchar,
             error_message text, target_call json)
    """
).bindparams(sa.bindparam("now", type_=UTCDateTime))

_PG_ENQUEUE = sa.text(
    """
    INSERT INTO jobs (flow, source_id, source_version, source_stamp, kind, trigger, state,
                      outcome, partition, attempts, next_attempt_at, source_snapshot,
                      source_digest, target_id, created_at, updated_at)
    SELECT :flow, v.source_id, v.source_version, v.source_stamp, v.kind, :trigger, v.state,
           v.outcome, v.partition, 0, :now, v.snapshot, v.digest, v.target_id, :now, :now
    FROM json_to_recordset(CAST(:rows AS json))
        AS v(source_id varchar, source_version varchar, source_stamp timestamptz,
             kind varchar, state varchar, outcome varchar, partition integer, snapshot json,
             digest varchar, target_id varchar)
    ON CONFLICT (flow, source_id, source_version) DO NOTHING
    RETURNING id, source_id, source_stamp, state, outcome
    """
).bindparams(sa.bindparam("now", type_=UTCDateTime))

_SQLITE_FINISH = sa.text(
    """
    UPDATE jobs SET state = 'done', outcome = v.value ->> 'outcome',
        target_id = v.value ->> 'target_id',
        mapped_payload = NULLIF(v.value -> 'payload', 'null'),
        mapping_version = v.value ->> 'version',
        lease_owner = NULL, lease_expires_at = NULL, updated_at = :now
    FROM json_each(:rows) AS v
    WHERE jobs.id = v.value ->> 'id' AND jobs.lease_owner = :worker
    """
).bindparams(sa.bindparam("now", type_=UTCDateTime))

_SQLITE_ATTEMPTS = sa.text(
    """
    INSERT INTO attempts (job_id, number, worker, started_at, finished_at, outcome,
                          error_class, error_message, target_call)
    SELECT v.value ->> 'job_id',
           COALESCE((SELECT max(a.number) FROM attempts a
                     WHERE a.job_id = v.value ->> 'job_id'), 0) + (v.value ->> 'seq'),
           :worker, :now, :now, v.value ->> 'outcome', v.value ->> 'error_class',
           v.value ->> 'error_message', NULLIF(v.value -> 'target_call', 'null')
    FROM json_each(:rows) AS v
    """
).bindparams(sa.bindparam("now", type_=UTCDateTime))

# ``WHERE true``: SQLite's parser needs it between an INSERT's SELECT and its ON CONFLICT.
_SQLITE_ENQUEUE = (
    sa.text(
        """
    INSERT INTO jobs (flow, source_id, source_version, source_stamp, kind, trigger, state,
                      outcome, partition, attempts, next_attempt_at, source_snapshot,
                      source_digest, target_id, created_at, updated_at)
    SELECT :flow, v.value ->> 'source_id', v.value ->> 'source_version',
           v.value ->> 'source_stamp', v.value ->> 'kind', :trigger, v.value ->> 'state',
           v.value ->> 'outcome', v.value ->> 'partition', 0, :now,
           NULLIF(v.value -> 'snapshot', 'null'), v.value ->> 'digest',
           v.value ->> 'target_id', :now, :now
    FROM json_each(:rows) AS v WHERE true
    ON CONFLICT (flow, source_id, source_version) DO NOTHING
    RETURNING id, source_id, source_stamp, state, outcome
    """
    )
    .bindparams(sa.bindparam("now", type_=UTCDateTime))
    .columns(
        sa.column("id", sa.BigInteger),
        sa.column("source_id", sa.String),
        sa.column("source_stamp", UTCDateTime),
        sa.column("state", sa.String),
    )
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _sqlite_text(value: datetime | None) -> str | None:
    """``value`` as SQLAlchemy stores a DateTime on SQLite (naive UTC text)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the store; use timezone-aware UTC")
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


#: dialect name -> (enqueue, finish, attempts statements, datetime-in-JSON encoder)
_FORMS: dict[str, tuple[Any, Any, Any, Callable[[datetime | None], str | None]]] = {
    "postgresql": (_PG_ENQUEUE, _PG_FINISH, _PG_ATTEMPTS, _iso),
    "sqlite": (_SQLITE_ENQUEUE, _SQLITE_FINISH, _SQLITE_ATTEMPTS, _sqlite_text),
}

#: the dialects these one-statement forms serve
DIALECTS = frozenset(_FORMS)


def enqueue_jobs_json(
    conn: Connection, flow: str, trigger: str, rows: Sequence[Mapping[str, Any]], now: datetime
) -> list[tuple[int, str, datetime | None, str, str | None]]:
    """Insert job rows (``enqueue_changes``' dicts) unless their dedup key exists; returns
    (id, source id, stamp, state, outcome) of those inserted."""
    statement, _, _, stamp = _FORMS[conn.dialect.name]
    payload = [
        {
            "source_id": r["source_id"],
            "source_version": r["source_version"],
            "source_stamp": stamp(r["source_stamp"]),
            "kind": r["kind"],
            "state": r["state"],
            "outcome": r["outcome"],
            "partition": r["partition"],
            "snapshot": r["source_snapshot"],  # JSON-safe already (record_to_snapshot)
            "digest": r.get("source_digest"),
            "target_id": r.get("target_id"),
        }
        for r in rows
    ]
    answer = conn.execute(
        statement, {"rows": dumps(payload), "flow": flow, "trigger": trigger, "now": now}
    )
    return [(row.id, row.source_id, row.source_stamp, row.state, row.outcome) for row in answer]


def finish_jobs_json(
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
    statement = _FORMS[conn.dialect.name][1]
    conn.execute(statement, {"rows": dumps(payload), "worker": worker, "now": now})


def log_attempts_json(
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
    statement = _FORMS[conn.dialect.name][2]
    conn.execute(statement, {"rows": dumps(payload), "worker": worker, "now": now})
