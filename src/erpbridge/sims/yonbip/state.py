"""The YonBIP simulator's records: merchants (客户), products (物料), sales orders, stock,
the credit stand-in (credit.py) and purchase requisitions (请购单).

Records are dicts with YonBIP's wire names. ``pubts`` (last modified) is server local time
(China, UTC+8) as ``yyyy-MM-dd HH:mm:ss`` with one-second resolution, as the open API
answers it, so many records share a stamp; readers tie-break by ``id``. Ids are longs
like the platform's (``2446326816231680``), safe below 2**53 for JSON clients.
Every change writes through to the shared SQLite ``DocumentStore`` when one is given.
A list asked for the changes since a stamp reads the records from that stamp on through a
sorted index of ``pubts`` (:meth:`BipState.rows_from`), as a database reads an indexed range.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from erpbridge.sims._common.persist import Document, DocumentStore
from erpbridge.sims._common.ranges import RangeIndex

__all__ = ["CST", "OBJECTS", "BipState", "Idempotent", "Row", "utc_now"]

Row = dict[str, object]

#: the server's local time zone: the open API answers stamps in it, without a zone.
CST = timezone(timedelta(hours=8), "CST")
#: the object tables the simulator keeps.
OBJECTS = ("merchant", "product", "voucherorder", "stock", "credit", "applyorder")
_FIRST_ID = 2446326816231680
_STAMP = "%Y-%m-%d %H:%M:%S"


def utc_now() -> datetime:
    """Now, aware UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Idempotent:
    """The remembered result of one ``resubmitCheckKey`` (reference §B7)."""

    saved_at: str
    record_id: int
    data: object


class BipState:
    """Every table by id, code indexes, counters and the resubmitCheckKey book.

    Args:
        store: where records persist; None keeps them in memory only (unit tests).
        clock: aware UTC now; injected so tests control time. Default: real time.
    """

    def __init__(
        self, store: DocumentStore | None = None, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.store = store
        self.clock = clock
        self.tables: dict[str, dict[int, Row]] = {name: {} for name in OBJECTS}
        self._codes: dict[str, dict[str, int]] = {name: {} for name in OBJECTS}
        #: table -> its sorted index of ``pubts`` (text), built on the first read from a stamp
        self._stamps: dict[str, RangeIndex[str, int]] = {}
        self.counters: dict[str, int] = {}
        self.idempotent: dict[str, Idempotent] = {}

    # --- time -------------------------------------------------------------------------

    def now_text(self) -> str:
        """Now as a ``pubts`` text (server local time, seconds)."""
        return self.clock().astimezone(CST).strftime(_STAMP)

    def age_s(self, stamp_text: str) -> float:
        """Seconds since a ``pubts``-style text."""
        then = datetime.strptime(stamp_text, _STAMP).replace(tzinfo=CST)
        return (self.clock() - then).total_seconds()

    # --- reading ----------------------------------------------------------------------

    def get(self, table: str, record_id: int) -> Row | None:
        """The record with this id, or None."""
        return self.tables[table].get(record_id)

    def by_code(self, table: str, code: str) -> Row | None:
        """The record with this code (exact), or None."""
        record_id = self._codes[table].get(code)
        return None if record_id is None else self.tables[table].get(record_id)

    def rows(self, table: str) -> list[Row]:
        """Every record of a table, in id order."""
        t = self.tables[table]
        return [t[k] for k in sorted(t)]

    def rows_from(self, table: str, floor: str | None) -> list[Row]:
        """The records whose ``pubts`` text is at or above ``floor``, in id order; every
        record when ``floor`` is None.

        Read through a sorted index of ``pubts``, kept up to date by :meth:`put` and
        :meth:`remove` once built: a steady poll costs what changed since its stamp, not the
        table. A list compares ``pubts`` with a text as text whatever its type
        (query.py ``_cmp``), so the index holds the text of every ``pubts`` but null, which
        no bound lets through; a record it leaves out cannot pass the list's conditions.
        """
        if floor is None:
            return self.rows(table)
        stamps = self._stamps.get(table)
        if stamps is None:
            stamps = RangeIndex(
                (text, k)
                for k, r in self.tables[table].items()
                if (text := _stamp_text(r)) is not None
            )
            self._stamps[table] = stamps
        t = self.tables[table]
        return [t[k] for k in sorted(stamps.keys_from(floor))]

    def resolve(self, table: str, ref: object) -> Row | None:
        """A reference given as an id (number or digits) or as a code."""
        if isinstance(ref, bool) or ref is None:
            return None
        if isinstance(ref, int):
            return self.get(table, ref)
        text = str(ref).strip()
        row = self.by_code(table, text)
        if row is None and text.isdigit():
            row = self.get(table, int(text))
        return row

    # --- writing ----------------------------------------------------------------------

    def next_id(self) -> int:
        """A new record id (one sequence for every table, as the platform's are global)."""
        n = self.counters.get("id", _FIRST_ID) + 1
        self.counters["id"] = n
        return n

    def next_number(self, prefix: str, day: str) -> str:
        """The next document code of the day (``UO-2026010500001``)."""
        key = f"{prefix}{day}"
        n = self.counters.get(key, 0) + 1
        self.counters[key] = n
        return f"{prefix}{day}{n:05d}"

    def put(self, table: str, row: Row) -> Row:
        """Store a record (a deep copy), index its code and persist it."""
        row = copy.deepcopy(row)
        record_id = int(str(row["id"]))
        old = self.tables[table].get(record_id)
        if old is not None and old.get("code") != row.get("code"):
            self._codes[table].pop(str(old.get("code")), None)
        self._restamp(table, record_id, old, row)
        self.tables[table][record_id] = row
        if row.get("code"):
            self._codes[table][str(row["code"])] = record_id
        if self.store is not None:
            self.store.put(Document(table, str(record_id), row, str(row.get("pubts", ""))))
            self._save_counters()
        return row

    def remove(self, table: str, record_id: int) -> None:
        """Delete a record for good (the open API keeps no tombstones)."""
        row = self.tables[table].pop(record_id, None)
        if row is not None and row.get("code"):
            self._codes[table].pop(str(row["code"]), None)
        self._restamp(table, record_id, row, None)
        if self.store is not None:
            self.store.remove(table, str(record_id))

    def remember(self, key: str, entry: Idempotent) -> None:
        """Keep a resubmitCheckKey's result (persisted, so a restart keeps the promise)."""
        self.idempotent[key] = entry
        if self.store is not None:
            body = {"saved_at": entry.saved_at, "record_id": entry.record_id, "data": entry.data}
            self.store.put(Document("idempotent", key, body, entry.saved_at))

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group writes into one SQLite transaction (a no-op without a store)."""
        if self.store is None:
            yield
            return
        with self.store.transaction():
            yield

    def _restamp(self, table: str, record_id: int, old: Row | None, new: Row | None) -> None:
        """Move a record in the ``pubts`` index (once built) from ``old``'s to ``new``'s."""
        stamps = self._stamps.get(table)
        if stamps is not None:
            before = None if old is None else _stamp_text(old)
            stamps.move(record_id, before, None if new is None else _stamp_text(new))

    def _save_counters(self) -> None:
        if self.store is not None:
            self.store.set_meta("counters", json.dumps(self.counters))

    # --- loading ----------------------------------------------------------------------

    def load(self) -> bool:
        """Read every record back from the store; False when it holds none."""
        if self.store is None:
            return False
        found = False
        for doc in self.store.load():
            if doc.object == "idempotent":
                body = dict(doc.body)
                self.idempotent[doc.id] = Idempotent(
                    str(body["saved_at"]), int(str(body["record_id"])), body.get("data")
                )
                continue
            if doc.object not in self.tables:
                continue
            row = dict(doc.body)
            self.tables[doc.object][int(doc.id)] = row
            if row.get("code"):
                self._codes[doc.object][str(row["code"])] = int(doc.id)
            found = True
        counters = self.store.get_meta("counters")
        if counters:
            self.counters = {str(k): int(v) for k, v in json.loads(counters).items()}
        self._stamps.clear()  # the tables were filled around put(): index them afresh
        return found


def _stamp_text(row: Row) -> str | None:
    """``row``'s ``pubts`` as a list compares it with a text; None when null."""
    value = row.get("pubts")
    return None if value is None else str(value)
