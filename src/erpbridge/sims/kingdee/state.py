"""The simulator's records: one table per form, write-through to SQLite.

A record is a dict keyed by field key as the form defines it (``FCustId``, ``FQty``):
references hold the target's internal id, dates are stored as sortable
``YYYY-MM-DDTHH:MM:SS.ffffff`` texts in server local time (K/3 Cloud stores and answers
local time, normally China Standard Time, UTC+8), entries are lists of such dicts.
Every write goes through :meth:`KingdeeState._place`, which keeps the number index and the
sorted date indexes (reads from a date on, :meth:`KingdeeState.rows_from`) current.
Business rules live in rules.py; this module is storage, ids and the clock.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone

from erpbridge.sims._common.persist import Document, DocumentStore
from erpbridge.sims._common.ranges import RangeIndex
from erpbridge.sims.kingdee.filter import normalize_stamp
from erpbridge.sims.kingdee.forms import FORMS, FormDef

__all__ = ["CST", "KingdeeState", "Row", "utc_now"]

Row = dict[str, object]
#: the order of internal ids: ints by value, then any other id by its text.
SortKey = tuple[int, int, str]
#: a record's place in a date index, after the field's case-folded text: its id's order,
#: then the id itself
_Place = tuple[SortKey, object]

#: the server's local time zone (K/3 Cloud answers local time without a zone).
CST = timezone(timedelta(hours=8), "CST")

_FIRST_ID = 100001


def utc_now() -> datetime:
    """Now, aware UTC."""
    return datetime.now(UTC)


class KingdeeState:
    """Every form's records, by internal id, plus number indexes and counters.

    Args:
        store: where records persist; None keeps them in memory only (unit tests).
        clock: returns aware UTC now; injected so tests control time. Default: real time.
    """

    def __init__(
        self, store: DocumentStore | None = None, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.store = store
        self.clock = clock
        self.tables: dict[str, dict[object, Row]] = {f.form_id: {} for f in FORMS.values()}
        self._numbers: dict[str, dict[str, object]] = {f.form_id: {} for f in FORMS.values()}
        #: form -> header date field -> its sorted index (folded text), built on first read
        self._ranges: dict[str, dict[str, RangeIndex[str, _Place]]] = {}
        self.counters: dict[str, int] = {}

    # --- time -----------------------------------------------------------------------

    def now_text(self) -> str:
        """Now in server local time, in the stored form."""
        now = self.clock().astimezone(CST).replace(tzinfo=None)
        # SQL Server's datetime keeps milliseconds (3.33 ms steps); the simulator keeps ms.
        return normalize_stamp(now.replace(microsecond=now.microsecond // 1000 * 1000))

    # --- reading --------------------------------------------------------------------

    def get(self, form: FormDef, pk: object) -> Row | None:
        """The record with internal id ``pk``, or None."""
        return self.tables[form.form_id].get(pk)

    def by_number(self, form: FormDef, number: str) -> Row | None:
        """The record whose number (FNumber / FBillNo) is ``number`` (any case), or None."""
        pk = self._numbers[form.form_id].get(number.strip().casefold())
        return None if pk is None else self.tables[form.form_id].get(pk)

    def rows(self, form: FormDef) -> list[Row]:
        """Every record of a form, in internal-id order."""
        table = self.tables[form.form_id]
        return [table[k] for k in sorted(table, key=_sort_key)]

    def rows_by_id(self, form: FormDef, ids: Collection[object]) -> list[Row]:
        """The records with these internal ids (absent ones are skipped), in id order."""
        table = self.tables[form.form_id]
        return [table[pk] for pk in sorted((i for i in ids if i in table), key=_sort_key)]

    def rows_from(self, form: FormDef, field: str, floor: str) -> list[Row]:
        """Records whose header ``field`` is text at or after ``floor``, in internal-id order.

        ``floor`` is case-folded, and so are the indexed values, because the filter compares
        text case-insensitively (Chinese_PRC_CI_AS); a record whose ``field`` is null or not
        text is never among them, as no comparison with a date literal holds for it. Read
        through a sorted index of ``field``, built on first use and kept current by every
        write, as a database reads a range of an indexed column: a steady poll of the last
        second's changes costs what it finds, not the form's size. The filter still decides.
        """
        ranges = self._ranges.setdefault(form.form_id, {})
        index = ranges.get(field)
        table = self.tables[form.form_id]
        if index is None:
            index = RangeIndex(
                (value, (_sort_key(pk), pk))
                for pk, row in table.items()
                if (value := _folded(row.get(field))) is not None
            )
            ranges[field] = index
        return [table[pk] for _, pk in sorted(index.keys_from(floor), key=_first)]

    # --- ids ------------------------------------------------------------------------

    def next_id(self, scope: str) -> int:
        """The next internal id in ``scope`` (a form id, or ``entry``)."""
        value = self.counters.get(scope, _FIRST_ID)
        self.counters[scope] = value + 1
        return value

    def next_number(self, form: FormDef) -> str:
        """The next free automatic number (``XSDD000001``, ``CUST00001``)."""
        width = 6 if form.is_bill else 5
        while True:
            seq = self.counters.get("no:" + form.form_id, 1)
            self.counters["no:" + form.form_id] = seq + 1
            number = f"{form.number_prefix}{seq:0{width}d}"
            if self.by_number(form, number) is None:
                return number

    # --- writing --------------------------------------------------------------------

    def put(self, form: FormDef, row: Row) -> None:
        """Insert or replace ``row`` (keyed by its pk) and persist it."""
        pk = row[form.pk]
        self._place(form, pk, row)
        if self.store is not None:
            with self.store.transaction():
                self.store.put(
                    Document(
                        form.form_id,
                        str(pk),
                        row,
                        str(row.get("FModifyDate") or ""),
                    )
                )
                self.store.set_meta("counters", _encode_counters(self.counters))

    def remove(self, form: FormDef, pk: object) -> None:
        """Delete a record for good (K/3 Cloud deletes physically; no tombstone)."""
        self._place(form, pk, None)
        if self.store is not None:
            self.store.remove(form.form_id, str(pk))

    def _place(self, form: FormDef, pk: object, row: Row | None) -> None:
        """Store ``row`` under ``pk`` (None: delete it), moving it in every index."""
        table = self.tables[form.form_id]
        numbers = self._numbers[form.form_id]
        old = table.pop(pk, None) if row is None else table.get(pk)
        if old is not None:
            numbers.pop(str(old.get(form.number_key) or "").casefold(), None)
        for field, index in self._ranges.get(form.form_id, {}).items():
            before = None if old is None else _folded(old.get(field))
            index.move(
                (_sort_key(pk), pk), before, None if row is None else _folded(row.get(field))
            )
        if row is None:
            return
        table[pk] = row
        number = str(row.get(form.number_key) or "")
        if number:
            numbers[number.casefold()] = pk

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group the writes of one call into one SQLite transaction (BatchSave, seeding)."""
        if self.store is None:
            yield
            return
        with self.store.transaction():
            yield

    def copy_of(self, row: Row) -> Row:
        """A deep copy to change before :meth:`put` (a failed save leaves no trace)."""
        return copy.deepcopy(row)

    def load(self) -> bool:
        """Fill the tables from the store; False when it holds nothing."""
        if self.store is None:
            return False
        found = False
        for doc in self.store.load():
            form = FORMS.get(doc.object.lower())
            if form is None:
                continue
            row = dict(doc.body)
            self._place(form, row.get(form.pk), row)
            found = True
        self.counters.update(_decode_counters(self.store.get_meta("counters") or ""))
        return found

    def persist_counters(self) -> None:
        """Write the counters (after seeding)."""
        if self.store is not None:
            self.store.set_meta("counters", _encode_counters(self.counters))


def _sort_key(pk: object) -> SortKey:
    return (0, pk, "") if isinstance(pk, int) else (1, 0, str(pk))


def _folded(value: object) -> str | None:
    """A date index holds text only, case-folded as the filter compares it."""
    return value.casefold() if isinstance(value, str) else None


def _first(place: _Place) -> SortKey:
    return place[0]


def _encode_counters(counters: dict[str, int]) -> str:
    return ";".join(f"{k}={v}" for k, v in sorted(counters.items()))


def _decode_counters(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in text.split(";"):
        key, sep, value = part.partition("=")
        if sep and value.isdigit():
            out[key] = int(value)
    return out
