"""The U8 simulator's records, keyed by code as U8 keys them (cCusCode, cInvCode, cSOCode).

Tables: ``customer``, ``inventory``, ``currentstock`` (key ``whcode|invcode|batch``) and
``saleorder`` (with ``entry`` lines). Every record carries ``ts``: its modification time in
server local time (China) as ``yyyy-MM-dd HH:mm:ss`` — [U] U8 keeps a rowversion
(``ufts``) whose OpenAPI form is undocumented; the list APIs filter on it with
``timestamp_begin``/``timestamp_end``. Trade ids (tradeid) and their results are kept so a
repeated tradeid answers the first result. Writes go through to a ``DocumentStore``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone

from erpbridge.sims._common.persist import Document, DocumentStore

__all__ = ["CST", "TABLES", "Row", "U8State", "utc_now"]

Row = dict[str, object]
CST = timezone(timedelta(hours=8), "CST")
TABLES = ("customer", "inventory", "currentstock", "saleorder")


def utc_now() -> datetime:
    """Now, aware UTC."""
    return datetime.now(UTC)


class U8State:
    """Tables by code, the trade book and counters.

    Args:
        store: where records persist; None keeps them in memory only.
        clock: aware UTC now. Default: real time.
    """

    def __init__(
        self, store: DocumentStore | None = None, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.store = store
        self.clock = clock
        self.tables: dict[str, dict[str, Row]] = {t: {} for t in TABLES}
        self.trades: dict[str, Row] = {}  # tradeid -> {"issued": bool, "result": answer|None}
        self.counters: dict[str, int] = {}

    def now_text(self) -> str:
        """Now as a ``ts`` text."""
        return self.clock().astimezone(CST).strftime("%Y-%m-%d %H:%M:%S")

    def get(self, table: str, code: str) -> Row | None:
        """The record with this code, or None."""
        return self.tables[table].get(code)

    def rows(self, table: str) -> list[Row]:
        """Every record of a table in code order."""
        t = self.tables[table]
        return [t[k] for k in sorted(t)]

    def put(self, table: str, key: str, row: Row) -> Row:
        """Store a record (a copy) and persist it."""
        row = copy.deepcopy(row)
        self.tables[table][key] = row
        if self.store is not None:
            self.store.put(Document(table, key, row, str(row.get("ts", ""))))
        return row

    def next_code(self, name: str, width: int = 10) -> str:
        """The next number of a sequence, zero-padded (U8 voucher codes)."""
        n = self.counters.get(name, 0) + 1
        self.counters[name] = n
        if self.store is not None:
            self.store.set_meta("counters", json.dumps(self.counters))
        return f"{n:0{width}d}"

    def put_trade(self, tradeid: str, entry: Row) -> None:
        """Remember a tradeid (issued, or used with its result)."""
        self.trades[tradeid] = entry
        if self.store is not None:
            self.store.put(Document("trade", tradeid, entry, self.now_text()))

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One SQLite transaction (a no-op without a store)."""
        if self.store is None:
            yield
            return
        with self.store.transaction():
            yield

    def load(self) -> bool:
        """Read everything back from the store; False when it holds no records."""
        if self.store is None:
            return False
        found = False
        for doc in self.store.load():
            if doc.object == "trade":
                self.trades[doc.id] = dict(doc.body)
            elif doc.object in self.tables:
                self.tables[doc.object][doc.id] = dict(doc.body)
                found = True
        counters = self.store.get_meta("counters")
        if counters:
            self.counters = {str(k): int(v) for k, v in json.loads(counters).items()}
        return found
