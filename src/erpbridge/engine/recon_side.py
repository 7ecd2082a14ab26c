"""Reading one side of a recon into its partitions (see :mod:`erpbridge.engine.recon_index`).

The source side reads, filters (``when:``), maps (xrefs looked up per page), normalises
the key and writes one entry per record; the target side reads, applies the run's target
scope, normalises the key and writes one entry per record. Records that cannot take part
(the mapping refuses them, no key) are kept as differences of the run, never raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import pickle
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter

import sqlalchemy as sa

from erpbridge.engine.clock import Clock
from erpbridge.engine.flow import FlowPlan
from erpbridge.engine.lookups import resolve_lookups
from erpbridge.engine.recon_compare import Difference, DifferenceKind, normalise
from erpbridge.engine.recon_index import Entry, SideSpill
from erpbridge.engine.runtime import Runtime
from erpbridge.engine.snapshot import json_safe
from erpbridge.engine.source_fields import fields_kwargs
from erpbridge.engine.xref import lookup_reverse_xrefs
from erpbridge.mapping.errors import SkippedReference
from erpbridge.spi.errors import MappingError
from erpbridge.spi.records import Cursor, Record

__all__ = ["ReadStopped", "SideResult", "SideTask", "fewer_collections", "read_side"]

#: side, records read so far (called after every page)
Progress = Callable[[str, int], None]


class ReadStopped(Exception):  # noqa: N818 - a signal, not an error
    """The run was cancelled while a side was being read."""


@dataclass(slots=True)
class SideResult:
    """What reading one side gave: records read and written, and the records left out."""

    side: str
    read: int = 0
    written: int = 0
    problems: list[Difference] = field(default_factory=list)
    #: target records without a key left out silently (a ``since`` run: not ours to judge)
    without_key: int = 0


@dataclass(frozen=True, slots=True)
class SideTask:
    """What one side's reader needs (plain data, so a child process can take it).

    Attributes:
        side: ``source`` or ``target``.
        names: the compared target fields, in order.
        key_field: the target's natural key field.
        amount_field: the field whose value is kept as the record's amount.
        since: source records changed since then only (None: all).
        page_size: records per read page.
        target_scope: ``all`` or ``xref`` (only target records with an xref of this flow).
        target_when: a compiled filter over the target record's fields, or None.
    """

    side: str
    names: tuple[str, ...]
    key_field: str
    amount_field: str | None
    since: datetime | None
    page_size: int
    target_scope: str = "all"
    target_when: Callable[[Mapping[str, object]], bool] | None = None

    @property
    def pick(self) -> Callable[[Mapping[str, object]], tuple[object, ...]]:
        """The compared values of a record as a tuple (KeyError: a field is absent)."""
        if len(self.names) == 1:
            only = self.names[0]
            return lambda fields: (fields[only],)
        if not self.names:
            return lambda fields: ()
        getter: Callable[[Mapping[str, object]], tuple[object, ...]] = itemgetter(*self.names)
        return getter


def _pick(
    pick: Callable[[Mapping[str, object]], tuple[object, ...]],
    fields: Mapping[str, object],
    names: tuple[str, ...],
) -> tuple[object, ...]:
    """The compared values of a record, in order (None for a field it does not have)."""
    try:
        return pick(fields)
    except KeyError:
        return tuple(map(fields.get, names))


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """Collect the youngest generation every 50,000 allocations instead of 700, meanwhile.

    Reading a page or joining a partition makes tens of thousands of short-lived
    containers and no cycles; the default threshold costs ~8% of a side's time for nothing.
    """
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], 50_000), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def _dumps(values: tuple[object, ...], dumps: Callable[..., bytes] = pickle.dumps) -> bytes:
    try:
        return dumps(values, 5)
    except (pickle.PicklingError, TypeError, AttributeError):  # a value we cannot keep as is
        return dumps(tuple(json_safe(v) for v in values), 5)


_PLAIN = frozenset("+-./0123456789")


def _key_text(value: object) -> str | None:
    """The join key: the normalised value as text (None: no key)."""
    if type(value) is str:  # most keys: text that is not a number or a date, as is
        text = value.strip()
        if text and text[0] not in _PLAIN and not text[0].isdigit():
            return text
    key = normalise(value)
    if key is None or isinstance(key, list | dict):
        return None
    return str(key)


class _SidePages:
    """What both sides' page writers hold: the store, the flow, the task and its spill."""

    def __init__(
        self, store: sa.Engine, runtime: Runtime, plan: FlowPlan, task: SideTask, spill: SideSpill
    ) -> None:
        self.store, self.runtime, self.plan, self.task, self.spill = (
            store,
            runtime,
            plan,
            task,
            spill,
        )
        self.clock: Clock = runtime.clock
        self.result = SideResult(task.side)


class _SourcePages(_SidePages):
    """Maps source pages (xrefs looked up per page) into the spill."""

    def _refuse(self, record: Record, reason: str, target_field: str | None = None) -> None:
        self.result.problems.append(
            Difference(
                DifferenceKind.UNMAPPABLE,
                key=record.id,
                field=target_field,
                rule=reason,
                source_id=record.id,
            )
        )

    def _accepted(self, records: Sequence[Record]) -> Sequence[Record]:
        if self.plan.spec.when is None:  # no filter: every record (skips a call per record)
            return records
        out = []
        for record in records:
            try:
                if self.plan.mapper.accepts(record.fields):
                    out.append(record)
            except MappingError as exc:
                self._refuse(record, str(exc), "when")
        return out

    async def _xrefs(self, records: Sequence[Record]) -> Mapping[tuple[str, str], str | None]:
        """The page's lookups (by id or natural key), resolved as a worker does."""
        plan = self.plan
        if not getattr(plan.mapper, "collectors", True):  # a mapping without xref lookups
            return {}
        requests: set[tuple[str, str]] = set()
        for record in records:
            requests |= plan.mapper.xref_requests(record.fields)
        if not requests:
            return {}
        found = await resolve_lookups(self.store, self.runtime, plan, requests, self.clock)
        return found.xrefs

    async def page(self, records: Sequence[Record]) -> None:
        accepted = self._accepted(records)
        xrefs = await self._xrefs(accepted)
        apply, key_field, names = self.plan.mapper.apply, self.task.key_field, self.task.names
        amount_field, dumps, pick = self.task.amount_field, pickle.dumps, self.task.pick
        entries: list[Entry] = []
        add = entries.append
        for record in accepted:
            try:
                payload = apply(record.fields, xrefs)
            except SkippedReference:
                continue  # missing="skip": a sync would not write it either (as when: false)
            except MappingError as exc:
                self._refuse(record, str(exc), exc.target_field)
                continue
            key = _key_text(payload.get(key_field))
            if key is None:
                self._refuse(record, "the mapped record has no key value", key_field)
                continue
            values = _dumps(_pick(pick, payload, names), dumps)
            add((key, record.id, values, payload.get(amount_field) if amount_field else None))
        self.spill.add_page(entries)


class _TargetPages(_SidePages):
    """Writes target pages (in scope, with a key) into the spill."""

    def _in_scope(self, records: Sequence[Record]) -> Sequence[Record]:
        task = self.task
        if task.target_scope == "xref":
            with self.store.connect() as conn:
                known = lookup_reverse_xrefs(conn, self.plan.xref_key, [r.id for r in records])
            records = [r for r in records if r.id in known]
        if task.target_when is not None:
            kept = []
            for record in records:
                try:
                    if task.target_when(record.fields):
                        kept.append(record)
                except MappingError as exc:
                    self._bad(record, f"target_when: {exc}")
            records = kept
        return records

    def _bad(self, record: Record, reason: str) -> None:
        self.result.problems.append(
            Difference(DifferenceKind.BAD_RECORD, key=record.id, actual=record.id, rule=reason)
        )

    async def page(self, records: Sequence[Record]) -> None:
        key_field, names, pick = self.task.key_field, self.task.names, self.task.pick
        amount_field, dumps = self.task.amount_field, pickle.dumps
        entries: list[Entry] = []
        add = entries.append
        for record in self._in_scope(records):
            fields = record.fields
            key = _key_text(fields.get(key_field))
            if key is None:
                if self.task.since is not None:  # like target-only keys: expected outside
                    self.result.without_key += 1  # the window, so counted, not reported
                else:
                    self._bad(record, f"the target record has no {key_field} (the key)")
                continue
            values = _dumps(_pick(pick, fields, names), dumps)
            add((key, record.id, values, fields.get(amount_field) if amount_field else None))
        self.spill.add_page(entries)


async def read_side(
    store: sa.Engine,
    runtime: Runtime,
    plan: FlowPlan,
    task: SideTask,
    spill: SideSpill,
    *,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> SideResult:
    """Read one side completely into ``spill`` (closed at the end).

    Raises:
        ConnectorError: the side failed while reading (the caller fails the run).
        ReadStopped: ``should_stop`` said so between two pages.
    """
    is_source = task.side == "source"
    pages = (_SourcePages if is_source else _TargetPages)(store, runtime, plan, task, spill)
    connection = plan.source_connection if is_source else plan.target_connection
    object_name = plan.spec.source.object if is_source else plan.spec.target.object
    connector = runtime.connector(connection)
    guard = runtime.guard(connection)
    since = task.since if is_source else None
    # The source side only filters and maps its records: the flow's own field list. The
    # target side compares target fields by name: every field.
    fields = fields_kwargs(connector.read_changes, plan.source_fields if is_source else None)
    iterator = aiter(
        connector.read_changes(
            object_name, Cursor(stamp=since) if since else None, task.page_size, **fields
        )
    )
    last_report = 0.0
    try:
        with fewer_collections():
            while True:
                try:
                    page = await guard.call(lambda: anext(iterator))
                except StopAsyncIteration:
                    break
                await pages.page([r for r in page.records if not r.deleted])
                pages.result.read += len(page.records)
                pages.result.problems.extend(
                    Difference(
                        DifferenceKind.BAD_RECORD,
                        key=error.position,
                        actual=task.side,
                        rule=f"{connection} could not read it: {error.error}",
                    )
                    for error in page.errors
                )
                await asyncio.sleep(0)  # let a cancel (Ctrl-C) and the hub's other tasks in
                now = time.monotonic()
                if progress is not None and now - last_report >= 0.2:
                    last_report = now
                    progress(task.side, pages.result.read)
                if should_stop is not None and should_stop():
                    raise ReadStopped(task.side)
    finally:
        spill.close()
    pages.result.written = spill.count
    if progress is not None:
        progress(task.side, pages.result.read)
    return pages.result
