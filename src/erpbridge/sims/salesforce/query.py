"""SOQL ``query``/``queryAll`` results and ``nextRecordsUrl`` paging.

A query runs once; its matching records are kept behind a *locator* and served page by
page (``/query/{locator}-{offset}``), so later writes do not shift the pages (Salesforce
serves a cursor too). Pages hold 2000 records unless ``Sforce-Query-Options: batchSize=N``
asks for fewer (200..2000; values outside are clamped, as Salesforce does — UNSURE).
Locators expire after 15 minutes unused (UNSURE of Salesforce's exact figure) and at most
50 stay open; an unknown or expired one gets ``INVALID_QUERY_LOCATOR``.
"""

from __future__ import annotations

import itertools
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from erpbridge.sims.salesforce.errors import SfError
from erpbridge.sims.salesforce.render import ChildIndex, query_row_renderer
from erpbridge.sims.salesforce.soql import BoundQuery, SoqlError, parse_query
from erpbridge.sims.salesforce.state import OrgState, Row

__all__ = ["QueryCursors", "batch_size_from_header", "child_index"]

DEFAULT_BATCH = 2000
_LOCATOR_TTL_S = 15 * 60.0
_MAX_OPEN = 50
_BATCH = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)


def batch_size_from_header(header: str | None) -> int:
    """Page size asked for by ``Sforce-Query-Options`` (clamped to 200..2000)."""
    match = _BATCH.search(header or "")
    if match is None:
        return DEFAULT_BATCH
    return max(200, min(DEFAULT_BATCH, int(match[1])))


@dataclass(slots=True)
class _Cursor:
    bound: BoundQuery
    rows: list[Row]
    batch: int
    endpoint: str
    used_at: float
    children: ChildIndex


def child_index(org: OrgState, bound: BoundQuery, parents: list[Row]) -> ChildIndex:
    """For each child sub-query: parent id -> its live child rows (filtered, sorted, limited),
    for the ``parents`` the query found (the children of other records are never shown)."""
    index: dict[str, dict[str, list[Row]]] = {}
    if not bound.children:
        return index
    ordered = list(dict.fromkeys(str(p["Id"]) for p in parents))
    ids = set(ordered)
    for child in bound.children:
        q = child.query
        link_field = child.link.name
        # an indexed link (OrderItems) reads the parents' children only, not the table
        candidates = org.indexed_children(q.sobject.name, link_field, ordered)
        rows = [
            r
            for r in (org.records[q.sobject.name].values() if candidates is None else candidates)
            if r.get(link_field) in ids and not r["IsDeleted"] and q.matches(r, org.parent)
        ]
        if q.order:
            rows.sort(key=q.sort_key(org.parent))
        grouped: dict[str, list[Row]] = {}
        for r in rows:
            link = r.get(child.link.name)
            if isinstance(link, str):
                grouped.setdefault(link, []).append(r)
        end = None if q.limit is None else q.offset + q.limit
        index[child.name] = {k: v[q.offset : end] for k, v in grouped.items()}
    return index


@dataclass(slots=True)
class QueryCursors:
    """Open query locators of the org."""

    org: OrgState
    _open: OrderedDict[str, _Cursor] = field(default_factory=OrderedDict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def run(
        self, soql: str, *, version: str, include_deleted: bool, batch: int
    ) -> dict[str, object]:
        """Run ``soql``; the first page.

        Raises:
            SfError: 400 with MALFORMED_QUERY / INVALID_FIELD / INVALID_TYPE.
        """
        try:
            bound = parse_query(soql, now=self.org.clock())
        except SoqlError as exc:
            raise SfError(400, exc.code, exc.message) from None
        rows = self.org.query(bound, include_deleted=include_deleted)
        if bound.count_only:
            return {"totalSize": len(rows), "done": True, "records": []}
        endpoint = "queryAll" if include_deleted else "query"
        cursor = _Cursor(
            bound, rows, batch, endpoint, time.monotonic(), child_index(self.org, bound, rows)
        )
        locator = f"01gSm{next(self._ids):010d}"
        return self._page(locator, cursor, 0, version)

    def more(self, locator_and_offset: str, *, version: str) -> dict[str, object]:
        """The page at ``{locator}-{offset}``.

        Raises:
            SfError: 400 INVALID_QUERY_LOCATOR when unknown, malformed or expired.
        """
        locator, _, offset_text = locator_and_offset.rpartition("-")
        self._expire()
        cursor = self._open.get(locator)
        if cursor is None or not offset_text.isdigit():
            raise SfError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        offset = int(offset_text)
        if offset >= len(cursor.rows):
            raise SfError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        cursor.used_at = time.monotonic()
        return self._page(locator, cursor, offset, version)

    def _page(self, locator: str, cursor: _Cursor, offset: int, version: str) -> dict[str, object]:
        end = offset + cursor.batch
        page = cursor.rows[offset:end]
        done = end >= len(cursor.rows)
        body: dict[str, object] = {"totalSize": len(cursor.rows), "done": done}
        if done:
            self._open.pop(locator, None)
        else:
            body["nextRecordsUrl"] = f"/services/data/v{version}/{cursor.endpoint}/{locator}-{end}"
            self._open[locator] = cursor
            self._open.move_to_end(locator)
            while len(self._open) > _MAX_OPEN:
                self._open.popitem(last=False)
        render = query_row_renderer(cursor.bound, version, self.org.parent, cursor.children)
        body["records"] = [render(row) for row in page]
        return body

    def _expire(self) -> None:
        now = time.monotonic()
        for locator in [k for k, c in self._open.items() if now - c.used_at > _LOCATOR_TTL_S]:
            del self._open[locator]
