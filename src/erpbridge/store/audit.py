"""The audit log: append-only and hash-chained, so any edit or deletion is detectable.

Each entry's hash is SHA-256 over the previous entry's hash and the entry's canonical
JSON (time, actor, action, subject, details). ``verify_audit_log`` recomputes the chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from erpbridge.store.schema import audit_log

__all__ = ["GENESIS", "append_audit", "verify_audit_log"]

GENESIS = "0" * 64


def _digest(
    prev: str, at: datetime, actor: str, action: str, subject: str | None, details: Any
) -> str:
    body = json.dumps(
        {
            "at": at.isoformat(),
            "actor": actor,
            "action": action,
            "subject": subject,
            "details": details,
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256((prev + body).encode("utf-8")).hexdigest()


def append_audit(
    conn: Connection,
    actor: str,
    action: str,
    subject: str | None,
    details: Mapping[str, Any] | None,
    at: datetime,
) -> str:
    """Append one entry in the caller's transaction; returns its hash.

    On PostgreSQL the table is locked for the append so two writers cannot fork the chain.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE"))
    prev = conn.execute(
        sa.select(audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1)
    ).scalar()
    prev = prev or GENESIS
    details_json = json.loads(json.dumps(dict(details or {}), default=str))
    digest = _digest(prev, at, actor, action, subject, details_json)
    conn.execute(
        audit_log.insert().values(
            at=at,
            actor=actor,
            action=action,
            subject=subject,
            details=details_json,
            prev_hash=prev,
            hash=digest,
        )
    )
    return digest


def verify_audit_log(conn: Connection) -> tuple[bool, int, str]:
    """(ok, entries checked, reason): recompute every hash in order."""
    prev = GENESIS
    count = 0
    for row in conn.execute(sa.select(audit_log).order_by(audit_log.c.id)):
        count += 1
        if row.prev_hash != prev:
            return (
                False,
                count,
                f"entry {row.id}: previous hash does not match (an entry was removed or reordered)",
            )
        if _digest(prev, row.at, row.actor, row.action, row.subject, row.details) != row.hash:
            return False, count, f"entry {row.id}: content does not match its hash (it was edited)"
        prev = row.hash
    return True, count, "ok"
