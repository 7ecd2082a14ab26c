"""A folder as a source: a file drop read once, page by page, moved away once committed.

For one file (docs/connectors/files.md):

1. the file is listed and is *ready* (stable size and mtime across ``stable_s``, or its
   marker exists, or ``ready: immediate``); half-written files are left alone;
2. its SHA-256 is taken; a hash already in the ledger (``<done_dir>/.processed.jsonl``)
   means an identical file was finished before: it is moved to ``done_dir`` unread;
3. its rows are yielded as pages of records (version = hash + row, so the engine's
   dedup drops whatever a re-read brings back); its error report is staged under a
   hidden name; its last page carries a cursor naming it (finish.py);
4. the next ``read_changes`` whose cursor names it (the engine stored that cursor with
   the page's jobs) moves it to ``done_dir`` or ``failed_dir``. Until then it stays
   where it is, and a crash only means it is read again (and deduplicated).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog

from erpbridge.connectors.files.errors import map_errors
from erpbridge.connectors.files.finish import Completed, Finisher, completed_cursor
from erpbridge.connectors.files.keep import Kept, kept_cursor, kept_files, read_errors
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

__all__ = ["MAX_FILES_PER_READ", "FileSource", "read_rows"]

#: files read by one ``read_changes``; bounds the cursor that names them (finish.py).
MAX_FILES_PER_READ = 100

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
        self.finisher = Finisher(name, fs, storage, self.clock)

    # --- which files ------------------------------------------------------------------

    async def ready_files(self, entries: list[Entry] | None = None) -> list[Entry]:
        """Files that may be read now, in (mtime, name) order.

        Args:
            entries: the folder's listing when the caller has it; default: listed here.
        """
        if entries is None:
            entries = await self.list_files()
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

    async def list_files(self) -> list[Entry]:
        """Every file of the folder matching the glob, ready or not."""
        with map_errors(self.name):
            return await self.storage.list_files(self.fs.folder, self.fs.glob)

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

    # --- reading ----------------------------------------------------------------------

    async def read_changes(
        self, cursor: Cursor | None, page_size: int
    ) -> AsyncIterator[ChangePage]:
        """Finish the files ``cursor`` names, then pages of the ready files' records.

        Under ``after_read: keep`` nothing is finished or moved: see keep.py.
        """
        if self.fs.after_read == "keep":
            async for page in self._read_kept(cursor, page_size):
                yield page
            return
        if cursor is not None:
            await self.finisher.finish_committed(cursor)
        ready = await self.ready_files()
        files = ready[:MAX_FILES_PER_READ]
        completed: list[Completed] = []
        with tempfile.TemporaryDirectory(prefix="erpbridge-files-") as spool:
            for index, entry in enumerate(files):
                # the last page of the read says "no more" unless files wait for the next poll
                is_last = index == len(files) - 1 and len(ready) == len(files)
                pages = self._read_file(entry, Path(spool), page_size, is_last, completed)
                async for page in pages:
                    yield page

    async def _read_file(
        self,
        entry: Entry,
        spool: Path,
        page_size: int,
        is_last: bool,
        completed: list[Completed],
    ) -> AsyncIterator[ChangePage]:
        path = join(self.fs.folder, entry.name)
        with map_errors(self.name):
            local = await self.storage.fetch(path, spool)
        try:
            sha, encoding = await asyncio.to_thread(hash_and_sniff, local, self.fs.encoding)
            if sha in await self.finisher.processed():
                # Finished before, so committed before: it may go at once.
                _log.info("files.duplicate_skipped", object=self.name, file=entry.name, sha256=sha)
                await self.finisher.finish(entry, sha, records=0, errors=0, duplicate=True)
                return
            run = Completed(entry, sha)
            async for records, is_end in self._pages(run, local, encoding, page_size):
                if not is_end:
                    yield ChangePage(records, None, has_more=True)
                    continue
                await self.finisher.stage_report(run)
                completed.append(run)
                yield ChangePage(records, completed_cursor(completed), has_more=not is_last)
            if run.records == 0:  # nothing yielded: an empty page carries the cursor
                await self.finisher.stage_report(run)
                completed.append(run)
                yield ChangePage([], completed_cursor(completed), has_more=not is_last)
        finally:
            if local.parent == spool:
                local.unlink(missing_ok=True)

    async def _read_kept(self, cursor: Cursor | None, page_size: int) -> AsyncIterator[ChangePage]:
        """Pages of the files not read before (keep.py); each file's last page lists it."""
        entries = await self.list_files()
        names = {e.name for e in entries}
        # files that left the folder leave the cursor: it stays as large as the folder
        known = {n: k for n, k in kept_files(cursor).items() if n in names}
        fresh = [
            e
            for e in await self.ready_files(entries)
            if not (e.name in known and known[e.name].is_unchanged(e))
        ]
        files = fresh[:MAX_FILES_PER_READ]
        with tempfile.TemporaryDirectory(prefix="erpbridge-files-") as spool:
            for index, entry in enumerate(files):
                has_more = index < len(files) - 1 or len(fresh) > len(files)
                async for page in self._read_kept_file(
                    entry, Path(spool), page_size, has_more, known
                ):
                    yield page

    async def _read_kept_file(
        self,
        entry: Entry,
        spool: Path,
        page_size: int,
        has_more: bool,
        known: dict[str, Kept],
    ) -> AsyncIterator[ChangePage]:
        with map_errors(self.name):
            local = await self.storage.fetch(join(self.fs.folder, entry.name), spool)
        try:
            sha, encoding = await asyncio.to_thread(hash_and_sniff, local, self.fs.encoding)
            seen = Kept.of(entry, sha).sha in {k.sha for k in known.values()}
            known[entry.name] = Kept.of(entry, sha)
            if seen:
                # the same content as a file read before (touched, or another name)
                _log.info("files.duplicate_skipped", object=self.name, file=entry.name, sha256=sha)
                yield ChangePage([], kept_cursor(known.values()), has_more=has_more)
                return
            run = Completed(entry, sha)
            reported = 0
            pages = self._pages(run, local, encoding, page_size)
            async for records, is_end in pages:
                errors = read_errors(self.name, self.fs.folder, entry, sha, run.errors[reported:])
                reported = len(run.errors)
                end = kept_cursor(known.values()) if is_end else None
                yield ChangePage(records, end, has_more=has_more or not is_end, errors=errors)
            if run.records == 0 or len(run.errors) > reported:
                # no record page carried the cursor, or the whole file was refused at the end
                errors = read_errors(self.name, self.fs.folder, entry, sha, run.errors[reported:])
                yield ChangePage([], kept_cursor(known.values()), has_more=has_more, errors=errors)
        finally:
            if local.parent == spool:
                local.unlink(missing_ok=True)

    async def _pages(
        self, run: Completed, local: Path, encoding: str, page_size: int
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
        self, run: Completed, rows: Iterator[Row | RowError], page_size: int
    ) -> list[Record]:
        """The next non-empty page of records ([] at the end of the file)."""
        return await asyncio.to_thread(self._collect, run, rows, max(1, page_size))

    def _collect(self, run: Completed, rows: Iterator[Row | RowError], size: int) -> list[Record]:
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

    def _record(self, row: Row, run: Completed, prefix: str, stamp: datetime) -> Record | None:
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
