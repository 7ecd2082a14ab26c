"""What one worker round decided for one flow's batch, and the names errors are filed under.

The worker fills a :class:`BatchOutcome` while it works a batch and commits it in one
transaction at the end (DESIGN.md §6: job states, attempts, xref, echo hashes together).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from erpbridge.engine.jobs import Job
from erpbridge.engine.queue import Attempt, Finished
from erpbridge.engine.xref import EchoHash
from erpbridge.spi.errors import (
    AuthError,
    ConflictError,
    MappingError,
    NotFoundError,
    RateLimitedError,
    TransientError,
    ValidationError,
)
from erpbridge.spi.records import Change

__all__ = ["BatchOutcome", "error_class_of"]


def error_class_of(error: BaseException) -> str:
    """The dead-letter class name of an error (what a person filters on)."""
    table: tuple[tuple[type[BaseException], str], ...] = (
        (RateLimitedError, "rate_limited"),
        (ValidationError, "validation"),
        (AuthError, "auth"),
        (ConflictError, "conflict"),
        (NotFoundError, "not_found"),
        (MappingError, "mapping"),
        (TransientError, "transient"),
    )
    for kind, name in table:
        if isinstance(error, kind):
            return name
    return "error"


@dataclass(slots=True)
class BatchOutcome:
    """What one flow batch decided, committed together at the end."""

    finished: list[Finished] = field(default_factory=list)
    retries: list[tuple[Job, Attempt, datetime]] = field(default_factory=list)
    dead: list[
        tuple[Job, Attempt, str | None, str | None, dict[str, Any] | None, Mapping[str, Any] | None]
    ] = field(default_factory=list)
    parked: list[tuple[Job, datetime, datetime, str]] = field(default_factory=list)
    released: list[tuple[int, datetime]] = field(default_factory=list)
    xrefs: dict[str, str] = field(default_factory=dict)
    #: source id -> target id of pairs whose target record is gone (deleted there by
    #: someone else): the pair's xrefs, the target's keys and echo hashes are forgotten.
    gone_targets: dict[str, str] = field(default_factory=dict)
    #: the same for pairs deleted by ``target.on_delete: delete`` (both records gone).
    deleted_pairs: dict[str, str] = field(default_factory=dict)
    echoes: dict[str, EchoHash] = field(default_factory=dict)
    dependencies: list[tuple[str, Change]] = field(default_factory=list)
    #: held by the flow's hold: (job, reason, held since, recheck at, record snapshot)
    held: list[tuple[Job, str, datetime, datetime, dict[str, Any] | None]] = field(
        default_factory=list
    )
