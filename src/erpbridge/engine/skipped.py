"""Records skipped by an xref lookup with ``missing="skip"``: read again, map again.

A record skipped because its lookup had no pair (docs/mapping.md, "When the xref has no
pair") is decided by the xref, not by the record: once the pair exists, the same version
of the record should be written. The dedup on (flow, record id, version) would drop it,
so a full read on purpose (a cron schedule, ``erpbridge sync``, with or without
``--force``) renames the skipped job's version to ``<version>~skipped:<job id>`` first,
and the version is queued and mapped again. Polls do not: a poll of a source without
change stamps (an ERP's stock) reads every record each time, and re-queueing every skipped
record there would add a job per skipped record and poll for nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy import Connection

from erpbridge.engine.jobs import JobState, Trigger
from erpbridge.engine.returned import base_version
from erpbridge.store.match import one_of
from erpbridge.store.schema import attempts, jobs

__all__ = ["RECHECK_TRIGGERS", "SKIP_CLASS", "WHEN_CLASS", "WHEN_FALSE", "free_skipped_versions"]

#: intake triggers that queue again the versions an xref lookup skipped.
RECHECK_TRIGGERS = frozenset({Trigger.SCHEDULE.value, Trigger.MANUAL.value, Trigger.RESYNC.value})
#: the attempt class of a job skipped by an xref lookup (its outcome is ``filtered``).
SKIP_CLASS = "xref"
#: the attempt class and message of a job the flow's ``when:`` skipped (outcome
#: ``filtered``), whether the worker or intake (engine/enqueue.py) found it false. Those
#: stay skipped: the record, not an xref pair, decides.
WHEN_CLASS = "when"
WHEN_FALSE = "when: is false"
_VERSION_CHARS = 255  # jobs.source_version
_CHUNK = 500


def free_skipped_versions(conn: Connection, flow: str, changes: Sequence[tuple[str, str]]) -> int:
    """Rename the versions of skipped jobs among (record id, version) ``changes``.

    One query per 500 records and one update for those found (caller's transaction).
    Returns how many were renamed.
    """
    wanted = set(changes)
    ids = sorted({record_id for record_id, _ in changes})
    found: list[tuple[int, str]] = []
    for start in range(0, len(ids), _CHUNK):
        skipped_attempt = (
            sa.select(attempts.c.id)
            .where(
                attempts.c.job_id == jobs.c.id,
                attempts.c.outcome == "filtered",
                attempts.c.error_class == SKIP_CLASS,
            )
            .exists()
        )
        rows = conn.execute(
            sa.select(jobs.c.id, jobs.c.source_id, jobs.c.source_version).where(
                jobs.c.flow == flow,
                one_of(conn, jobs.c.source_id, ids[start : start + _CHUNK]),
                jobs.c.state == JobState.DONE.value,
                jobs.c.outcome == "filtered",
                skipped_attempt,
            )
        ).all()
        # A returned version's job is named ``<version>~after:<job>`` (engine/returned.py).
        found += [
            (int(str(i)), str(v)) for i, s, v in rows if (str(s), base_version(str(v))) in wanted
        ]
    if found:
        conn.execute(
            jobs.update()
            .where(jobs.c.id == sa.bindparam("b_id"))
            .values(source_version=sa.bindparam("b_version")),
            [{"b_id": job_id, "b_version": _renamed(v, job_id)} for job_id, v in found],
        )
    return len(found)


def _renamed(version: str, job_id: int) -> str:
    mark = f"~skipped:{job_id}"
    return version[: _VERSION_CHARS - len(mark)] + mark
