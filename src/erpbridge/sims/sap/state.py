"""The simulator's records: in-memory tables, write-through to SQLite, atomic changes.

Each entity set is a table ``key tuple -> record`` of Python values. Every change runs inside
:meth:`SapState.transaction`: an undo log restores memory if anything in it fails (a
changeset of a ``$batch`` is all-or-nothing, as SAP Gateway does it), and the touched
records are written to the shared :class:`DocumentStore` in one SQLite transaction when it
succeeds, so a restart keeps the data. Within :meth:`SapState.persist_together` (one
``$batch`` request) the changesets' records are written in one SQLite transaction at its
end, before the answer is sent. Business rules (numbering, pricing, statuses, the
business-day tick) live in rules.py; this module is only storage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from erpbridge.sims._common.persist import Document, DocumentStore
from erpbridge.sims._common.ranges import RangeIndex
from erpbridge.sims.sap.model import SERVICES, EntitySetDef
from erpbridge.sims.sap.wire import Value, decode_json, encode_row, format_key

__all__ = ["Key", "Row", "SapState", "utc_now_ms"]

Row = dict[str, Value]
Key = tuple[str, ...]


def utc_now_ms() -> datetime:
    """Now in UTC, cut to milliseconds (the precision of ``/Date(ms)/`` on the wire)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _all_sets() -> dict[str, EntitySetDef]:
    return {s.name: s for service in SERVICES.values() for s in service.sets}


class SapState:
    """All tables of the simulated system.

    Args:
        store: where records persist; None keeps them in memory only (unit tests).
        clock: returns aware UTC now; injected so tests control time. Default: real time.
    """

    def __init__(
        self, store: DocumentStore | None = None, clock: Callable[[], datetime] = utc_now_ms
    ) -> None:
        self.store = store
        self.clock = clock
        self.sets = _all_sets()
        self.tables: dict[str, dict[Key, Row]] = {name: {} for name in self.sets}
        self._indexes: dict[tuple[str, tuple[str, ...]], dict[Key, set[Key]]] = {}
        #: the same indexes by set, for the write path
        self._set_indexes: dict[str, list[tuple[tuple[str, ...], dict[Key, set[Key]]]]] = {}
        #: set -> date property -> its sorted index, for reads from a date on
        self._ranges: dict[str, dict[str, RangeIndex[datetime, Key]]] = {}
        self._undo: dict[tuple[str, Key], Row | None] | None = None
        #: records committed inside persist_together(), written when it ends
        self._pending: dict[tuple[str, Key], None] | None = None
        self.counters: dict[str, int] = {}

    # --- reading ------------------------------------------------------------------

    def key_of(self, entity_set: EntitySetDef, row: Row) -> Key:
        """The key tuple of ``row`` in ``entity_set``."""
        return tuple(str(row.get(k) or "") for k in entity_set.keys)

    def get(self, set_name: str, key: Key) -> Row | None:
        """The record with ``key``, or None."""
        return self.tables[set_name].get(key)

    def rows(self, set_name: str) -> list[Row]:
        """Every record of a set, in key order."""
        table = self.tables[set_name]
        return [table[k] for k in sorted(table)]

    def related(self, set_name: str, props: tuple[str, ...], values: Key) -> list[Row]:
        """Records of ``set_name`` whose ``props`` equal ``values`` (indexed), in key order."""
        index = self._index(set_name, props)
        table = self.tables[set_name]
        return [table[k] for k in sorted(index.get(values, ()))]

    def rows_where(self, set_name: str, prop: str, values: frozenset[str]) -> list[Row]:
        """Records whose ``prop`` is one of ``values`` (indexed), in key order."""
        index = self._index(set_name, (prop,))
        keys: set[Key] = set()
        for value in values:
            keys |= index.get((value,), set())
        table = self.tables[set_name]
        return [table[k] for k in sorted(keys)]

    def rows_from(self, set_name: str, prop: str, floor: datetime) -> list[Row]:
        """Records whose date ``prop`` is at or after ``floor`` (aware), in key order.

        Read through a sorted index of ``prop``, kept up to date by every write once built,
        as a database reads a range of an indexed column: a steady poll of the last second's
        changes costs what it finds, not the table. Records whose ``prop`` is null (or not
        an aware datetime) are never among them, as no comparison with a date holds for them.
        """
        ranges = self._ranges.setdefault(set_name, {})
        index = ranges.get(prop)
        table = self.tables[set_name]
        if index is None:
            index = RangeIndex(
                (value, key) for key, row in table.items() if (value := _dated(row.get(prop)))
            )
            ranges[prop] = index
        return [table[k] for k in sorted(index.keys_from(floor))]

    def _index(self, set_name: str, props: tuple[str, ...]) -> dict[Key, set[Key]]:
        index = self._indexes.get((set_name, props))
        if index is None:
            index = {}
            for key, row in self.tables[set_name].items():
                index.setdefault(tuple(str(row.get(p) or "") for p in props), set()).add(key)
            self._indexes[(set_name, props)] = index
            self._set_indexes.setdefault(set_name, []).append((props, index))
        return index

    # --- writing ------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing: memory is restored and nothing persisted if the block raises.

        Nested calls join the outer transaction.
        """
        if self._undo is not None:
            yield
            return
        self._undo = {}
        try:
            yield
        except BaseException:
            undo, self._undo = self._undo, None
            for (set_name, key), old in undo.items():
                self._place(set_name, key, old)
            raise
        undo, self._undo = self._undo, None
        if self._pending is not None:
            self._pending.update(dict.fromkeys(undo))
        else:
            self._persist(list(undo))

    @contextmanager
    def persist_together(self) -> Iterator[None]:
        """Write what the block's transactions commit in one SQLite transaction at its end.

        Each transaction stays all-or-nothing in memory; only the write-through waits (a
        ``$batch`` of 50 changesets paid 50 SQLite transactions, each rewriting the number
        ranges). The records are written even when the block raises: what committed stays
        committed. Nested calls join the outer one.
        """
        if self._pending is not None:
            yield
            return
        self._pending = {}
        try:
            yield
        finally:
            pending, self._pending = self._pending, None
            self._persist(list(pending))

    def put(self, set_name: str, row: Row) -> Key:
        """Insert or replace a record (inside a transaction)."""
        key = self.key_of(self.sets[set_name], row)
        self._remember(set_name, key)
        self._place(set_name, key, row)
        return key

    def remove(self, set_name: str, key: Key) -> None:
        """Delete a record (inside a transaction)."""
        self._remember(set_name, key)
        self._place(set_name, key, None)

    def next_number(self, name: str, start: int) -> int:
        """The next number of a number range (gaps after a rollback are normal in SAP too)."""
        value = max(self.counters.get(name, start), start)
        self.counters[name] = value + 1
        return value

    def _remember(self, set_name: str, key: Key) -> None:
        if self._undo is None:
            raise RuntimeError("SapState writes must run inside transaction()")
        if (set_name, key) not in self._undo:
            old = self.tables[set_name].get(key)
            self._undo[(set_name, key)] = None if old is None else dict(old)

    def _place(self, set_name: str, key: Key, row: Row | None) -> None:
        table = self.tables[set_name]
        old = table.get(key)
        for props, index in self._set_indexes.get(set_name, ()):
            if old is not None:
                index.get(tuple(str(old.get(p) or "") for p in props), set()).discard(key)
            if row is not None:
                index.setdefault(tuple(str(row.get(p) or "") for p in props), set()).add(key)
        for prop, ranged in self._ranges.get(set_name, {}).items():
            before = None if old is None else _dated(old.get(prop))
            ranged.move(key, before, None if row is None else _dated(row.get(prop)))
        if row is None:
            table.pop(key, None)
        else:
            table[key] = row

    # --- persistence --------------------------------------------------------------

    def _persist(self, touched: list[tuple[str, Key]]) -> None:
        if self.store is None or not touched:
            return
        stamp = self.clock().isoformat()
        docs: list[Document] = []
        gone: list[tuple[str, str]] = []
        for set_name, key in touched:
            entity_set = self.sets[set_name]
            row = self.tables[set_name].get(key)
            doc_id = format_key(entity_set, dict(zip(entity_set.keys, key, strict=True)))
            if row is None:
                gone.append((set_name, doc_id))
            else:
                body = encode_row(entity_set, row)
                docs.append(Document(set_name, doc_id, body, stamp))
        with self.store.transaction():
            self.store.put_many(docs)
            for set_name, doc_id in gone:
                self.store.remove(set_name, doc_id)
            for name, value in self.counters.items():
                self.store.set_meta(f"counter:{name}", str(value))

    def load(self) -> bool:
        """Read every record back from the store; False when the store is empty."""
        if self.store is None:
            return False
        found = False
        for doc in self.store.load():
            entity_set = self.sets.get(doc.object)
            if entity_set is None:
                continue
            row: Row = {}
            for prop in entity_set.props:
                row[prop.name] = decode_json(entity_set, prop, doc.body.get(prop.name))
            self.tables[doc.object][self.key_of(entity_set, row)] = row
            found = True
        for name in ("SalesOrder", "BusinessPartner", "PurchaseRequisition", "PurchaseOrder"):
            raw = self.store.get_meta(f"counter:{name}")
            if raw is not None:
                self.counters[name] = int(raw)
        self._indexes.clear()
        self._set_indexes.clear()
        self._ranges.clear()
        return found


def _dated(value: object) -> datetime | None:
    """``value`` when it is an aware datetime, the only values a range index holds."""
    return value if isinstance(value, datetime) and value.tzinfo is not None else None
