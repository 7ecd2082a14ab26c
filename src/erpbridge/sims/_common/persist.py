"""SQLite persistence for simulators: a restarted simulator keeps its records.

One table of documents (object, id, json, modstamp, deleted) and one of meta values
(counters, "seeded" flags). WAL mode and ``synchronous=NORMAL``: a simulator is a test
double, so durability across power loss is not needed, but a clean restart is.

A simulator keeps its working set in memory and writes through to this store; on start
it loads every document back (:meth:`DocumentStore.load`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson

__all__ = ["Body", "Document", "DocumentStore"]

#: a stored record's fields, JSON-ready.
Body = Mapping[str, object]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    object   TEXT NOT NULL,
    id       TEXT NOT NULL,
    modstamp TEXT NOT NULL,
    deleted  INTEGER NOT NULL DEFAULT 0,
    body     TEXT NOT NULL,
    PRIMARY KEY (object, id)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class Document:
    """One stored record: its fields as a JSON-ready mapping plus bookkeeping."""

    object: str
    id: str
    body: Body
    modstamp: str
    deleted: bool = False


def _dumps(body: Body) -> str:
    """JSON text of a body: orjson (a simulator writes through on every request), the
    standard library for what orjson refuses (an integer wider than 64 bits)."""
    try:
        return orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS).decode("utf-8")
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(body, ensure_ascii=False)


def _loads(text: str) -> Body:
    try:
        return orjson.loads(text)  # type: ignore[no-any-return]
    except orjson.JSONDecodeError:  # NaN written by an older simulator's json.dumps
        return json.loads(text)  # type: ignore[no-any-return]


class DocumentStore:
    """A small document table in one SQLite file (thread-safe, one connection).

    Args:
        path: the database file; created with its folder when missing.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._depth = 0

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one transaction (nested calls join the outer one)."""
        with self._lock:
            if self._depth == 0:
                self._db.execute("BEGIN")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self._db.execute("ROLLBACK")
                raise
            self._depth -= 1
            if self._depth == 0:
                self._db.execute("COMMIT")

    def put(self, doc: Document) -> None:
        """Insert or replace one document."""
        self.put_many([doc])

    def put_many(self, docs: Iterable[Document]) -> None:
        """Insert or replace documents in one transaction."""
        rows = [(d.object, d.id, d.modstamp, int(d.deleted), _dumps(d.body)) for d in docs]
        with self.transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO documents (object, id, modstamp, deleted, body)"
                " VALUES (?, ?, ?, ?, ?)",
                rows,
            )

    def remove(self, object: str, id: str) -> None:
        """Forget a document entirely (a hard delete; tombstones are ``deleted=True``)."""
        with self.transaction():
            self._db.execute("DELETE FROM documents WHERE object = ? AND id = ?", (object, id))

    def load(self, object: str | None = None) -> Iterator[Document]:
        """Every stored document (of one object, or all), in (object, id) order."""
        with self._lock:
            if object is None:
                cur = self._db.execute(
                    "SELECT object, id, modstamp, deleted, body FROM documents ORDER BY object, id"
                )
            else:
                cur = self._db.execute(
                    "SELECT object, id, modstamp, deleted, body FROM documents"
                    " WHERE object = ? ORDER BY id",
                    (object,),
                )
            rows = cur.fetchall()
        for obj, id_, modstamp, deleted, body in rows:
            yield Document(obj, id_, _loads(body), modstamp, bool(deleted))

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        """A meta value (counter, flag), or ``default``."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Store a meta value."""
        with self.transaction():
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def close(self) -> None:
        """Close the database (idempotent)."""
        with self._lock:
            self._db.close()
