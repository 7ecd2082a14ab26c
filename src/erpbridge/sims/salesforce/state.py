"""The simulated org: records in memory, written through to SQLite.

Every write runs in a *unit*: changes are recorded with an undo log, checked, and on
success flushed to the :class:`DocumentStore` in one transaction and announced to the
listeners (outbound messages). A failed unit restores every record it touched, which is
how ``allOrNone`` and single-record failures leave no partial write.

Deletes move a record to the recycle bin: it stays with ``IsDeleted = true`` and a new
``SystemModstamp``, is hidden from ``query`` and ``GET``, and shows in ``queryAll`` and
``deleted/``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from erpbridge.sims._common.persist import Document, DocumentStore
from erpbridge.sims._common.ranges import RangeIndex
from erpbridge.sims.salesforce import objects
from erpbridge.sims.salesforce.errors import SfError
from erpbridge.sims.salesforce.ids import ID_PATTERN, make_id, to_18
from erpbridge.sims.salesforce.rules import coerce_body, missing_required
from erpbridge.sims.salesforce.schema import OBJECTS, FieldDef, ObjectDef
from erpbridge.sims.salesforce.soql import BoundQuery, format_datetime

__all__ = ["ORG_ID", "USER_ID", "Clock", "OrgState", "Row"]

Row = dict[str, object]
Clock = Callable[[], datetime]
#: the simulated org and its integration user (ids in Salesforce's format).
ORG_ID = "00DSm0000000001EAA"
USER_ID = make_id("005", 1)
#: a listener gets (object, records) after each committed unit; deleted ones included.
Listener = Callable[[str, list[Row]], None]
#: (child object, reference field) pairs whose children are looked up by parent id often
#: (an order's items on every item write): kept in an index, not found by a scan.
_CHILD_INDEXES = (("OrderItem", "OrderId"),)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class _Unit:
    undo: list[tuple[str, str, Row | None]] = field(default_factory=list)
    touched: dict[tuple[str, str], None] = field(default_factory=dict)


class OrgState:
    """All records of the simulated org.

    Args:
        store: where records persist; loaded on construction.
        clock: the time source for stamps (UTC). Default: the system clock.
    """

    def __init__(self, store: DocumentStore, *, clock: Clock = _utcnow) -> None:
        self.store = store
        self._clock = clock
        self._last_stamp = ""
        self.records: dict[str, dict[str, Row]] = {name: {} for name in OBJECTS}
        self._lower_ids: dict[str, tuple[str, str]] = {}
        self._external: dict[tuple[str, str], dict[str, str]] = {
            (o.name, f): {} for o in OBJECTS.values() for f in o.external_ids
        }
        self.counters: dict[str, int] = json.loads(store.get_meta("counters") or "{}")
        self._unit: _Unit | None = None
        self.listeners: list[Listener] = []
        #: (child object, field) -> parent id -> child ids, in the records' own order
        self._children: dict[tuple[str, str], dict[str, dict[str, None]]] = {
            pair: {} for pair in _CHILD_INDEXES
        }
        #: object -> (SystemModstamp, id) of every record, sorted: a poll's
        #: ``SystemModstamp >= X`` reads the rows from X on, not the whole table
        self._stamps: dict[str, RangeIndex[str, str]] = {name: RangeIndex() for name in OBJECTS}
        #: object -> id -> its place in ``records`` (the order a query answers in)
        self._places: dict[str, dict[str, int]] = {name: {} for name in OBJECTS}
        self._next_place = itertools.count()
        for doc in store.load():
            if doc.object in self.records:
                self._index(doc.object, dict(doc.body))

    # --- reading -------------------------------------------------------------------------

    def clock(self) -> datetime:
        """The org's current time (UTC), from its clock."""
        return self._clock()

    def now(self) -> str:
        """A stamp for a write: the clock, never earlier than the previous stamp."""
        stamp = format_datetime(self._clock())
        self._last_stamp = max(stamp, self._last_stamp)
        return self._last_stamp

    def resolve_id(self, record_id: str) -> tuple[str, str] | None:
        """(object, canonical id) of any known record, deleted or not, by 15/18 id."""
        if not ID_PATTERN.match(record_id):
            return None
        return self._lower_ids.get(to_18(record_id).lower())

    def find(self, obj: str, record_id: str) -> Row | None:
        """The record (deleted or not) of type ``obj``, or None."""
        found = self.resolve_id(record_id)
        if found is None or found[0] != obj:
            return None
        return self.records[obj][found[1]]

    def live(self, object_name: str, record_id: str) -> Row | None:
        """The record if it exists and is not deleted."""
        row = self.find(object_name, record_id)
        return None if row is None or row["IsDeleted"] else row

    def by_external_id(self, object_name: str, field: str, value: str) -> str | None:
        """The id of the live record whose external id ``field`` equals ``value``."""
        return self._external.get((object_name, field), {}).get(value.lower())

    def children(self, obj: str, field_name: str, parent_id: str) -> list[Row]:
        """The live ``obj`` records whose ``field_name`` is ``parent_id``, in stored order.

        Raises:
            KeyError: a pair not in ``_CHILD_INDEXES``.
        """
        ids = self._children[(obj, field_name)].get(parent_id, {})
        table = self.records[obj]
        return [row for rid in ids if not (row := table[rid])["IsDeleted"]]

    def indexed_children(
        self, obj: str, field_name: str, parent_ids: Iterable[str]
    ) -> list[Row] | None:
        """The ``obj`` records (deleted too) whose ``field_name`` is one of ``parent_ids``,
        parent by parent, each parent's in stored order; None when the pair has no index
        (the caller scans the table)."""
        by_parent = self._children.get((obj, field_name))
        if by_parent is None:
            return None
        table = self.records[obj]
        return [table[rid] for pid in parent_ids for rid in by_parent.get(pid, {})]

    def parent(self, hop: FieldDef, row: Mapping[str, object]) -> Row | None:
        """The live parent ``row`` refers to through ``hop`` (for SOQL paths)."""
        ref = row.get(hop.name)
        if not isinstance(ref, str) or hop.reference_to not in self.records:
            return None
        return self.live(hop.reference_to or "", ref)

    def query(self, bound: BoundQuery, *, include_deleted: bool) -> list[Row]:
        """Records matching ``bound`` in its order, after OFFSET and LIMIT."""
        obj = bound.sobject.name
        table = self.records[obj]
        candidates: Iterable[Row] = table.values()
        since = bound.lower_bound("SystemModstamp")
        if since is not None:  # the rows from ``since`` on, in the table's own order
            tail = sorted(self._stamps[obj].keys_from(since), key=self._places[obj].__getitem__)
            candidates = [table[rid] for rid in tail]
        rows = [
            r
            for r in candidates
            if (include_deleted or not r["IsDeleted"]) and bound.matches(r, self.parent)
        ]
        if bound.order:
            rows.sort(key=bound.sort_key(self.parent))
        end = None if bound.limit is None else bound.offset + bound.limit
        return rows[bound.offset : end]

    # --- writing -------------------------------------------------------------------------

    def load_seed(self, rows: list[tuple[str, Row]]) -> None:
        """Store generated records as they are (no checks, no listeners), in one transaction."""
        for obj, row in rows:
            self._index(obj, row)
            stamp = str(row["SystemModstamp"])
            self._last_stamp = max(stamp, self._last_stamp)
        with self.store.transaction():
            self.store.put_many(
                Document(obj, str(row["Id"]), row, str(row["SystemModstamp"])) for obj, row in rows
            )
            self.store.set_meta("counters", json.dumps(self.counters))
            self.store.set_meta("seeded", "1")

    @property
    def is_seeded(self) -> bool:
        """True once seed data (or any earlier run's data) is in the store."""
        return self.store.get_meta("seeded") == "1"

    @contextmanager
    def unit(self) -> Iterator[None]:
        """Run writes as one unit: all kept and flushed, or all undone on an exception."""
        if self._unit is not None:
            yield
            return
        self._unit = unit = _Unit()
        try:
            yield
        except BaseException:
            self._rollback(unit, 0)
            raise
        finally:
            self._unit = None
        self._flush(unit)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside a unit: undo only this block's changes if it raises."""
        unit = self._unit
        assert unit is not None, "savepoint() outside unit()"  # noqa: S101 - programming error
        mark = len(unit.undo)
        try:
            yield
        except BaseException:
            self._rollback(unit, mark)
            raise

    def _rollback(self, unit: _Unit, mark: int) -> None:
        for obj, rid, before in reversed(unit.undo[mark:]):
            current = self.records[obj].get(rid)
            if current is not None:
                self._unindex_external(obj, current)
            if before is None:
                if current is not None:
                    self._unindex_children(obj, rid, current)
                    self._unindex_stamp(obj, rid, current)
                    self._places[obj].pop(rid, None)
                self.records[obj].pop(rid, None)
                self._lower_ids.pop(rid.lower(), None)
            else:
                self._index(obj, before)
        del unit.undo[mark:]

    def _flush(self, unit: _Unit) -> None:
        if not unit.touched:
            return
        docs = []
        changed: dict[str, list[Row]] = {}
        for obj, rid in unit.touched:
            row = self.records[obj].get(rid)
            if row is None:
                continue
            docs.append(Document(obj, rid, row, str(row["SystemModstamp"]), bool(row["IsDeleted"])))
            changed.setdefault(obj, []).append(row)
        with self.store.transaction():
            self.store.put_many(docs)
            self.store.set_meta("counters", json.dumps(self.counters))
        for listener in self.listeners:
            for obj, rows in changed.items():
                listener(obj, rows)

    def _remember(self, obj: str, rid: str) -> None:
        unit = self._unit
        assert unit is not None, "write outside unit()"  # noqa: S101 - programming error
        before = self.records[obj].get(rid)
        # rows are replaced, never changed in place, so the old object is the undo copy
        unit.undo.append((obj, rid, before))
        unit.touched[(obj, rid)] = None

    def _index(self, obj: str, row: Row) -> None:
        rid = str(row["Id"])
        old = self.records[obj].get(rid)
        if old is not None:
            self._unindex_external(obj, old)
        else:
            self._places[obj][rid] = next(self._next_place)  # a new record: the table's end
        self._restamp(obj, rid, old, row)
        self.records[obj][rid] = row
        for (o, f), by_parent in self._children.items():
            if o != obj:
                continue
            link, old_link = row.get(f), None if old is None else old.get(f)
            if isinstance(old_link, str) and old_link != link:
                by_parent.get(old_link, {}).pop(rid, None)
            if isinstance(link, str):
                # setdefault: a record keeps its place, as it does in self.records
                by_parent.setdefault(link, {}).setdefault(rid, None)
        self._lower_ids[rid.lower()] = (obj, rid)
        if not row["IsDeleted"]:
            for (o, f), index in self._external.items():
                value = row.get(f) if o == obj else None
                if isinstance(value, str) and value:
                    index[value.lower()] = rid

    def _restamp(self, obj: str, rid: str, old: Row | None, new: Row) -> None:
        """Move record ``rid`` in the stamp index from ``old``'s stamp to ``new``'s."""
        before = None if old is None else str(old["SystemModstamp"])
        self._stamps[obj].move(rid, before, str(new["SystemModstamp"]))

    def _unindex_stamp(self, obj: str, rid: str, row: Row) -> None:
        self._stamps[obj].move(rid, str(row["SystemModstamp"]), None)

    def _unindex_children(self, obj: str, rid: str, row: Row) -> None:
        for (o, f), by_parent in self._children.items():
            link = row.get(f) if o == obj else None
            if isinstance(link, str) and link in by_parent:
                by_parent[link].pop(rid, None)

    def _unindex_external(self, obj: str, row: Row) -> None:
        for (o, f), index in self._external.items():
            value = row.get(f) if o == obj else None
            if isinstance(value, str) and index.get(value.lower()) == row["Id"]:
                del index[value.lower()]

    def next_number(self, key: str) -> int:
        """The next value of a counter (ids per prefix, auto-numbers per object)."""
        self.counters[key] = self.counters.get(key, 0) + 1
        return self.counters[key]

    def put(self, obj: str, row: Row) -> None:
        """Store ``row`` (inside a unit), keeping the undo log and indexes."""
        self._remember(obj, str(row["Id"]))
        self._index(obj, row)

    def _check_unique(self, o: ObjectDef, row: Row) -> None:
        for f in o.external_ids:
            value = row.get(f)
            if isinstance(value, str) and value:
                holder = self.by_external_id(o.name, f, value)
                if holder is not None and holder != row["Id"]:
                    raise SfError(
                        400,
                        "DUPLICATE_VALUE",
                        f"duplicate value found: {f} duplicates value on record with id: {holder}",
                        [f],
                    )

    def create(
        self, o: ObjectDef, body: object, *, extra: Mapping[str, object] | None = None
    ) -> str:
        """Insert a record; returns its id. ``extra`` are values set before checks (upsert key)."""
        with self.unit():
            values = coerce_body(o, body, self, creating=True)
            values.update(extra or {})
            problem = missing_required(o, values)
            if problem is not None:
                raise problem
            stamp = self.now()
            rid = make_id(o.prefix, self.next_number(o.prefix))
            row: Row = {f.name: f.default for f in o.fields.values()}
            row.update(values)
            row.update(
                Id=rid,
                IsDeleted=False,
                CreatedDate=stamp,
                CreatedById=USER_ID,
                LastModifiedDate=stamp,
                LastModifiedById=USER_ID,
                SystemModstamp=stamp,
            )
            if "OwnerId" in o.fields and row.get("OwnerId") is None:
                row["OwnerId"] = USER_ID
            objects.before_save(self, o, row, None)
            self._check_unique(o, row)
            self.put(o.name, row)
            objects.after_save(self, o, row, None)
            return rid

    def update(self, o: ObjectDef, record_id: str, body: object) -> str:
        """Change fields of a live record; returns its id."""
        with self.unit():
            old = self.live(o.name, record_id)
            if old is None:
                raise self.missing(o, record_id)
            values = coerce_body(o, body, self, creating=False)
            row = dict(old)
            row.update(values)
            stamp = self.now()
            row.update(LastModifiedDate=stamp, LastModifiedById=USER_ID, SystemModstamp=stamp)
            objects.before_save(self, o, row, old)
            self._check_unique(o, row)
            self.put(o.name, row)
            objects.after_save(self, o, row, old)
            return str(row["Id"])

    def touch(self, obj: str, row: Row) -> None:
        """A system update: new SystemModstamp only (e.g. an order's total changed)."""
        new = dict(row)
        new["SystemModstamp"] = self.now()
        self.put(obj, new)

    def upsert(self, o: ObjectDef, field_name: str, value: str, body: object) -> tuple[str, bool]:
        """Create or update by external id; returns (id, created)."""
        with self.unit():
            if isinstance(body, Mapping):
                given = {k.lower(): v for k, v in body.items()}
                if field_name.lower() in given and str(given[field_name.lower()]) != value:
                    # UNSURE of the exact errorCode Salesforce uses for this mismatch.
                    raise SfError(
                        400,
                        "INVALID_FIELD",
                        f"Value for field '{field_name}' in the request body does not match "
                        "the value in the URL",
                        [field_name],
                    )
            if field_name == "Id":
                existing: str | None = value if self.live(o.name, value) else None
                if existing is None:
                    raise self.missing(o, value)
            else:
                existing = self.by_external_id(o.name, field_name, value)
            if existing is not None:
                return self.update(o, existing, body), False
            return self.create(o, body, extra={field_name: value}), True

    def delete(self, o: ObjectDef, record_id: str) -> None:
        """Move a live record (and its cascade) to the recycle bin."""
        with self.unit():
            row = self.live(o.name, record_id)
            if row is None:
                raise self.missing(o, record_id)
            objects.before_delete(self, o, row)
            self.mark_deleted(o.name, row)
            objects.after_delete(self, o, row)

    def mark_deleted(self, obj: str, row: Row) -> None:
        """Put one record into the recycle bin (no checks)."""
        new = dict(row)
        new["IsDeleted"] = True
        new["SystemModstamp"] = self.now()
        rid = str(row["Id"])
        self._remember(obj, rid)
        self._unindex_external(obj, row)
        self._restamp(obj, rid, row, new)
        self.records[obj][rid] = new

    def missing(self, o: ObjectDef, record_id: str) -> SfError:
        """The error for a record that is not there (deleted ones say so)."""
        row = self.find(o.name, record_id)
        if row is not None and row["IsDeleted"]:
            return SfError(404, "ENTITY_IS_DELETED", "entity is deleted")
        if not ID_PATTERN.match(record_id):
            return SfError(
                404,
                "NOT_FOUND",
                "Provided external ID field does not exist or is not accessible: " + record_id,
            )
        return SfError(404, "NOT_FOUND", "The requested resource does not exist")
