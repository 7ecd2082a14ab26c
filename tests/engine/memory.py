"""An in-test system and connector implementing the spi, with fault injection.

The engine's tests use it so every guarantee can be checked without a real system:
latency, transient errors, 429 with Retry-After, a write that takes effect but whose
answer is lost, and per-record validation errors. Real connectors have their own tests
against their simulators.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from erpbridge.spi import (
    Catalog,
    Change,
    ChangePage,
    CheckResult,
    ConnectionSettings,
    ConnectorError,
    ConnectorSpec,
    Cursor,
    Limits,
    NotFoundError,
    RateLimitedError,
    ReadError,
    Record,
    TransientError,
    ValidationError,
    WriteMode,
    WriteOp,
    WriteOutcome,
    WriteResult,
)


@dataclass
class Faults:
    """What goes wrong on the next calls (counted down as they fire)."""

    transient_writes: int = 0
    rate_limited_writes: int = 0
    retry_after_s: float = 7.0
    lost_answers: int = 0  # the write happens, then the answer is "lost"
    failing_gets: int = 0
    latency_s: float = 0.0
    invalid_value: str = "INVALID"  # a record whose Name is this is refused


@dataclass
class MemorySystem:
    """Records by object and id, with modification stamps from a clock we control."""

    name: str
    records: dict[str, dict[str, Record]] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    calls: list[tuple[str, str, int]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    now: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    unreadable: list[ReadError] = field(default_factory=list)  # reported on every first page
    undeletable: set[str] = field(default_factory=set)  # objects whose deletes are refused
    #: (call, object, the field list asked or None) of every read_changes and get
    asked: list[tuple[str, str, tuple[str, ...] | None]] = field(default_factory=list)

    def tick(self, seconds: float = 1.0) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now

    def put(
        self,
        obj: str,
        record_id: str | None,
        fields: Mapping[str, object],
        stamp: datetime | None = None,
    ) -> Record:
        record_id = record_id or f"{self.name[:3].upper()}{next(self._ids):06d}"
        stamp = stamp or self.tick(0.001)
        record = Record(
            object=obj, id=record_id, fields=dict(fields), version=stamp.isoformat(), stamp=stamp
        )
        self.records.setdefault(obj, {})[record_id] = record
        return record

    def all(self, obj: str) -> list[Record]:
        return list(self.records.get(obj, {}).values())


def _sorted(fields: Collection[str] | None) -> tuple[str, ...] | None:
    return None if fields is None else tuple(sorted(fields))


def _narrowed(record: Record, fields: Collection[str] | None) -> Record:
    """``record`` with only the asked fields (the spi's hint, honoured as a real system
    that selects columns would)."""
    if fields is None:
        return record
    kept = {k: v for k, v in record.fields.items() if k in fields}
    return dataclasses.replace(record, fields=kept)


class MemorySettings(ConnectionSettings):
    system: str = "memory"


class MemoryConnector:
    """The spi over a :class:`MemorySystem`."""

    def __init__(self, system: MemorySystem, limits: Limits | None = None) -> None:
        self.sim = system
        self.system = "memory"
        self.limits = limits or Limits(concurrency=4, batch_size=50)

    async def _latency(self) -> None:
        if self.sim.faults.latency_s:
            await asyncio.sleep(self.sim.faults.latency_s)

    async def check(self) -> CheckResult:
        return CheckResult(ok=True)

    async def describe(self) -> Catalog:
        return Catalog()

    async def read_changes(
        self,
        object: str,
        cursor: Cursor | None,
        page_size: int,
        fields: Collection[str] | None = None,
    ) -> AsyncIterator[ChangePage]:
        await self._latency()
        self.sim.asked.append(("read_changes", object, _sorted(fields)))
        start = cursor.read_from if cursor else datetime.min.replace(tzinfo=UTC)
        ordered = sorted(
            (r for r in self.sim.all(object) if r.stamp and r.stamp >= start),
            key=lambda r: (r.stamp, r.id),
        )
        current = cursor
        for index in range(0, len(ordered), page_size):
            page = ordered[index : index + page_size]
            last = page[-1]
            assert last.stamp is not None
            current = (
                current.advance(last.stamp, last.id)
                if current
                else Cursor(stamp=last.stamp, last_id=last.id)
            )
            yield ChangePage(
                records=[_narrowed(r, fields) for r in page],
                cursor=current,
                has_more=index + page_size < len(ordered),
                errors=self.sim.unreadable if index == 0 else (),
            )

    async def get(
        self, object: str, ids: Sequence[str], fields: Collection[str] | None = None
    ) -> list[Record]:
        await self._latency()
        self.sim.calls.append(("get", object, len(ids)))
        self.sim.asked.append(("get", object, _sorted(fields)))
        if self.sim.faults.failing_gets:
            self.sim.faults.failing_gets -= 1
            raise TransientError("503 Service Unavailable", system=self.sim.name, object=object)
        table = self.sim.records.get(object, {})
        return [_narrowed(table[i], fields) for i in ids if i in table]

    async def find(self, object: str, key_field: str, values: Sequence[object]) -> list[Record]:
        await self._latency()
        self.sim.calls.append(("find", object, len(values)))
        wanted = {str(v) for v in values}
        return [r for r in self.sim.all(object) if str(r.fields.get(key_field)) in wanted]

    async def write(self, object: str, ops: Sequence[WriteOp]) -> list[WriteResult]:
        await self._latency()
        self.sim.calls.append(("write", object, len(ops)))
        faults = self.sim.faults
        if faults.transient_writes:
            faults.transient_writes -= 1
            raise TransientError("502 Bad Gateway", system=self.sim.name, object=object)
        if faults.rate_limited_writes:
            faults.rate_limited_writes -= 1
            raise RateLimitedError(
                "429 Too Many Requests", retry_after_s=faults.retry_after_s, system=self.sim.name
            )
        results = []
        for op in ops:
            if op.fields.get("Name") == faults.invalid_value:
                error = ValidationError(
                    "REQUIRED_FIELD_MISSING: Name is not valid",
                    field="Name",
                    system=self.sim.name,
                    object=object,
                    raw='{"errorCode":"FIELD_INVALID"}',
                )
                results.append(WriteResult(ref=op.ref, outcome=WriteOutcome.FAILED, error=error))
                continue
            if op.mode is WriteMode.DELETE:
                results.append(self._delete(object, op))
                continue
            if op.mode is WriteMode.UPDATE and op.target_id:
                existing = self.sim.records.get(object, {}).get(op.target_id)
                if existing is None:
                    gone = NotFoundError(
                        f"{object} {op.target_id} does not exist",
                        system=self.sim.name,
                        object=object,
                    )
                    results.append(WriteResult(ref=op.ref, outcome=WriteOutcome.FAILED, error=gone))
                    continue
                merged = {**existing.fields, **op.fields}
                if merged == dict(existing.fields):
                    results.append(
                        WriteResult(
                            ref=op.ref, outcome=WriteOutcome.UNCHANGED, target_id=op.target_id
                        )
                    )
                    continue
                record = self.sim.put(object, op.target_id, merged)
                results.append(
                    WriteResult(
                        ref=op.ref,
                        outcome=WriteOutcome.UPDATED,
                        target_id=record.id,
                        version=record.version,
                    )
                )
            else:
                record = self.sim.put(object, None, op.fields)
                results.append(
                    WriteResult(
                        ref=op.ref,
                        outcome=WriteOutcome.CREATED,
                        target_id=record.id,
                        version=record.version,
                    )
                )
        if faults.lost_answers:
            faults.lost_answers -= 1
            raise TransientError(
                "read timeout (the write may have happened)", system=self.sim.name, object=object
            )
        return results

    def _delete(self, object: str, op: WriteOp) -> WriteResult:
        table = self.sim.records.get(object, {})
        if object in self.sim.undeletable:
            error: ConnectorError = ValidationError(
                f"{object} records cannot be deleted through the API",
                system=self.sim.name,
                object=object,
            )
        elif op.target_id not in table:
            error = NotFoundError(
                f"{object} {op.target_id} does not exist", system=self.sim.name, object=object
            )
        else:
            del table[str(op.target_id)]
            return WriteResult(ref=op.ref, outcome=WriteOutcome.DELETED, target_id=op.target_id)
        return WriteResult(ref=op.ref, outcome=WriteOutcome.FAILED, error=error)

    async def aclose(self) -> None:
        return None


def memory_spec() -> ConnectorSpec:
    def create(settings: ConnectionSettings, http: object) -> MemoryConnector:
        raise AssertionError("engine tests hand ready connectors to the Runtime")

    return ConnectorSpec(name="memory", settings=MemorySettings, create=create)  # type: ignore[arg-type]


WEBHOOK_SECRET = b"memory-webhook-secret"


def signed_webhook(
    object_name: str, changes: list[tuple[str, str]], secret: bytes = WEBHOOK_SECRET
) -> tuple[dict[str, str], bytes]:
    """Headers and body of a delivery from the memory system (HMAC-SHA256 of the body)."""
    import hashlib
    import hmac
    import json

    body = json.dumps(
        {"object": object_name, "changes": [{"id": i, "version": v} for i, v in changes]}
    ).encode()
    signature = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return {"content-type": "application/json", "x-signature": signature}, body


def parse_memory_webhook(headers: Mapping[str, str], body: bytes) -> list[Change]:
    """Verify the HMAC and parse; AuthError / ValidationError as the spi says."""
    import hashlib
    import hmac
    import json

    from erpbridge.spi import AuthError

    signature = headers.get("x-signature", "")
    expected = hmac.new(WEBHOOK_SECRET, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature, expected):
        raise AuthError("bad signature", system="memory")
    try:
        data = json.loads(body)
        return [
            Change(object=str(data["object"]), record_id=str(c["id"]), version=str(c["version"]))
            for c in data["changes"]
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationError(f"malformed delivery: {exc}", system="memory") from exc


MemoryConnector.parse_webhook = staticmethod(parse_memory_webhook)  # type: ignore[assignment,method-assign]
