"""Job values the engine passes around (frozen dataclasses, built from store rows)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["Job", "JobState", "Trigger"]


class JobState(enum.StrEnum):
    """Where a job is in its life."""

    QUEUED = "queued"
    RUNNING = "running"
    PARKED = "parked"  # waiting for a referenced record to be synced first
    DONE = "done"
    DEAD = "dead"  # in the dead letters, waiting for a person
    SUPERSEDED = "superseded"  # a newer version of the same record made it moot
    HELD = "held"  # the flow's hold: check stopped it; a person or a recheck releases it


class Trigger(enum.StrEnum):
    """What produced a job."""

    POLL = "poll"
    WEBHOOK = "webhook"
    SCHEDULE = "schedule"
    MANUAL = "manual"
    RESYNC = "resync"  # manual, forced: written even when equal to the last write
    REPLAY = "replay"
    RECON = "recon"
    BROKER = "broker"
    FILE = "file"


@dataclass(frozen=True, slots=True)
class Job:
    """One change for one flow, as claimed by a worker."""

    id: int
    flow: str
    source_id: str
    source_version: str
    source_stamp: datetime | None
    kind: str
    trigger: str
    attempts: int
    source_snapshot: dict[str, Any] | None
    mapped_payload: dict[str, Any] | None
    waiting_since: datetime | None
    created_at: datetime
    held_at: datetime | None = None
    released_by: str | None = None

    @property
    def idempotency_key(self) -> str:
        """Stable per (flow, record, version): passed to systems that dedupe writes."""
        return f"{self.flow}:{self.source_id}:{self.source_version}"
