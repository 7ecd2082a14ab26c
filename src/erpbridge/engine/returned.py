"""A record that returns to an earlier state: its version is queued again, under a new name.

Changes without a change stamp (an ERP's stock or credit account read whole each time)
carry a content digest as their version (docs/engine.md). Stock 10 → 5 → 10 gives the
versions A, B, A: the dedup on (flow, record id, version) would take the second A for the
first one, already written, and the target would keep 5 for ever.

So at intake, a stamp-less change read from the source whose version an *older* job of
the record already had, while the record's newest job the source gave (not a replay, a
recon repair or a dependency sync, whose versions the engine makes) has another
version, is stored as
``<version>~after:<newest job id>``: a new job, written like any other, with its own
idempotency key (the first A's write may be remembered by the target under its key). The
name stays unique, as the newest job id grows with every job of the record. A change
whose version is the newest job's (or that job's ``~after:`` name) stays a duplicate, so
reading an unchanged source again queues nothing.

Changes with a stamp are left alone: their versions do not come back (a stamp older than
the last one written is dropped as stale instead).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from erpbridge.spi.records import Change
from erpbridge.store.match import unnest_values
from erpbridge.store.schema import jobs

__all__ = [
    "AFTER_MARK",
    "base_version",
    "existing_versions",
    "read_from_source",
    "returned_versions",
]

#: what joins a returned version to the id of the job it came after.
AFTER_MARK = "~after:"
#: what engine/skipped.py appends to a skipped job's version to free it.
_SKIPPED_MARK = "~skipped:"
#: jobs whose version the engine made, not the source: a replay (``<v>#replay-…``), a
#: recon repair (``recon:<run>``), a dependency sync (``dependency:<flow>:<job>``).
_ENGINE_TRIGGERS = ("replay", "recon")
_DEPENDENCY_PREFIX = "dependency:"
_VERSION_CHARS = 255  # jobs.source_version
_CHUNK = 500


def returned_versions(
    conn: Connection, flow: str, changes: Sequence[Change]
) -> dict[tuple[str, str], str]:
    """(record id, version) → the name to store it under, for the versions that returned.

    Two indexed queries per 500 stamp-less records (the newest job of each; the older jobs
    with the same version, for records whose newest job has another), in the caller's
    transaction. Changes not in the answer keep their version.
    """
    wanted = {
        (c.record_id, c.version)
        for c in changes
        if c.stamp is None and c.version and c.record is not None  # read from the source
    }
    if not wanted:
        return {}
    ids = sorted({record_id for record_id, _ in wanted})
    out: dict[tuple[str, str], str] = {}
    for start in range(0, len(ids), _CHUNK):
        newest = _newest_jobs(conn, flow, ids[start : start + _CHUNK])
        moved = [
            (record_id, version)
            for record_id, version in wanted
            if record_id in newest and base_version(newest[record_id][1]) != version
        ]
        for record_id, version in existing_versions(conn, flow, moved):
            job_id = newest[record_id][0]
            mark = f"{AFTER_MARK}{job_id}"
            out[(record_id, version)] = version[: _VERSION_CHARS - len(mark)] + mark
    return out


def base_version(version: str) -> str | None:
    """The source version a stored name stands for (``A~after:12`` → ``A``).

    None for a name freed by engine/skipped.py (``…~skipped:<job>``): that job no longer
    stands for its version, which is queued again.
    """
    if _SKIPPED_MARK in version:
        return None
    return version.split(AFTER_MARK, 1)[0]


def read_from_source(table: Any = jobs) -> sa.ColumnElement[bool]:
    """Jobs (of ``table``: the jobs or an alias) of versions the source gave (not a
    replay, a recon repair, a dependency sync)."""
    return sa.and_(
        table.c.trigger.not_in(_ENGINE_TRIGGERS),
        sa.not_(table.c.source_version.startswith(_DEPENDENCY_PREFIX, autoescape=True)),
    )


def _newest_jobs(conn: Connection, flow: str, ids: Sequence[str]) -> dict[str, tuple[int, str]]:
    """record id → (id, stored version) of its newest job of ``flow`` the source gave.

    A near twin of :func:`erpbridge.engine.unchanged.record_jobs`, kept apart on purpose:
    folded into it (one query fewer per page of new stamp-less changes), the re-read of
    an unchanged stock table, all duplicates, took 1.00-1.02 s against 0.69-0.73 s for
    20,000 records on PostgreSQL (bench/intake_dups.py, docs/performance.md).
    """
    if conn.dialect.name == "postgresql":  # an index probe per record (store/match.py)
        rows = conn.execute(_PG_NEWEST, {"flow": flow, "w_id": list(ids)})
    else:
        rows = conn.execute(_NEWEST, {"flow": flow, "ids": list(ids)})
    return {str(s): (int(str(i)), str(v)) for s, i, v in rows}


def _newest_statements() -> tuple[sa.Select[Any], sa.Select[Any]]:
    """The newest job the source gave of each record: (PostgreSQL's, the others')."""
    w = unnest_values("w", id=jobs.c.source_id)
    own = jobs.alias("own")
    per_id = (
        sa.select(sa.func.max(own.c.id).label("newest"))
        .where(own.c.flow == sa.bindparam("flow"), own.c.source_id == w.c.id)
        .where(read_from_source(own))
        .lateral("per_id")
    )
    pg = sa.select(w.c.id, jobs.c.id, jobs.c.source_version).select_from(
        w.join(per_id, sa.true()).join(jobs, jobs.c.id == per_id.c.newest)
    )
    newest = (
        sa.select(own.c.source_id, sa.func.max(own.c.id).label("newest"))
        .where(own.c.flow == sa.bindparam("flow"))
        .where(own.c.source_id.in_(sa.bindparam("ids", expanding=True)), read_from_source(own))
        .group_by(own.c.source_id)
        .subquery()
    )
    other = sa.select(jobs.c.source_id, jobs.c.id, jobs.c.source_version).join(
        newest, jobs.c.id == newest.c.newest
    )
    return pg, other


_PG_NEWEST, _NEWEST = _newest_statements()


def existing_versions(
    conn: Connection, flow: str, pairs: Sequence[tuple[str, str]]
) -> set[tuple[str, str]]:
    """The (record id, stored version) pairs a job of ``flow`` already has.

    One query per 500 pairs on the dedup index (flow, source id, source version). SQLite
    takes a row-value ``IN`` of the pairs best (bench/intake_dups.py: 0.27 against 2.6 s
    for 20,000 duplicates); PostgreSQL probes the index once per pair
    (:func:`~erpbridge.store.match.unnest_values`);
    other databases take "ids IN … and versions IN …", the exact pairs being kept here.
    """
    wanted = set(pairs)
    found: set[tuple[str, str]] = set()
    ordered = sorted(wanted)
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        if conn.dialect.name == "postgresql":
            ids, versions = [r for r, _ in chunk], [v for _, v in chunk]
            rows = conn.execute(_PG_EXISTING, {"flow": flow, "w_id": ids, "w_v": versions})
        else:
            match: sa.ColumnElement[bool]
            if conn.dialect.name == "sqlite":
                match = sa.tuple_(jobs.c.source_id, jobs.c.source_version).in_(chunk)
            else:
                match = sa.and_(
                    jobs.c.source_id.in_(sorted({r for r, _ in chunk})),
                    jobs.c.source_version.in_(sorted({v for _, v in chunk})),
                )
            rows = conn.execute(
                sa.select(jobs.c.source_id, jobs.c.source_version).where(jobs.c.flow == flow, match)
            )
        found.update(p for s, v in rows if (p := (str(s), str(v))) in wanted)
    return found


def _existing_statement() -> sa.Select[Any]:
    """PostgreSQL: the pairs a job has, one probe of the dedup index per pair."""
    w = unnest_values("w", id=jobs.c.source_id, v=jobs.c.source_version)
    hit = (
        sa.select(sa.literal(1).label("hit"))
        .where(jobs.c.flow == sa.bindparam("flow"))
        .where(jobs.c.source_id == w.c.id, jobs.c.source_version == w.c.v)
        .limit(1)
        .lateral("hit")
    )
    return sa.select(w.c.id, w.c.v).select_from(w.join(hit, sa.true()))


_PG_EXISTING = _existing_statement()
