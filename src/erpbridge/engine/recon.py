"""Reconciliation: read both sides of a flow, map the source side, join, classify, repair.

A run reads the source object (streaming, paged) and maps every record through the
flow's compiled mapping — the same closures the workers use, with xrefs from the store —
so "expected" means exactly what a sync would write. It reads the target object, joins
both on the flow's natural key (``target.key``), and classifies every key: ``match``,
``missing_in_target``, ``missing_in_source``, ``field`` (one difference per field, both
values and the rule that produced the expected one), ``duplicate_source`` /
``duplicate_target``, and ``unmappable`` (the mapping refused the record). Totals per
class and per field, with amount sums when an amount field is named, are kept in the
store with every difference. A side that fails marks the run failed with the reason, and
nothing is repaired from a partial run.

Repair turns differences into jobs of the flow (trigger ``recon``), through the engine
with the same idempotency as any job: a missing or different record is synced again
from its owner, the source; duplicates and records missing in the source are left for a
person. ``dry_run`` lists what would be queued.

Compared values are normalised: numbers as Decimals (so ``"100.00"`` equals ``100``),
with a per-field tolerance; text trimmed; blank and null equal.
"""

from __future__ import annotations

import enum
import re
import tempfile
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from erpbridge.engine.clock import Clock
from erpbridge.engine.flow import FlowPlan
from erpbridge.engine.jobs import Trigger
from erpbridge.engine.lookups import resolve_lookups
from erpbridge.engine.queue import enqueue_changes
from erpbridge.engine.recon_index import SOURCE, TARGET, ReconIndex
from erpbridge.engine.runtime import Runtime
from erpbridge.engine.snapshot import json_safe
from erpbridge.spi.errors import ConnectorError, MappingError
from erpbridge.spi.records import Change, Cursor, Record
from erpbridge.store.schema import jobs, recon_differences, recon_runs

__all__ = ["Difference", "DifferenceKind", "ReconOptions", "ReconResult", "normalise", "run_recon"]


class DifferenceKind(enum.StrEnum):
    """How one key differs between the sides."""

    MISSING_IN_TARGET = "missing_in_target"
    MISSING_IN_SOURCE = "missing_in_source"
    FIELD = "field"
    DUPLICATE_SOURCE = "duplicate_source"
    DUPLICATE_TARGET = "duplicate_target"
    UNMAPPABLE = "unmappable"


@dataclass(frozen=True, slots=True)
class ReconOptions:
    """What a run compares.

    Attributes:
        since: only source records changed since then (None: everything).
        fields: target fields to compare (None: every mapped field except the key).
        tolerances: field -> allowed absolute difference for numbers (``amount=0.01``).
        amount_field: a target field whose values are summed per class in the totals.
        page_size: records per read page. Default 500.
    """

    since: datetime | None = None
    fields: Sequence[str] | None = None
    tolerances: Mapping[str, Decimal] = field(default_factory=dict)
    amount_field: str | None = None
    page_size: int = 500


@dataclass(frozen=True, slots=True)
class Difference:
    """One difference found by a run."""

    kind: DifferenceKind
    key: str
    field: str | None = None
    expected: Any = None
    actual: Any = None
    rule: str | None = None
    source_id: str | None = None
    amount: Decimal | None = None


@dataclass(slots=True)
class ReconResult:
    """What a run found."""

    run_id: int
    flow: str
    state: str
    matches: int = 0
    differences: list[Difference] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    repairs: list[dict[str, Any]] = field(default_factory=list)


_ODATA_DATE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d{4})?\)/$")
_ISO_MOMENT = re.compile(
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$"
)


def _moment(text: str) -> datetime | None:
    """An OData ``/Date(ms)/`` or ISO 8601 date/date-time as aware UTC (naive = UTC)."""
    match = _ODATA_DATE.match(text)
    if match:
        return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=UTC)
    if _ISO_MOMENT.match(text):
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


_NUMBER_START = frozenset("+-.0123456789")


def normalise(value: object) -> object:
    """The comparable form of a value: Decimal for numbers, aware UTC datetimes for dates
    and moments (ISO 8601 or OData ``/Date(ms)/``), trimmed text, None for blank.

    Called for every compared value of both sides, so text that cannot be a number or a
    date (it starts with a letter or a CJK character) returns on the first test.
    """
    if value is None:
        return None
    if type(value) is str:
        text = value.strip()
        if not text:
            return None
        first = text[0]
        if first == "/" or (first in _NUMBER_START or first.isdigit()):
            moment = _moment(text) if (first == "/" or "-" in text[1:] or ":" in text) else None
            if moment is not None:
                return moment.astimezone(UTC)
            try:
                number = Decimal(text.replace(",", ""))
            except InvalidOperation:
                return text
            return number.normalize() if number.is_finite() else text
        return text
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value)).normalize()
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    safe = json_safe(value)
    return safe if not isinstance(safe, str) else safe.strip() or None


def _equal(expected: object, actual: object, tolerance: Decimal | None) -> bool:
    a, b = normalise(expected), normalise(actual)
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return abs(a - b) <= (tolerance or Decimal(0))
    return a == b


def _amount(fields: Mapping[str, object], name: str | None) -> Decimal | None:
    value = normalise(fields.get(name)) if name else None
    return value if isinstance(value, Decimal) else None


Progress = Callable[[str, int], None]


async def _read_all(
    runtime: Runtime,
    connection: str,
    object_name: str,
    since: datetime | None,
    page_size: int,
    on_page: Callable[[Sequence[Record]], Awaitable[None]],
) -> int:
    source = runtime.connector(connection)
    guard = runtime.guard(connection)
    cursor = Cursor(stamp=since) if since else None
    iterator = aiter(source.read_changes(object_name, cursor, page_size))
    count = 0
    while True:
        try:
            page = await guard.call(lambda: anext(iterator))
        except StopAsyncIteration:
            return count
        await on_page([r for r in page.records if not r.deleted])
        count += len(page.records)


async def run_recon(
    store: sa.Engine,
    runtime: Runtime,
    plan: FlowPlan,
    options: ReconOptions,
    clock: Clock,
    *,
    progress: Progress | None = None,
) -> ReconResult:
    """Run one reconciliation of ``plan``'s flow and store it (see the module docstring)."""
    key_field = plan.spec.target.key
    now = clock.now()
    params = {
        "since": options.since.isoformat() if options.since else None,
        "fields": list(options.fields) if options.fields else None,
        "tolerances": {k: str(v) for k, v in options.tolerances.items()},
        "amount_field": options.amount_field,
        "key": key_field,
    }
    with store.begin() as conn:
        run_id = int(
            conn.execute(
                recon_runs.insert()
                .values(flow=plan.name, state="running", params=params, started_at=now)
                .returning(recon_runs.c.id)
            ).scalar_one()
        )
    result = ReconResult(run_id=run_id, flow=plan.name, state="running")
    if not key_field:
        return _finish(
            store, result, clock, error="the flow has no target key to join on (target.key)"
        )
    unmappable: list[Difference] = []
    with tempfile.TemporaryDirectory(prefix="erpbridge-recon-") as folder:
        index = ReconIndex(Path(folder), normalise)
        try:
            mapped = _Mapper(
                store, plan, options, key_field, index, unmappable, progress, runtime, clock
            )
            await _read_all(
                runtime,
                plan.source_connection,
                plan.spec.source.object,
                options.since,
                options.page_size,
                mapped.page,
            )
            index.fields = index.fields or []

            async def collect_target(records: Sequence[Record]) -> None:
                for record in records:
                    key = normalise(record.fields.get(key_field))
                    if key is not None:
                        amount = _amount(record.fields, options.amount_field)
                        index.add(TARGET, str(key), record.fields, amount=amount)
                if progress:
                    progress("target", len(records))

            await _read_all(
                runtime,
                plan.target_connection,
                plan.spec.target.object,
                None,
                options.page_size,
                collect_target,
            )
        except ConnectorError as exc:
            index.close()
            return _finish(
                store, result, clock, error=f"reading failed, nothing compared or repaired: {exc}"
            )
        try:
            differences, result.matches = _compare(
                plan, options, index, since_filtered=options.since is not None
            )
        finally:
            index.close()
    result.differences = unmappable + differences
    return _finish(store, result, clock)


class _Mapper:
    """Maps source pages (xrefs looked up per page) into the index."""

    def __init__(
        self,
        store: sa.Engine,
        plan: FlowPlan,
        options: ReconOptions,
        key_field: str,
        index: ReconIndex,
        unmappable: list[Difference],
        progress: Progress | None,
        runtime: Runtime,
        clock: Clock,
    ) -> None:
        self.store, self.plan, self.options, self.key_field = store, plan, options, key_field
        self.index, self.unmappable, self.progress = index, unmappable, progress
        self.runtime, self.clock = runtime, clock

    async def page(self, records: Sequence[Record]) -> None:
        plan = self.plan
        accepted = [r for r in records if plan.mapper.accepts(r.fields)]
        requests: set[tuple[str, str]] = set()
        for record in accepted:
            requests |= plan.mapper.xref_requests(record.fields)
        found = await resolve_lookups(self.store, self.runtime, plan, requests, self.clock)
        xrefs = found.xrefs
        for record in accepted:
            try:
                payload = plan.mapper.apply(record.fields, xrefs)
            except MappingError as exc:
                self.unmappable.append(
                    Difference(
                        DifferenceKind.UNMAPPABLE, key=record.id, rule=str(exc), source_id=record.id
                    )
                )
                continue
            key_value = normalise(payload.get(self.key_field))
            if key_value is None:
                self.unmappable.append(
                    Difference(
                        DifferenceKind.UNMAPPABLE,
                        key=record.id,
                        field=self.key_field,
                        rule="the mapped record has no key value",
                        source_id=record.id,
                    )
                )
                continue
            if self.index.fields is None:  # the compared fields, from the first record
                self.index.fields = list(self.options.fields or []) or [
                    n
                    for n, v in payload.items()
                    if n != self.key_field and not isinstance(v, list | dict)
                ]
            amount = _amount(payload, self.options.amount_field)
            self.index.add(SOURCE, str(key_value), payload, source_id=record.id, amount=amount)
        if self.progress:
            self.progress("source", len(records))


def _compare(
    plan: FlowPlan,
    options: ReconOptions,
    index: ReconIndex,
    *,
    since_filtered: bool,
) -> tuple[list[Difference], int]:
    """(differences, number of keys that match on every compared field)."""
    rules = {name: str(plan.spec.map.get(name)) for name in plan.spec.map}
    names = index.fields or []
    out: list[Difference] = []
    matches = 0
    for key, rows in index.groups():
        sources = [r for r in rows if r[0] == SOURCE]
        targets = [r for r in rows if r[0] == TARGET]
        first = sources[0] if sources else None
        amount = Decimal(first[4]) if first and first[4] else None
        if len(sources) > 1:
            ids = [r[1] for r in sources]
            out.append(
                Difference(
                    DifferenceKind.DUPLICATE_SOURCE,
                    key,
                    actual=ids,
                    source_id=ids[0],
                    amount=amount,
                )
            )
            continue
        if first is None:
            if not since_filtered:  # with --since, target records outside the window are expected
                target_amount = Decimal(targets[0][4]) if targets[0][4] else None
                actual = dict(zip(names, ReconIndex.values(targets[0]), strict=True))
                out.append(
                    Difference(
                        DifferenceKind.MISSING_IN_SOURCE, key, actual=actual, amount=target_amount
                    )
                )
            continue
        if not targets:
            expected = dict(zip(names, ReconIndex.values(first), strict=True))
            out.append(
                Difference(
                    DifferenceKind.MISSING_IN_TARGET,
                    key,
                    expected=expected,
                    source_id=first[1],
                    amount=amount,
                )
            )
            continue
        if len(targets) > 1:
            out.append(
                Difference(
                    DifferenceKind.DUPLICATE_TARGET,
                    key,
                    actual=len(targets),
                    source_id=first[1],
                    amount=amount,
                )
            )
            continue
        if first[2] == targets[0][2]:
            matches += 1
            continue
        before = len(out)
        for name, want, got in zip(
            names, ReconIndex.values(first), ReconIndex.values(targets[0]), strict=True
        ):
            if not _equal(want, got, options.tolerances.get(name)):
                diff_amount = None
                if name == options.amount_field:
                    a, b = normalise(want), normalise(got)
                    if isinstance(a, Decimal) and isinstance(b, Decimal):
                        diff_amount = abs(a - b)
                out.append(
                    Difference(
                        DifferenceKind.FIELD,
                        key,
                        name,
                        want,
                        got,
                        rules.get(name),
                        first[1],
                        diff_amount,
                    )
                )
        matches += len(out) == before
    return out, matches


def _totals(result: ReconResult) -> dict[str, Any]:
    by_kind: dict[str, dict[str, Any]] = {}
    by_field: dict[str, int] = defaultdict(int)
    for diff in result.differences:
        entry = by_kind.setdefault(
            diff.kind.value, {"count": 0, "keys": set(), "amount": Decimal(0)}
        )
        entry["count"] += 1
        entry["keys"].add(diff.key)
        if diff.amount is not None:
            entry["amount"] += diff.amount
        if diff.kind is DifferenceKind.FIELD and diff.field:
            by_field[diff.field] += 1
    return {
        "match": result.matches,
        "kinds": {
            k: {"count": v["count"], "records": len(v["keys"]), "amount": format(v["amount"], "f")}
            for k, v in sorted(by_kind.items())
        },
        "fields": dict(sorted(by_field.items())),
    }


def _finish(
    store: sa.Engine, result: ReconResult, clock: Clock, error: str | None = None
) -> ReconResult:
    result.error = error
    result.state = "failed" if error else "done"
    result.totals = _totals(result) if not error else {}
    with store.begin() as conn:
        if not error and result.differences:
            conn.execute(
                recon_differences.insert(),
                [
                    {
                        "run_id": result.run_id,
                        "kind": d.kind.value,
                        "record_key": d.key[:255],
                        "field": d.field,
                        "source_value": {
                            "value": d.expected,
                            "source_id": d.source_id,
                            "amount": str(d.amount) if d.amount is not None else None,
                        },
                        "target_value": {"value": d.actual},
                        "rule": d.rule,
                    }
                    for d in result.differences
                ],
            )
        conn.execute(
            recon_runs.update()
            .where(recon_runs.c.id == result.run_id)
            .values(state=result.state, totals=result.totals, error=error, finished_at=clock.now())
        )
    return result


def plan_repairs(store: sa.Engine, run_id: int) -> list[dict[str, Any]]:
    """What repairing run ``run_id`` would do, per difference not accepted by a person."""
    with store.connect() as conn:
        run = conn.execute(sa.select(recon_runs).where(recon_runs.c.id == run_id)).first()
        if run is None or run.state != "done":
            return []
        rows = conn.execute(
            sa.select(recon_differences)
            .where(recon_differences.c.run_id == run_id, recon_differences.c.accepted.is_(False))
            .order_by(recon_differences.c.id)
        ).all()
    repairs = []
    seen: set[str] = set()
    for row in rows:
        source_id = (row.source_value or {}).get("source_id")
        if (
            row.kind in (DifferenceKind.MISSING_IN_TARGET.value, DifferenceKind.FIELD.value)
            and source_id
        ):
            if source_id in seen:
                continue
            seen.add(source_id)
            repairs.append(
                {
                    "difference": row.id,
                    "kind": row.kind,
                    "key": row.record_key,
                    "action": "resync from source",
                    "source_id": source_id,
                }
            )
        else:
            repairs.append(
                {
                    "difference": row.id,
                    "kind": row.kind,
                    "key": row.record_key,
                    "action": "flag for a person",
                }
            )
    return repairs


def apply_repairs(
    store: sa.Engine, plan: FlowPlan, run_id: int, clock: Clock
) -> list[dict[str, Any]]:
    """Queue the resync jobs of :func:`plan_repairs` (trigger ``recon``) and return them."""
    repairs = plan_repairs(store, run_id)
    changes = [
        Change(object=plan.spec.source.object, record_id=r["source_id"], version=f"recon:{run_id}")
        for r in repairs
        if r["action"] == "resync from source"
    ]
    with store.begin() as conn:
        enqueue_changes(conn, plan.name, changes, Trigger.RECON.value, clock.now())
        ids = [r["difference"] for r in repairs if r["action"] == "resync from source"]
        if ids:
            query = sa.select(jobs.c.source_id, jobs.c.id).where(
                jobs.c.flow == plan.name, jobs.c.source_version == f"recon:{run_id}"
            )
            job_ids = {str(r.source_id): int(str(r.id)) for r in conn.execute(query)}
            for repair in repairs:
                if repair["action"] == "resync from source":
                    repair["job"] = job_ids.get(repair["source_id"])
                    conn.execute(
                        recon_differences.update()
                        .where(recon_differences.c.id == repair["difference"])
                        .values(repair_job_id=repair["job"])
                    )
    for repair in repairs:
        repair.setdefault("job", None)
    return repairs
