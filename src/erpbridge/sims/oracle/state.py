"""The simulator's records: in-memory tables, an undo log, write-through to SQLite.

A record is a JSON-ready dict (children inline as lists, datetimes as Oracle-formatted UTC
strings) plus ``@version``, the change counter behind its ETag. Every change runs inside
:meth:`OracleState.transaction`: if anything in it fails, memory is restored and nothing is
persisted (a batch request is all-or-nothing, reference §4); on success the touched records
are written to the shared :class:`DocumentStore` in one SQLite transaction. Every write and
every undo goes through one function (``_place``), which keeps the indexes current: by value
for ``=``/``IN`` lookups, sorted by stamp for reads of the changes since one.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from erpbridge.sims._common.persist import Document, DocumentStore
from erpbridge.sims._common.ranges import RangeIndex
from erpbridge.sims.oracle.model import RESOURCES
from erpbridge.sims.oracle.query import format_stamp

__all__ = ["VERSION_KEY", "OracleState", "Row", "utc_now_ms"]

Row = dict[str, object]
VERSION_KEY = "@version"

#: first numbers handed out per counter (Fusion ids are large 15-digit numbers).
_COUNTER_START = {
    "HeaderId": 300_100_571_000_001,
    "OrderNumber": 520_001,
    "LineId": 300_100_572_000_001,
    "ChildId": 300_100_573_000_001,
    "ItemId": 300_100_080_000_001,
    "RequisitionHeaderId": 300_100_190_000_001,
    "Requisition": 100_001,
    "RequisitionLineId": 300_100_191_000_001,
    # above the seeded parties and accounts (seed.py numbers those from the ...000_001s)
    "PartyId": 300_100_003_100_001,
    "PartyNumber": 90_001,
    "CustomerAccountId": 300_100_004_100_001,
    "AccountNumber": 20_001,
    "SiteUseId": 300_100_005_100_001,
}


def utc_now_ms() -> datetime:
    """Now in UTC, cut to milliseconds (the precision of Oracle's stamps)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _index_value(value: object) -> object:
    """Index key: numbers as floats (query literals are), unhashables by their text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, list | dict):
        return repr(value)
    return value


def _sort_key(key: str) -> tuple[int, str]:
    return (len(key), key) if key.isdigit() else (1 << 30, key)


def _text(value: object) -> str | None:
    """A stamp index holds text only: a ``q`` comparison with a stamp holds for no other."""
    return value if isinstance(value, str) else None


class OracleState:
    """All tables of the simulated pod.

    Args:
        store: where records persist; None keeps them in memory only (unit tests).
        clock: aware UTC now; injected so tests control time. Default: real time.
    """

    def __init__(
        self, store: DocumentStore | None = None, clock: Callable[[], datetime] = utc_now_ms
    ) -> None:
        self.store = store
        self.clock = clock
        self.tables: dict[str, dict[str, Row]] = {name: {} for name in RESOURCES}
        self._alt: dict[str, dict[tuple[str, ...], str]] = {name: {} for name in RESOURCES}
        self._indexes: dict[tuple[str, str], dict[object, set[str]]] = {}
        #: (resource, datetime attribute) -> its sorted index (text), for reads from a stamp
        self._ranges: dict[tuple[str, str], RangeIndex[str, str]] = {}
        self.counters: dict[str, int] = {}
        self._undo: dict[tuple[str, str], Row | None] | None = None
        self._counters_before: dict[str, int] = {}

    # --- reading ------------------------------------------------------------------------

    def get(self, resource: str, key: str) -> Row | None:
        """The record with ``key``, or None."""
        return self.tables[resource].get(key)

    def by_alt_key(self, resource: str, values: tuple[str, ...]) -> str | None:
        """The key of the record whose alternate key is ``values``, or None."""
        return self._alt[resource].get(values)

    def lookup(self, resource: str, attr: str, values: list[object]) -> list[tuple[str, Row]]:
        """(key, record) pairs whose ``attr`` is one of ``values`` (indexed), in key order."""
        index = self._indexes.get((resource, attr))
        if index is None:
            index = {}
            for key, row in self.tables[resource].items():
                index.setdefault(_index_value(row.get(attr)), set()).add(key)
            self._indexes[(resource, attr)] = index
        keys: set[str] = set()
        for value in values:
            keys |= index.get(_index_value(value), set())
        table = self.tables[resource]
        return [(k, table[k]) for k in sorted(keys, key=_sort_key)]

    def rows(self, resource: str) -> list[tuple[str, Row]]:
        """(key, record) pairs of a resource in key order."""
        table = self.tables[resource]
        return [(k, table[k]) for k in sorted(table, key=_sort_key)]

    def rows_from(self, resource: str, attr: str, floor: str) -> list[tuple[str, Row]]:
        """(key, record) pairs whose ``attr`` is a text at or after ``floor``, in key order.

        Read through a sorted index of ``attr`` (a stamp), kept up to date by every write
        and undo once built, as a database reads a range of an indexed column: a steady poll
        of the changes since a stamp costs what it finds, not the table. The index holds
        text values only: a ``q`` comparison with a stamp holds for no other (filter.py
        ``Floor``), so the records it leaves out are those no such filter matches.
        """
        index = self._ranges.get((resource, attr))
        if index is None:
            index = RangeIndex(
                (value, key)
                for key, row in self.tables[resource].items()
                if (value := _text(row.get(attr))) is not None
            )
            self._ranges[(resource, attr)] = index
        table = self.tables[resource]
        return [(k, table[k]) for k in sorted(index.keys_from(floor), key=_sort_key)]

    def now(self) -> str:
        """The clock's now as an Oracle stamp string."""
        return format_stamp(self.clock())

    # --- writing ------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing; nested calls join the outer one."""
        if self._undo is not None:
            yield
            return
        self._undo = {}
        self._counters_before = dict(self.counters)
        try:
            yield
        except BaseException:
            undo, self._undo = self._undo, None
            for (resource, key), old in undo.items():
                self._place(resource, key, old)
            self.counters = self._counters_before
            raise
        undo, self._undo = self._undo, None
        self._persist(list(undo))

    def put(self, resource: str, key: str, row: Row) -> None:
        """Insert or replace a record (inside a transaction); bumps ``@version``."""
        self._remember(resource, key)
        old = self.tables[resource].get(key)
        version = int(str(old.get(VERSION_KEY, 0))) if old else 0
        row[VERSION_KEY] = version + 1
        self._place(resource, key, row)

    def remove(self, resource: str, key: str) -> None:
        """Delete a record (inside a transaction)."""
        self._remember(resource, key)
        self._place(resource, key, None)

    def next_id(self, counter: str) -> int:
        """The next number of ``counter`` (gaps after a rollback are normal in Fusion too)."""
        value = max(self.counters.get(counter, 0), _COUNTER_START.get(counter, 1))
        self.counters[counter] = value + 1
        return value

    def _remember(self, resource: str, key: str) -> None:
        if self._undo is None:
            raise RuntimeError("OracleState writes must run inside transaction()")
        if (resource, key) not in self._undo:
            old = self.tables[resource].get(key)
            self._undo[(resource, key)] = None if old is None else copy.deepcopy(old)

    def _alt_of(self, resource: str, row: Row) -> tuple[str, ...] | None:
        alt = RESOURCES[resource].alt_key
        if not alt:
            return None
        values = tuple(str(row.get(a) or "") for a in alt)
        return values if any(values) else None  # a record without the key (a seeded party)

    def _place(self, resource: str, key: str, row: Row | None) -> None:
        table = self.tables[resource]
        old = table.get(key)
        for (index_resource, attr), index in self._indexes.items():
            if index_resource != resource:
                continue
            if old is not None:
                index.get(_index_value(old.get(attr)), set()).discard(key)
            if row is not None:
                index.setdefault(_index_value(row.get(attr)), set()).add(key)
        for (range_resource, attr), ranged in self._ranges.items():
            if range_resource == resource:
                before = None if old is None else _text(old.get(attr))
                ranged.move(key, before, None if row is None else _text(row.get(attr)))
        if old is not None:
            alt = self._alt_of(resource, old)
            if alt is not None and self._alt[resource].get(alt) == key:
                del self._alt[resource][alt]
        if row is None:
            table.pop(key, None)
            return
        table[key] = row
        alt = self._alt_of(resource, row)
        if alt is not None:
            self._alt[resource][alt] = key

    # --- persistence --------------------------------------------------------------------

    def _persist(self, touched: list[tuple[str, str]]) -> None:
        if self.store is None or not touched:
            return
        docs: list[Document] = []
        gone: list[tuple[str, str]] = []
        for resource, key in touched:
            row = self.tables[resource].get(key)
            if row is None:
                gone.append((resource, key))
            else:
                stamp = str(row.get("LastUpdateDate") or self.now())
                docs.append(Document(resource, key, dict(row), stamp))
        with self.store.transaction():
            self.store.put_many(docs)
            for resource, key in gone:
                self.store.remove(resource, key)
            for name, value in self.counters.items():
                self.store.set_meta(f"counter:{name}", str(value))

    def load(self) -> bool:
        """Read every record back from the store; False when it holds none."""
        if self.store is None:
            return False
        found = False
        for doc in self.store.load():
            if doc.object not in self.tables:
                continue
            self._place(doc.object, doc.id, dict(doc.body))
            found = True
        self._indexes.clear()
        for name in _COUNTER_START:
            raw = self.store.get_meta(f"counter:{name}")
            if raw is not None:
                self.counters[name] = int(raw)
        return found
