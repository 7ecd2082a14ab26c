"""Incremental reads of headers that carry no change stamp of their own, through their items.

``A_PurchaseRequisitionHeader`` has no timestamp (Cloud SDK typings: PurchaseRequisition,
PurchaseRequisitionType, PurReqnDescription, SourceDetermination, PurReqnDoOnlyValidation);
its items have ``LastChangeDateTime``, and a status change (release, purchase order) is an
item change. So the items changed since the cursor are read by keyset (stamp, header key,
item key) with ``$select`` of just those, and their headers are then read with the items
expanded. A header's stamp is the newest stamp of its items; its version is the hash of its
fields (records.py: no ETag, no own stamp), so any item change is a new version. A change
of the header's description alone moves no item stamp and is not seen (docs/connectors/sap.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from erpbridge.connectors.sap.cursor import literal
from erpbridge.connectors.sap.describe import EntitySetSchema
from erpbridge.spi.records import ChangePage, Cursor, Record

__all__ = ["CHILD_STAMPS", "ChildStamp", "read_by_children"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ChildStamp:
    """Where a header finds its change stamp: on the items of one navigation.

    Attributes:
        nav: the header's to-many navigation (expanded when the header is read).
        child_set: the items' entity set.
        stamp: the items' ``Edm.DateTimeOffset`` change stamp.
        parent_key: the header key, also a property of the items.
        child_key: the item's own key property (the keyset's last part).
    """

    nav: str
    child_set: str
    stamp: str
    parent_key: str
    child_key: str

    @property
    def field_name(self) -> str:
        """The name the schema reports as the stamp field."""
        return f"{self.nav}/{self.stamp}"

    def orderby(self) -> str:
        """``$orderby`` of the item read: (stamp, header key, item key)."""
        return f"{self.stamp} asc,{self.parent_key} asc,{self.child_key} asc"

    def after_filter(self, position: tuple[datetime, str, str]) -> str:
        """Items strictly after ``position`` in read order."""
        s = literal(position[0], "Edm.DateTimeOffset")
        p, c = literal(position[1]), literal(position[2])
        return (
            f"({self.stamp} gt {s} or ({self.stamp} eq {s} and ({self.parent_key} gt {p} or "
            f"({self.parent_key} eq {p} and {self.child_key} gt {c}))))"
        )

    def stamp_of(self, header: Record) -> datetime | None:
        """The newest stamp of the header's expanded items."""
        items = header.fields.get(self.nav)
        stamps = [
            i.get(self.stamp)
            for i in (items if isinstance(items, list) else [])
            if isinstance(i, dict) and isinstance(i.get(self.stamp), datetime)
        ]
        return max(stamps) if stamps else None  # type: ignore[type-var]  # datetimes


#: headers read incrementally through their items' stamps.
CHILD_STAMPS: dict[str, ChildStamp] = {
    "A_PurchaseRequisitionHeader": ChildStamp(
        nav="to_PurchaseReqnItem",
        child_set="A_PurchaseRequisitionItem",
        stamp="LastChangeDateTime",
        parent_key="PurchaseRequisition",
        child_key="PurchaseRequisitionItem",
    ),
}

#: runs a collection query on a set: (set, params, limit) -> records.
Query = Callable[[EntitySetSchema, dict[str, str], int | None], Awaitable[list[Record]]]
#: finds headers by key values: (object, key field, values) -> records.
Find = Callable[[str, str, Sequence[object]], Awaitable[list[Record]]]


async def read_by_children(
    header_set: EntitySetSchema,
    item_set: EntitySetSchema,
    spec: ChildStamp,
    cursor: Cursor | None,
    page_size: int,
    query: Query,
    find: Find,
) -> AsyncIterator[ChangePage]:
    """Pages of headers whose items changed at or after ``cursor.read_from``.

    Each page holds the headers of up to ``page_size`` changed items, in (stamp, id)
    order; a header with many changed items may come in more than one page (the engine
    drops the repeat by version).
    """
    read_from = cursor.read_from if cursor else None
    overlap = cursor.overlap if cursor else Cursor(stamp=_EPOCH).overlap
    position: tuple[datetime, str, str] | None = None
    yielded = False
    while True:
        params = {
            "$select": f"{spec.parent_key},{spec.child_key},{spec.stamp}",
            "$orderby": spec.orderby(),
            "$top": str(page_size),
        }
        if position is not None:
            params["$filter"] = spec.after_filter(position)
        elif read_from is not None:
            params["$filter"] = f"{spec.stamp} ge {literal(read_from, 'Edm.DateTimeOffset')}"
        items = (await query(item_set, params, page_size))[:page_size]
        has_more = len(items) == page_size
        if not items:
            if not yielded:
                yield ChangePage([], cursor, has_more=False)
            return
        last = items[-1].fields
        stamp = last.get(spec.stamp)
        position = (
            stamp if isinstance(stamp, datetime) else _EPOCH,
            str(last.get(spec.parent_key)),
            str(last.get(spec.child_key)),
        )
        numbers = list(dict.fromkeys(str(i.fields.get(spec.parent_key)) for i in items))
        headers = [
            dataclasses.replace(h, stamp=spec.stamp_of(h))
            for h in await find(header_set.name, spec.parent_key, numbers)
        ]
        headers.sort(key=lambda h: (h.stamp or _EPOCH, h.id))
        next_cursor = Cursor(stamp=position[0], last_id=position[1], overlap=overlap)
        yield ChangePage(headers, next_cursor, has_more)
        yielded = True
        if not has_more:
            return
