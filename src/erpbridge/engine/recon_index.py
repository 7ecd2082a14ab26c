"""Both sides of a recon on disk: a temporary SQLite table, joined by a sorted scan.

Memory stays flat whatever the size: rows are appended in batches, then read back in key
order (an index on ``key, side``) and compared one key at a time. A record is kept as the
digest of its compared values (normalised: see :func:`erpbridge.engine.recon.normalise`)
plus those values as JSON; equal digests are matches without decoding anything.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["SOURCE", "TARGET", "ReconIndex", "SideRow"]

SOURCE = 0
TARGET = 1
_BATCH = 5000

#: (side, source id, digest, compared values as JSON, amount)
SideRow = tuple[int, str | None, str, str, str | None]


class ReconIndex:
    """Rows of both sides in a temporary SQLite file under ``directory``.

    Args:
        directory: a private temporary folder (removed by the caller).
        normalise: turns a value into its comparable form.
    """

    def __init__(self, directory: Path, normalise: Callable[[object], object]) -> None:
        self._db = sqlite3.connect(directory / "recon.sqlite", isolation_level=None)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("PRAGMA temp_store=FILE")
        self._db.execute(
            "CREATE TABLE rows "
            "(side INTEGER, key TEXT, source_id TEXT, digest TEXT, doc TEXT, amount TEXT)"
        )
        self._normalise = normalise
        self._pending: list[tuple[int, str, str | None, str, str, str | None]] = []
        self.fields: list[str] | None = None

    def _digest(self, values: Sequence[object]) -> str:
        text = "\x1f".join(repr(self._normalise(v)) for v in values)
        return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()

    def add(
        self,
        side: int,
        key: str,
        fields: Mapping[str, object],
        *,
        source_id: str | None = None,
        amount: object = None,
    ) -> None:
        """Append one record of ``side`` (the compared field list must be set first)."""
        names = self.fields or []
        values = [fields.get(name) for name in names]
        doc = json.dumps(values, ensure_ascii=False, default=str)
        self._pending.append(
            (
                side,
                key,
                source_id,
                self._digest(values),
                doc,
                None if amount is None else str(amount),
            )
        )
        if len(self._pending) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        """Write pending rows."""
        if self._pending:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?)", self._pending)
            self._db.execute("COMMIT")
            self._pending.clear()

    def groups(self) -> Iterator[tuple[str, list[SideRow]]]:
        """(key, rows of that key ordered source first), in key order."""
        self.flush()
        self._db.execute("CREATE INDEX ix_rows_key ON rows (key, side)")
        cursor = self._db.execute(
            "SELECT key, side, source_id, digest, doc, amount FROM rows ORDER BY key, side"
        )
        for key, rows in itertools.groupby(cursor, key=lambda r: r[0]):
            yield key, [(r[1], r[2], r[3], r[4], r[5]) for r in rows]

    @staticmethod
    def values(row: SideRow) -> list[Any]:
        """The compared values of a row, in field order."""
        decoded: list[Any] = json.loads(row[3])
        return decoded

    def close(self) -> None:
        """Close the database (the caller removes the folder)."""
        self._db.close()
