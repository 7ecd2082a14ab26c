"""``after_read: keep``: files are left in the folder; the cursor says which were read.

A read-only partner folder (an SFTP drop we may not write to) cannot take a done/ folder,
a ledger or an error report. So for this mode the proof that a file was read lives in
the **cursor**, which the engine stores in the same transaction as the jobs of the page
that carries it (the store, where else it could live, is a layer connectors never see,
and only the cursor commits atomically with the jobs):

- the cursor lists every file of the folder already read: ``[name, size, mtime, hash]``
  (first 16 hex of its SHA-256);
- a listed file still there with the same size and mtime is skipped without being
  fetched; one whose size or mtime changed is fetched and hashed: the same hash as a file
  already read (touched, or copied under another name) is skipped, another hash is a new
  file and read again in full (a changed file with the same name is a new file);
- files that left the folder drop out of the next cursor, so it is as large as the
  folder, not as its history. The same content dropped again after its first copy was
  removed is read again, and the engine's dedup on (flow, record id, version = hash +
  row) drops every record of it.

Row errors cannot go into a report beside the file: they are :class:`ReadError` s on the
page, which the engine stores as dead letters (keyed by position, which names the hash,
so a re-read never stores them twice).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from erpbridge.connectors.files.errors import SYSTEM
from erpbridge.connectors.files.reading import RowError
from erpbridge.connectors.files.storage import Entry, join
from erpbridge.spi.errors import ValidationError
from erpbridge.spi.records import Cursor, ReadError

__all__ = ["KEPT_MARK", "Kept", "kept_cursor", "kept_files", "read_errors"]

KEPT_MARK = "files-kept/1"
#: hex digits of the SHA-256 kept per file (64 bits: no collision among a folder's files).
_HASH_HEX = 16


@dataclass(frozen=True, slots=True)
class Kept:
    """A file already read and left in place: what it looked like, and its content hash."""

    name: str
    size: int
    mtime: str
    sha: str

    @classmethod
    def of(cls, entry: Entry, sha: str) -> Kept:
        """The entry as read, with its full or short hash."""
        return cls(entry.name, entry.size, entry.mtime.isoformat(), sha[:_HASH_HEX])

    def is_unchanged(self, entry: Entry) -> bool:
        """Same size and mtime as when it was read (so not fetched again)."""
        return (self.size, self.mtime) == (entry.size, entry.mtime.isoformat())


def kept_files(cursor: Cursor | None) -> dict[str, Kept]:
    """The files a stored cursor says were read (empty for no cursor or another format)."""
    if cursor is None:
        return {}
    try:
        data = json.loads(cursor.last_id)
        if not isinstance(data, dict) or data.get("v") != KEPT_MARK:
            return {}
        files = [Kept(str(n), int(s), str(m), str(h)) for n, s, m, h in data["files"]]
    except (ValueError, TypeError, KeyError):
        return {}  # a recon's own cursor, a move-mode cursor: nothing proven read
    return {k.name: k for k in files}


def kept_cursor(files: Iterable[Kept]) -> Cursor:
    """The cursor listing ``files`` (stamp: the newest mtime, for the lag metric)."""
    listed = sorted(files, key=lambda k: k.name)
    stamps = [datetime.fromisoformat(k.mtime) for k in listed]
    stamp = max(stamps) if stamps else datetime(1970, 1, 1, tzinfo=UTC)
    rows = [[k.name, k.size, k.mtime, k.sha] for k in listed]
    text = json.dumps({"v": KEPT_MARK, "files": rows}, ensure_ascii=False)
    return Cursor(stamp=stamp, last_id=text, overlap=timedelta(0))


def read_errors(
    object: str, folder: str, entry: Entry, sha: str, errors: Sequence[RowError]
) -> list[ReadError]:
    """Row errors of a kept file as read errors; the position names the file and its hash."""
    out = []
    for error in errors:
        where = f"{join(folder, entry.name)} (sha256 {sha[:_HASH_HEX]}) row {error.row}"
        if error.column:
            where += f" column {error.column}"
        refused = ValidationError(
            f"{where}: {error.reason}",
            field=error.column or None,
            system=SYSTEM,
            object=object,
            raw=error.reason,
        )
        out.append(ReadError(position=where, error=refused, object=object))
    return out
