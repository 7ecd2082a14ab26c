"""Values that cross the connector contract: records, changes, cursors, writes.

Frozen dataclasses (STYLE.md, "Typed boundaries"): validated once at the edge by the
connector, trusted inside. Datetimes are always timezone-aware UTC.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from erpbridge.spi.errors import ConnectorError

__all__ = [
    "Change",
    "ChangeKind",
    "ChangePage",
    "CheckResult",
    "Cursor",
    "Fields",
    "ReadError",
    "Record",
    "WriteMode",
    "WriteOp",
    "WriteOutcome",
    "WriteResult",
    "ensure_utc",
]


#: a record's fields: name -> value (nested lines are lists of such mappings).
Fields = Mapping[str, object]


def ensure_utc(stamp: datetime) -> datetime:
    """Return ``stamp`` in UTC; a naive datetime is refused, not guessed.

    Raises:
        ValueError: if ``stamp`` has no time zone.
    """
    if stamp.tzinfo is None:
        raise ValueError(f"naive datetime {stamp.isoformat()} (a time zone is required)")
    return stamp.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Record:
    """One object instance as a system holds it.

    Attributes:
        object: the object name in that system (``Account``, ``A_SalesOrder``).
        id: the system's id for the record, as a string.
        fields: field name -> value; nested lines are lists of mappings.
        version: opaque version marker (modification stamp, ETag); used for dedup.
        stamp: modification time in UTC, used to order versions; None when unknown.
        deleted: True for a tombstone (the record was deleted in the system).
    """

    object: str
    id: str
    fields: Fields
    version: str | None = None
    stamp: datetime | None = None
    deleted: bool = False


class ChangeKind(enum.StrEnum):
    """What happened to a record."""

    UPSERT = "upsert"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Change:
    """ "Record R of object O is now at version V", from any trigger.

    ``record`` carries the full record when the trigger delivered it (a poll page, a
    webhook with the body); otherwise the worker loads it with ``get()``.
    """

    object: str
    record_id: str
    version: str | None
    stamp: datetime | None = None
    kind: ChangeKind = ChangeKind.UPSERT
    record: Record | None = None

    @classmethod
    def of(cls, record: Record) -> Change:
        """The change that says ``record`` now exists as given (or was deleted)."""
        return cls(
            object=record.object,
            record_id=record.id,
            version=record.version,
            stamp=record.stamp,
            kind=ChangeKind.DELETE if record.deleted else ChangeKind.UPSERT,
            record=record,
        )


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a poll has read up to: stamp + id tie-break (STYLE.md, singer/dlt habit).

    The reader starts ``overlap`` before ``stamp`` so same-second edits and late commits
    are never skipped; the engine's dedup on (flow, record id, version) drops the records
    the overlap brings back. ``last_id`` orders records that share one stamp.
    """

    stamp: datetime
    last_id: str = ""
    overlap: timedelta = timedelta(seconds=5)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stamp", ensure_utc(self.stamp))
        if self.overlap < timedelta(0):
            raise ValueError("cursor overlap must not be negative")

    @property
    def read_from(self) -> datetime:
        """The stamp a reader should start from (inclusive): ``stamp - overlap``."""
        return self.stamp - self.overlap

    def is_after(self, stamp: datetime, record_id: str) -> bool:
        """True when (stamp, id) lies strictly after this cursor in read order."""
        stamp = ensure_utc(stamp)
        return (stamp, record_id) > (self.stamp, self.last_id)

    def advance(self, stamp: datetime, record_id: str) -> Cursor:
        """The cursor moved to (stamp, id) if that lies after this one, else self."""
        if self.is_after(stamp, record_id):
            return Cursor(stamp=stamp, last_id=record_id, overlap=self.overlap)
        return self

    def to_json(self) -> str:
        """Serialise for the store (stable across versions)."""
        return json.dumps(
            {
                "stamp": self.stamp.isoformat(),
                "last_id": self.last_id,
                "overlap_s": self.overlap.total_seconds(),
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Cursor:
        """Inverse of :meth:`to_json`."""
        data = json.loads(text)
        return cls(
            stamp=datetime.fromisoformat(data["stamp"]),
            last_id=str(data.get("last_id", "")),
            overlap=timedelta(seconds=float(data.get("overlap_s", 5.0))),
        )


@dataclass(frozen=True, slots=True)
class ReadError:
    """One input a reader could not turn into a record (a poison broker message, a bad line).

    The rest of its page is read as usual; the engine stores each one as a dead letter
    with the page's jobs, so it is acknowledged (never redelivered forever) and never lost.

    Attributes:
        position: where the input was, for people (``queue erp.orders, message id m-17,
            delivery tag 4``; ``orders.csv line 12``).
        error: why it was refused, usually a :class:`ValidationError` whose ``raw`` holds
            an excerpt of the input.
        object: the object the input was read for.
    """

    position: str
    error: ConnectorError
    object: str = ""


@dataclass(frozen=True, slots=True)
class ChangePage:
    """One page of ``read_changes``: records in (stamp, id) order and the cursor after them.

    ``errors`` lists inputs of this page that could not be read as records (default none).
    """

    records: Sequence[Record]
    cursor: Cursor | None
    has_more: bool = False
    errors: Sequence[ReadError] = ()


class WriteMode(enum.StrEnum):
    """How a flow writes into its target."""

    CREATE = "create"
    UPDATE = "update"
    UPSERT = "upsert"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class WriteOp:
    """One record to write.

    Attributes:
        mode: create, update, upsert or delete.
        fields: the mapped target record.
        target_id: the target's id when known (from the xref); required for update/delete.
        key_field: natural-key field for upsert and the pre-create lookup.
        key_value: its value.
        idempotency_key: derived from the job; connectors pass it to systems that have
            their own idempotency key (Jiandaoyun transaction_id, U8 tradeid ...).
        ref: the caller's reference (job id), echoed back in the result.
        key_checked: the caller looked ``key_value`` up in the target (``find``) just
            before this write and found nothing, so a connector may skip its own
            pre-create lookup of that key. Default False: connectors look it up.
    """

    mode: WriteMode
    fields: Fields
    target_id: str | None = None
    key_field: str | None = None
    key_value: object = None
    idempotency_key: str | None = None
    ref: str = ""
    key_checked: bool = False


class WriteOutcome(enum.StrEnum):
    """What a write did to one record."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The answer for one :class:`WriteOp`, in the same order as the ops."""

    ref: str
    outcome: WriteOutcome
    target_id: str | None = None
    version: str | None = None
    error: ConnectorError | None = None

    def __post_init__(self) -> None:
        if (self.outcome is WriteOutcome.FAILED) != (self.error is not None):
            raise ValueError("a failed write carries an error, and only a failed one")


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The answer of ``check()``: ok, or a reason a person can act on (never raises)."""

    ok: bool
    reason: str = ""
    details: Mapping[str, str] = field(default_factory=dict)
