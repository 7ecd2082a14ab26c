"""A target system in its own database table, shared by worker processes (chaos test).

No unique constraint on the key: if the engine ever created a record twice, the table
would show it. Faults are drawn from a seeded random source: transient errors, 429s with
Retry-After, and writes that commit but whose answer is lost.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Mapping, Sequence

import sqlalchemy as sa

from erpbridge.spi import (
    Catalog,
    Change,
    ChangePage,
    CheckResult,
    ConnectionSettings,
    ConnectorSpec,
    Cursor,
    Limits,
    RateLimitedError,
    Record,
    TransientError,
    ValidationError,
    WriteMode,
    WriteOp,
    WriteOutcome,
    WriteResult,
)

metadata = sa.MetaData()
items = sa.Table(
    "target_items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(64), nullable=False, index=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
)


class TableSettings(ConnectionSettings):
    pass


def table_spec() -> ConnectorSpec:
    def create(settings: ConnectionSettings, http: object) -> TableConnector:
        raise AssertionError("chaos workers hand ready connectors to the Runtime")

    return ConnectorSpec(name="table", settings=TableSettings, create=create)  # type: ignore[arg-type]


class TableConnector:
    """The spi over ``target_items`` with seeded faults."""

    def __init__(self, url: str, *, seed: int, fault_rate: float = 0.0) -> None:
        self.system = "table"
        self.limits = Limits(concurrency=4, batch_size=25, timeout_s=10)
        self.engine = sa.create_engine(url)
        self.rng = random.Random(seed)
        self.fault_rate = fault_rate

    def _maybe_fail(self) -> str | None:
        roll = self.rng.random()
        if roll < self.fault_rate * 0.5:
            raise TransientError("503 Service Unavailable", system="table")
        if roll < self.fault_rate * 0.7:
            raise RateLimitedError("429 Too Many Requests", retry_after_s=0.05, system="table")
        if roll < self.fault_rate:
            return "lose_answer"
        return None

    async def check(self) -> CheckResult:
        return CheckResult(ok=True)

    async def describe(self) -> Catalog:
        return Catalog()

    async def read_changes(
        self, object: str, cursor: Cursor | None, page_size: int
    ) -> AsyncIterator[ChangePage]:
        if False:  # never polled in the chaos test (changes come as webhooks)
            yield ChangePage(records=[], cursor=None)

    async def get(self, object: str, ids: Sequence[str]) -> list[Record]:
        return []

    async def find(self, object: str, key_field: str, values: Sequence[object]) -> list[Record]:
        self._maybe_fail()
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(items).where(items.c.key.in_([str(v) for v in values])))
            return [
                Record(
                    object=object,
                    id=str(r.id),
                    fields={"Key": r.key, "Version": r.version, "Name": r.name},
                )
                for r in rows
            ]

    async def write(self, object: str, ops: Sequence[WriteOp]) -> list[WriteResult]:
        fault = self._maybe_fail()
        results = []
        with self.engine.begin() as conn:
            for op in ops:
                fields = op.fields
                if fields.get("Name") == "INVALID":
                    error = ValidationError("Name: value not allowed", field="Name", system="table")
                    results.append(
                        WriteResult(ref=op.ref, outcome=WriteOutcome.FAILED, error=error)
                    )
                    continue
                values = {
                    "key": str(fields["Key"]),
                    "version": int(str(fields["Version"])),
                    "name": str(fields["Name"]),
                }
                if op.mode is WriteMode.UPDATE and op.target_id:
                    conn.execute(
                        items.update().where(items.c.id == int(op.target_id)).values(**values)
                    )
                    results.append(
                        WriteResult(
                            ref=op.ref, outcome=WriteOutcome.UPDATED, target_id=op.target_id
                        )
                    )
                else:
                    new_id = conn.execute(
                        items.insert().values(**values).returning(items.c.id)
                    ).scalar_one()
                    results.append(
                        WriteResult(ref=op.ref, outcome=WriteOutcome.CREATED, target_id=str(new_id))
                    )
        if fault == "lose_answer":
            raise TransientError("connection reset after the write was sent", system="table")
        return results

    async def aclose(self) -> None:
        self.engine.dispose()

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[Change]:
        raise ValidationError("not used", system="table")
