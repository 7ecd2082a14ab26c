"""Dead letters for people: list, show, edit, replay (one or by filter, with dry run), discard.

Replay queues a new job (trigger ``replay``) for the same record with the dead letter's
source snapshot, edited or not; when the mapped payload was edited, the worker writes
that payload as it stands instead of mapping again. Every change here is audited.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from erpbridge.engine.enqueue import partition_of
from erpbridge.engine.jobs import JobState, Trigger
from erpbridge.spi.errors import ConfigError
from erpbridge.store.audit import append_audit
from erpbridge.store.schema import attempts, dead_letters, jobs

__all__ = [
    "DeadLetterFilter",
    "ReplayPlan",
    "discard_dead_letters",
    "edit_dead_letter",
    "list_dead_letters",
    "replay_dead_letters",
    "show_dead_letter",
]


@dataclass(frozen=True, slots=True)
class DeadLetterFilter:
    """Which dead letters: by id, flow, state (default open), error class, record id."""

    ids: Sequence[int] = ()
    flow: str | None = None
    state: str | None = "open"
    error_class: str | None = None
    source_id: str | None = None
    limit: int = 1000

    def where(self) -> Any:
        """The SQL condition."""
        clauses: list[Any] = []
        if self.ids:
            clauses.append(dead_letters.c.id.in_(list(self.ids)))
        if self.flow:
            clauses.append(dead_letters.c.flow == self.flow)
        if self.state:
            clauses.append(dead_letters.c.state == self.state)
        if self.error_class:
            clauses.append(dead_letters.c.error_class == self.error_class)
        if self.source_id:
            clauses.append(dead_letters.c.source_id == self.source_id)
        return sa.and_(sa.true(), *clauses)


def _row(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


def list_dead_letters(conn: Connection, selection: DeadLetterFilter) -> list[dict[str, Any]]:
    """Dead letters matching ``selection``, newest first, without the large JSON columns."""
    columns = [c for c in dead_letters.c if c.name not in ("source_snapshot", "mapped_payload")]
    rows = conn.execute(
        sa.select(*columns)
        .where(selection.where())
        .order_by(dead_letters.c.id.desc())
        .limit(selection.limit)
    )
    return [_row(r) for r in rows]


def show_dead_letter(conn: Connection, dead_letter_id: int) -> dict[str, Any]:
    """One dead letter with its snapshot, payload and every attempt of its job.

    Raises:
        ConfigError: no such dead letter.
    """
    row = conn.execute(sa.select(dead_letters).where(dead_letters.c.id == dead_letter_id)).first()
    if row is None:
        raise ConfigError(f"no dead letter {dead_letter_id}")
    out = _row(row)
    out["attempts"] = [
        _row(a)
        for a in conn.execute(
            sa.select(attempts).where(attempts.c.job_id == row.job_id).order_by(attempts.c.number)
        )
    ]
    return out


def _set_path(document: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node: Any = document
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    if isinstance(node, list):
        node[int(parts[-1])] = value
    else:
        node[parts[-1]] = value


def edit_dead_letter(
    conn: Connection,
    dead_letter_id: int,
    *,
    target: str,
    sets: Mapping[str, Any] | None = None,
    document: Mapping[str, Any] | None = None,
    actor: str,
    now: datetime,
) -> dict[str, Any]:
    """Change the mapped ``payload`` or the source ``snapshot`` of an open dead letter.

    Args:
        target: ``payload`` or ``snapshot``.
        sets: dotted path -> new value (``Name=...``, ``fields.Name=...``, ``to_Item.0.Qty``).
        document: a whole replacement document instead of ``sets``.

    Raises:
        ConfigError: unknown dead letter, not open, bad target or path.
    """
    column = {
        "payload": dead_letters.c.mapped_payload,
        "snapshot": dead_letters.c.source_snapshot,
    }.get(target)
    if column is None:
        raise ConfigError(f"can edit 'payload' or 'snapshot', not {target!r}")
    row = conn.execute(sa.select(dead_letters).where(dead_letters.c.id == dead_letter_id)).first()
    if row is None:
        raise ConfigError(f"no dead letter {dead_letter_id}")
    if row.state != "open":
        raise ConfigError(
            f"dead letter {dead_letter_id} is {row.state}; only open ones can be edited"
        )
    current = getattr(row, column.name)
    edited: dict[str, Any] = json.loads(
        json.dumps(document if document is not None else (current or {}))
    )
    for path, value in (sets or {}).items():
        try:
            _set_path(edited, path, value)
        except (ValueError, IndexError, TypeError, AttributeError) as exc:
            raise ConfigError(f"cannot set {path!r} in the {target}: {exc}") from exc
    values: dict[str, Any] = {column.name: edited}
    if target == "payload":
        values["payload_edited"] = True
    conn.execute(dead_letters.update().where(dead_letters.c.id == dead_letter_id).values(values))
    append_audit(
        conn,
        actor,
        f"dead_letter.edit_{target}",
        str(dead_letter_id),
        {"set": dict(sets or {}), "replaced": document is not None},
        now,
    )
    return edited


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    """What a replay did or would do, per dead letter."""

    dead_letter_id: int
    flow: str
    source_id: str
    action: str  # "queued" | "would queue" | "refused: <why>"
    job_id: int | None = None


def replay_dead_letters(
    conn: Connection,
    selection: DeadLetterFilter,
    known_flows: Sequence[str],
    *,
    dry_run: bool,
    actor: str,
    now: datetime,
) -> list[ReplayPlan]:
    """Queue a replay job for each open dead letter matching ``selection``."""
    rows = conn.execute(
        sa.select(dead_letters, jobs.c.source_version, jobs.c.source_stamp, jobs.c.kind)
        .join(jobs, jobs.c.id == dead_letters.c.job_id)
        .where(selection.where())
        .order_by(dead_letters.c.id)
        .limit(selection.limit)
    ).all()
    plans: list[ReplayPlan] = []
    for row in rows:
        if row.state != "open":
            plans.append(ReplayPlan(row.id, row.flow, row.source_id, f"refused: it is {row.state}"))
            continue
        if row.flow not in known_flows:
            plans.append(
                ReplayPlan(
                    row.id, row.flow, row.source_id, "refused: its flow is no longer in the project"
                )
            )
            continue
        if dry_run:
            plans.append(ReplayPlan(row.id, row.flow, row.source_id, "would queue"))
            continue
        version = f"{row.source_version}#replay-{row.id}-{int(now.timestamp())}"
        job_id: int = conn.execute(
            jobs.insert()
            .values(
                flow=row.flow,
                source_id=row.source_id,
                source_version=version,
                source_stamp=row.source_stamp,
                kind=row.kind,
                trigger=Trigger.REPLAY.value,
                state=JobState.QUEUED.value,
                partition=partition_of(row.flow, row.source_id),
                attempts=0,
                next_attempt_at=now,
                source_snapshot=row.source_snapshot,
                mapped_payload=row.mapped_payload if row.payload_edited else None,
                created_at=now,
                updated_at=now,
            )
            .returning(jobs.c.id)
        ).scalar_one()
        conn.execute(
            dead_letters.update()
            .where(dead_letters.c.id == row.id)
            .values(state="replayed", resolved_at=now, resolved_by=actor)
        )
        append_audit(
            conn,
            actor,
            "dead_letter.replay",
            str(row.id),
            {"flow": row.flow, "record": row.source_id, "job": job_id},
            now,
        )
        plans.append(ReplayPlan(row.id, row.flow, row.source_id, "queued", job_id))
    return plans


def discard_dead_letters(
    conn: Connection, selection: DeadLetterFilter, *, actor: str, now: datetime, reason: str = ""
) -> int:
    """Mark matching open dead letters discarded (kept for the record); returns how many."""
    ids = [
        r[0]
        for r in conn.execute(
            sa.select(dead_letters.c.id).where(selection.where(), dead_letters.c.state == "open")
        )
    ]
    if ids:
        conn.execute(
            dead_letters.update()
            .where(dead_letters.c.id.in_(ids))
            .values(state="discarded", resolved_at=now, resolved_by=actor)
        )
        append_audit(
            conn, actor, "dead_letter.discard", ",".join(map(str, ids)), {"reason": reason}, now
        )
    return len(ids)
