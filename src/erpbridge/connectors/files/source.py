"""A folder as a source: a file drop read once, page by page, then moved away.

The order of events for one file, and why it is safe (docs/connectors/files.md):

1. the file is listed and is *ready* (stable size and mtime across ``stable_s``, or its
   marker exists, or ``ready: immediate``); half-written files are left alone;
2. its SHA-256 is taken; a hash already in the ledger (``<done_dir>/.processed.jsonl``)
   means an identical file was read before: it is moved to ``done_dir`` unread;
3. its rows are yielded as pages of records (version = hash + row, so the engine's
   dedup drops whatever a re-read brings back);
4. only when the engine asks for the page *after* the file's last page, which it does
   after committing that page's jobs and cursor, is the error report written, the file
   moved to ``done_dir`` or ``failed_dir`` and the ledger line appended. A crash before
   the move leaves the file where it was, to be read again (and deduplicated).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog

from erpbridge.connectors.files.errors import map_errors
from erpbridge.connectors.files.reading import (
    FileRefusedError,
    Row,
    RowError,
    hash_and_sniff,
    read_csv,
    read_jsonl,
)
from erpbridge.connectors.files.settings import FileSet
from erpbridge.connectors.files.storage import Entry, Storage, join
from erpbridge.connectors.files.xlsx import read_xlsx
from erpbridge.spi.records import ChangePage, Cursor, Record

__all__ = ["LEDGER", "FileSource", "read_rows"]

#: the ledger of files read, one JSON line each, in the done folder.
LEDGER = ".processed.jsonl"

_log = structlog.get_logger(__name__)


def read_rows(path: Path, fs: FileSet, encoding: str) -> Iterator[Row | RowError]:
    """Rows of a local file in the file set's format (blocking; run it in a thread)."""
    if fs.format == "xlsx":
        return read_xlsx(path, fs)
    if fs.format == "jsonl":
        return read_jsonl(path, fs, encoding)
    return read_csv(path, fs, encoding)


def _take(rows: Iterator[Row | RowError], count: int) -> list[Row | RowError]:
    out: list[Row | RowError] = []
    for item in rows:
        out.append(item)
        if len(out) >= count:
            break
    return out


@dataclass(slots=True)
class _FileRun:
    """What reading one file produced so far."""

    entry: Entry
    sha: str
    errors: list[RowError] = field(default_factory=list)
    records: int = 0


class FileSource:
    """Reads the file set ``fs`` of ``storage`` as the object ``name``.

    Args:
        clock: now in UTC (injected so tests need no sleeps). Default the system clock.
    """

    def __init__(
        self,
        name: str,
        fs: FileSet,
        storage: Storage,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.name = name
        self.fs = fs
        self.storage = storage
        self.clock = clock or (lambda: datetime.now(UTC))
        #: path -> (size, mtime, first seen with these); for ``ready: stable``.
        self._seen: dict[str, tuple[int, datetime, datetime]] = {}
        self._ledger: set[str] | None = None

    # --- which files ------------------------------------------------------------------

    async def ready_files(self) -> list[Entry]:
        """Files that may be read now, in (mtime, name) order."""
        with map_errors(self.name):
            entries = await self.storage.list_files(self.fs.folder, self.fs.glob)
        ready = []
        if self.fs.ready == "marker":
            with map_errors(self.name):
                found = await self.storage.list_files(self.fs.folder, "*" + self.fs.marker_suffix)
            markers = {e.name for e in found}
            ready = [
                e
                for e in entries
                if e.name + self.fs.marker_suffix in markers
                and not e.name.endswith(self.fs.marker_suffix)
            ]
        elif self.fs.ready == "immediate":
            ready = entries
        else:
            ready = self._stable(entries)
        return sorted(ready, key=lambda e: (e.mtime, e.name))

    def _stable(self, entries: list[Entry]) -> list[Entry]:
        """Files unchanged for ``stable_s``: seen twice that far apart, or (local) that old.

        A local file whose mtime is already ``stable_s`` old on first sight is ready at
        once (one-shot runs keep no observations). A remote mtime comes from the server's
        clock, which may be behind ours, so on SFTP only our own observations count.
        """
        now = self.clock()
        wait = timedelta(seconds=self.fs.stable_s)
        trust_mtime = self.storage.kind == "local"
        seen: dict[str, tuple[int, datetime, datetime]] = {}
        ready = []
        for e in entries:
            before = self._seen.get(e.name)
            if before is not None and before[:2] == (e.size, e.mtime):
                seen[e.name] = before
                if now - before[2] >= wait:
                    ready.append(e)
            else:
                seen[e.name] = (e.size, e.mtime, now)  # new, or still growing
                if before is None and trust_mtime and now - e.mtime >= wait:
                    ready.append(e)
        self._seen = seen
        return ready

    async def _processed(self) -> set[str]:
        if self._ledger is None:
            with map_errors(self.name):
                text = await self.storage.read_text(join(self.fs.folder, self.fs.done_dir, LEDGER))
            self._ledger = set()
            for line in (text or "").splitlines():
                try:
                    self._ledger.add(str(json.loads(line)["sha256"]))
                except (ValueError, KeyError, TypeError):
                    continue  # a torn last line after a crash: that file is read again
        return self._ledger

    # --- reading ----------------------------------------------------------------------

    async def read_changes(self, page_size: int) -> AsyncIterator[ChangePage]:
        """Pages of every ready file's records; see the module docstring for the order."""
        files = await self.ready_files()
        with tempfile.TemporaryDirectory(prefix="erpbridge-files-") as spool:
            for index, entry in enumerate(files):
                is_last = index == len(files) - 1
                async for page in self._read_file(entry, Path(spool), page_size, is_last):
                    yield page

    async def _read_file(
        self, entry: Entry, spool: Path, page_size: int, is_last: bool
    ) -> AsyncIterator[ChangePage]:
        path = join(self.fs.folder, entry.name)
        with map_errors(self.name):
            local = await self.storage.fetch(path, spool)
        try:
            sha, encoding = await asyncio.to_thread(hash_and_sniff, local, self.fs.encoding)
            if sha in await self._processed():
                _log.info("files.duplicate_skipped", object=self.name, file=entry.name, sha256=sha)
                await self._finish(_FileRun(entry, sha), duplicate=True)
                return
            run = _FileRun(entry, sha)
            cursor = Cursor(entry.mtime, entry.name)
            # The engine asks for the next page only after committing this one, so once
            # the loop below ends, every record of the file is committed: it may go.
            async for records, is_end in self._pages(run, local, encoding, page_size):
                yield ChangePage(records, cursor, has_more=not (is_end and is_last))
            await self._finish(run, duplicate=False)
        finally:
            if local.parent == spool:
                local.unlink(missing_ok=True)

    async def _pages(
        self, run: _FileRun, local: Path, encoding: str, page_size: int
    ) -> AsyncIterator[tuple[list[Record], bool]]:
        """Record pages of one file, each with "is it the file's last page"."""
        try:
            rows = await asyncio.to_thread(read_rows, local, self.fs, encoding)
            pending = await self._next_records(run, rows, page_size)
            while pending:
                following = await self._next_records(run, rows, page_size)
                yield pending, not following
                pending = following
        except FileRefusedError as exc:
            run.errors.append(RowError(exc.row, exc.column, exc.reason))

    async def _next_records(
        self, run: _FileRun, rows: Iterator[Row | RowError], page_size: int
    ) -> list[Record]:
        """The next non-empty page of records ([] at the end of the file)."""
        return await asyncio.to_thread(self._collect, run, rows, max(1, page_size))

    def _collect(self, run: _FileRun, rows: Iterator[Row | RowError], size: int) -> list[Record]:
        # Parsing and record building both run here, in a worker thread.
        prefix = run.sha[:16]
        while chunk := _take(rows, size):
            records = []
            for item in chunk:
                if isinstance(item, RowError):
                    run.errors.append(item)
                    continue
                record = self._record(item, run, prefix, run.entry.mtime)
                if record is not None:
                    records.append(record)
            if records:
                run.records += len(records)
                return records
        return []

    def _record(self, row: Row, run: _FileRun, prefix: str, stamp: datetime) -> Record | None:
        number, fields = row
        version = f"{prefix}:{number}"
        record_id = version
        if self.fs.key is not None:
            key = fields.get(self.fs.key)
            if key is None or (isinstance(key, str) and not key.strip()):
                run.errors.append(RowError(number, self.fs.key, "the key column is empty"))
                return None
            record_id = str(key).strip()
        fields["_file"] = run.entry.name
        fields["_row"] = number
        return Record(self.name, record_id, fields, version, stamp)

    async def _finish(self, run: _FileRun, *, duplicate: bool) -> None:
        fs = self.fs
        failed = bool(run.errors)
        folder = join(fs.folder, fs.failed_dir if failed else fs.done_dir)
        # Order matters on a crash: the report first (the file still waits in the drop
        # folder, so a re-read rewrites it); the marker before the move (a stale marker
        # must never make a later file of the same name look complete); the ledger last
        # (a file moved without its ledger line is only a missed shortcut: an identical
        # re-drop is read again and the engine's dedup drops its records).
        with map_errors(self.name):
            final = await self._free_name(folder, run.entry.name, run.sha)
            if failed:
                await self._publish_report(run, join(folder, final + ".errors.csv"))
            if fs.ready == "marker":
                await self.storage.remove(join(fs.folder, run.entry.name + fs.marker_suffix))
            await self.storage.move(join(fs.folder, run.entry.name), join(folder, final))
            if not duplicate:
                line = {
                    "sha256": run.sha,
                    "file": run.entry.name,
                    "moved_to": join(folder, final),
                    "records": run.records,
                    "errors": len(run.errors),
                    "at": self.clock().isoformat(),
                }
                await self.storage.append_line(
                    join(fs.folder, fs.done_dir, LEDGER), json.dumps(line, ensure_ascii=False)
                )
                (await self._processed()).add(run.sha)
        _log.info(
            "files.file_done",
            object=self.name,
            file=run.entry.name,
            moved_to=join(folder, final),
            records=run.records,
            errors=len(run.errors),
            duplicate=duplicate,
        )

    async def _free_name(self, folder: str, name: str, sha: str) -> str:
        if not await self.storage.exists(join(folder, name)):
            return name
        stem, dot, suffix = name.rpartition(".")
        if not dot:
            stem, suffix = name, ""
        return f"{stem}.{sha[:12]}{'.' + suffix if suffix else ''}"

    async def _publish_report(self, run: _FileRun, path: str) -> None:
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(["file", "row", "column", "reason"])
        for error in run.errors:
            writer.writerow([run.entry.name, error.row, error.column, error.reason])
        with tempfile.TemporaryDirectory(prefix="erpbridge-report-") as spool:
            local = Path(spool) / "report.csv"
            # UTF-8 with a BOM so Excel on Chinese Windows opens it without mojibake.
            await asyncio.to_thread(local.write_text, text.getvalue(), "utf-8-sig")
            await self.storage.publish(local, path)
