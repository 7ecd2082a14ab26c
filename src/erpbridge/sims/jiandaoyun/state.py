"""The simulator's records: per form, in ``_id`` order, written through to SQLite.

Invariants copied from the product (reference §9): ``_id`` is a 24-hex ObjectId that grows
with time (so ``data_id`` paging works); ``updateTime`` changes on every write; a form's
``dataModifyTime`` moves on any write. Records of one batch share one stamp, as a real
batch does; later writes get a later stamp even when the clock has not moved (1 ms on).
Listeners (the data push) hear every single create, update and delete. Every write goes
through :meth:`JdyState._place`, which keeps the ``_id`` order and the sorted datetime
indexes (reads from a stamp on, :meth:`JdyState.scan` with a :class:`Floor`) current.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from erpbridge.sims._common.persist import Document, DocumentStore
from erpbridge.sims._common.ranges import RangeIndex
from erpbridge.sims.jiandaoyun.filters import FilterPlan
from erpbridge.sims.jiandaoyun.values import format_time, member
from erpbridge.sims.jiandaoyun.widgets import APP, App, Entry

__all__ = ["JdyState", "Listener", "Record", "utc_now"]

Record = dict[str, object]
#: hears (op, record) for ``data_create``, ``data_update`` and ``data_remove``.
Listener = Callable[[str, Entry, Record], None]


def utc_now() -> datetime:
    """Now, aware UTC."""
    return datetime.now(UTC)


class JdyState:
    """Every form's records.

    Args:
        app: the app and its forms. Default: the sandbox app (widgets.py).
        store: write-through persistence; None keeps records in memory (unit tests).
        clock: aware UTC now; injected so tests control time. Default: real time.
    """

    def __init__(
        self,
        app: App = APP,
        store: DocumentStore | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.app = app
        self.store = store
        self.clock = clock
        self.records: dict[str, dict[str, Record]] = {e.entry_id: {} for e in app.entries}
        self._order: dict[str, list[str]] = {e.entry_id: [] for e in app.entries}
        #: form -> datetime field -> its sorted index (stored text), built on first read
        self._ranges: dict[str, dict[str, RangeIndex[str, str]]] = {}
        self.modify_time: dict[str, str] = {}
        self.listeners: list[Listener] = []
        self._last_oid = 0
        self._last_stamp = datetime(1970, 1, 1, tzinfo=UTC)
        self._transactions: dict[str, dict[str, object]] = {}

    # --- ids, stamps, persistence ---------------------------------------------------

    def new_id(self) -> str:
        """A fresh ObjectId: 4 bytes of seconds, then a counter; always increasing."""
        candidate = int(self.clock().timestamp()) << 64
        self._last_oid = max(self._last_oid + 1, candidate)
        return f"{self._last_oid:024x}"

    def _stamp(self) -> str:
        now = self.clock().astimezone(UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        if now <= self._last_stamp:
            now = self._last_stamp + timedelta(milliseconds=1)
        self._last_stamp = now
        return format_time(now)

    def load(self) -> int:
        """Read every record back from the store; returns how many."""
        if self.store is None:
            return 0
        count = 0
        for doc in self.store.load():
            if doc.object in self.records:
                record = dict(doc.body)
                self._place(doc.object, str(record["_id"]), record)
                count += 1
        meta = self.store.get_meta("state")
        if meta:
            saved = json.loads(meta)
            self._last_oid = int(saved["last_oid"])
            self._last_stamp = datetime.fromisoformat(saved["last_stamp"])
            self.modify_time = dict(saved["modify_time"])
        return count

    def _persist(self, entry: Entry, upserts: Sequence[Record], removed: Sequence[str]) -> None:
        if self.store is None:
            return
        state = {
            "last_oid": self._last_oid,
            "last_stamp": self._last_stamp.isoformat(),
            "modify_time": self.modify_time,
        }
        with self.store.transaction():
            self.store.put_many(
                Document(entry.entry_id, str(r["_id"]), r, str(r["updateTime"])) for r in upserts
            )
            for data_id in removed:
                self.store.remove(entry.entry_id, data_id)
            self.store.set_meta("state", json.dumps(state))

    def _place(self, entry_id: str, data_id: str, record: Record | None) -> Record | None:
        """Store ``record`` as ``data_id`` (None: delete it), moving it in every index;
        returns the record it replaced."""
        table = self.records[entry_id]
        order = self._order[entry_id]
        old = table.pop(data_id, None) if record is None else table.get(data_id)
        if old is None and record is not None:
            if not order or order[-1] < data_id:
                order.append(data_id)
            else:
                bisect.insort(order, data_id)
        elif old is not None and record is None:
            del order[bisect.bisect_left(order, data_id)]
        for field, index in self._ranges.get(entry_id, {}).items():
            before = None if old is None else _text(old.get(field))
            index.move(data_id, before, None if record is None else _text(record.get(field)))
        if record is not None:
            table[data_id] = record
        return old

    def _notify(self, op: str, entry: Entry, record: Record) -> None:
        for listener in self.listeners:
            listener(op, entry, record)

    # --- idempotency (transaction_id) ------------------------------------------------

    def recall(self, key: str) -> dict[str, object] | None:
        """The answer given earlier for a ``transaction_id`` key, or None."""
        if key in self._transactions:
            return self._transactions[key]
        if self.store is not None:
            saved = self.store.get_meta(f"txn:{key}")
            if saved is not None:
                answer: dict[str, object] = json.loads(saved)
                return answer
        return None

    def remember(self, key: str, answer: dict[str, object]) -> None:
        """Keep the answer of a ``transaction_id`` so a replay gets it without a new write."""
        self._transactions[key] = answer
        if self.store is not None:
            self.store.set_meta(f"txn:{key}", json.dumps(answer, ensure_ascii=False))

    # --- reading ----------------------------------------------------------------------

    def get(self, entry: Entry, data_id: str) -> Record | None:
        """The record ``data_id`` of ``entry``, or None."""
        return self.records[entry.entry_id].get(data_id)

    def scan(self, entry: Entry, after_id: str, plan: FilterPlan) -> Iterator[Record]:
        """Records with ``_id`` > ``after_id`` (all when empty) in ``_id`` order, filtered.

        When the filter bounds a datetime field from below (a poll's ``updateTime`` range),
        only the records from that stamp on are read, through a sorted index of the field
        built on first use and kept current by every write, as a database reads a range of
        an indexed column: a steady poll costs what it finds, not the form's size.
        """
        table = self.records[entry.entry_id]
        floor = plan.floor
        ids = self._order[entry.entry_id]
        if floor is not None:
            ids = self._ids_from(entry.entry_id, floor.field, floor.value)
        start = bisect.bisect_right(ids, after_id) if after_id else 0
        predicate = plan.predicate
        for data_id in ids[start:]:
            record = table[data_id]  # _place keeps the order and the indexes in step
            if predicate is None or predicate(record):
                yield record

    def _ids_from(self, entry_id: str, field: str, floor: str) -> list[str]:
        """The ``_id`` of every record whose ``field`` is text at or after ``floor``, sorted.

        Text, because the filter compares the stored texts: a null or non-text value fails
        every bound, so it is never indexed.
        """
        ranges = self._ranges.setdefault(entry_id, {})
        index = ranges.get(field)
        if index is None:
            index = RangeIndex(
                (value, data_id)
                for data_id, record in self.records[entry_id].items()
                if (value := _text(record.get(field))) is not None
            )
            ranges[field] = index
        return sorted(index.keys_from(floor))

    def data_modify_time(self, entry: Entry) -> str | None:
        """When any record of ``entry`` last changed (``widget/list.dataModifyTime``)."""
        return self.modify_time.get(entry.entry_id)

    # --- writing ----------------------------------------------------------------------

    def create(
        self,
        entry: Entry,
        rows: Sequence[Mapping[str, object]],
        *,
        creator: str,
        flow_state: int | None = None,
        notify: bool = True,
    ) -> list[Record]:
        """Insert records (widgets already in read format); one stamp for the batch."""
        stamp = self._stamp()
        who = member(creator)
        created: list[Record] = []
        for fields in rows:
            record: Record = {"_id": self.new_id(), "appId": self.app.app_id}
            record["entryId"] = entry.entry_id
            for widget in entry.widgets:
                record[widget.name] = [] if widget.type == "subform" else None
            record.update(fields)
            record.update(creator=who, updater=who, deleter=None)
            record.update(createTime=stamp, updateTime=stamp)
            if entry.is_workflow:
                record["flowState"] = 1 if flow_state is None else flow_state
            created.append(record)
        for record in created:
            self._place(entry.entry_id, str(record["_id"]), record)
        self.modify_time[entry.entry_id] = stamp
        self._persist(entry, created, ())
        if notify:
            for record in created:
                self._notify("data_create", entry, record)
        return created

    def update(
        self,
        entry: Entry,
        data_ids: Sequence[str],
        fields: Mapping[str, object],
        *,
        updater: str,
        notify: bool = True,
    ) -> list[Record]:
        """Change the given widgets of existing records (missing ids are skipped)."""
        stamp = self._stamp()
        table = self.records[entry.entry_id]
        changed: list[Record] = []
        for data_id in data_ids:
            old = table.get(data_id)
            if old is None:
                continue
            record = {**old, **fields, "updater": member(updater), "updateTime": stamp}
            self._place(entry.entry_id, data_id, record)
            changed.append(record)
        if changed:
            self.modify_time[entry.entry_id] = stamp
            self._persist(entry, changed, ())
        if notify:
            for record in changed:
                self._notify("data_update", entry, record)
        return changed

    def delete(self, entry: Entry, data_ids: Sequence[str], *, notify: bool = True) -> list[Record]:
        """Remove records (missing ids are skipped); returns the removed ones."""
        stamp = self._stamp()
        removed: list[Record] = []
        for data_id in data_ids:
            record = self._place(entry.entry_id, data_id, None)
            if record is not None:
                removed.append(record)
        if removed:
            self.modify_time[entry.entry_id] = stamp
            self._persist(entry, (), [str(r["_id"]) for r in removed])
        if notify:
            for record in removed:
                self._notify("data_remove", entry, record)
        return removed


def _text(value: object) -> str | None:
    """A datetime index holds the stored texts only, as the filter compares them."""
    return value if isinstance(value, str) else None
