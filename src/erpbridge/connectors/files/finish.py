"""Moving read files away, only once the engine has proved it committed their records.

A file's last page carries a cursor that lists every file completed so far in that read
(name, size, mtime, hash, counts). The engine stores a page's cursor in the same
transaction as the page's jobs, and hands the stored cursor back to the next poll. So a
file named in the cursor ``read_changes`` receives is committed, whoever reads in
between: a preview (``cursor=None``) or a recon (a cursor of its own) never names a file,
so it can read the drop folder without moving anything.

On the next poll, before listing the folder, every file named in the cursor that is still
there unchanged (same size and mtime) is finished in crash-safe order: its error report
moved beside it, its marker removed, the file moved to done/ or failed/, then its ledger
line appended.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import structlog

from erpbridge.connectors.files.errors import map_errors
from erpbridge.connectors.files.reading import RowError
from erpbridge.connectors.files.settings import FileSet
from erpbridge.connectors.files.storage import Entry, Storage, join
from erpbridge.spi.records import Cursor

__all__ = ["LEDGER", "Completed", "Finisher", "completed_cursor", "staged_report"]

#: the ledger of files read, one JSON line each, in the done folder.
LEDGER = ".processed.jsonl"
_MARK = "files/1"

_log = structlog.get_logger(__name__)


@dataclass(slots=True)
class Completed:
    """A file whose every page has been yielded: what finishing it needs."""

    entry: Entry
    sha: str
    records: int = 0
    errors: list[RowError] = field(default_factory=list)

    def to_list(self) -> list[object]:
        """The compact form carried in the cursor."""
        e = self.entry
        return [e.name, e.size, e.mtime.isoformat(), self.sha, self.records, len(self.errors)]


def completed_cursor(done: Sequence[Completed]) -> Cursor:
    """The cursor naming ``done`` (stamp: the newest file's mtime, for the lag metric)."""
    stamp = max(c.entry.mtime for c in done)
    text = json.dumps({"v": _MARK, "files": [c.to_list() for c in done]}, ensure_ascii=False)
    return Cursor(stamp=stamp, last_id=text, overlap=timedelta(0))


def staged_report(name: str, sha: str) -> str:
    """The hidden name a file's error report waits under until the file is finished."""
    return f".{name}.{sha[:16]}.errors.csv"


def _named_files(cursor: Cursor) -> list[tuple[str, int, str, str, int, int]]:
    try:
        data = json.loads(cursor.last_id)
        if not isinstance(data, dict) or data.get("v") != _MARK:
            return []
        return [
            (str(n), int(s), str(m), str(h), int(r), int(e)) for n, s, m, h, r, e in data["files"]
        ]
    except (ValueError, TypeError, KeyError):
        return []  # not a cursor of ours (a recon's "since", an older format): no proof


class Finisher:
    """Finishes files of one file set: reports, markers, moves and the ledger."""

    def __init__(
        self, name: str, fs: FileSet, storage: Storage, clock: Callable[[], datetime]
    ) -> None:
        self.name = name
        self.fs = fs
        self.storage = storage
        self.clock = clock
        self._ledger: set[str] | None = None

    async def processed(self) -> set[str]:
        """Hashes of every file finished before (read once from the ledger, then kept)."""
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

    async def finish_committed(self, cursor: Cursor) -> None:
        """Finish every file the cursor names that is still in the folder, unchanged."""
        named = _named_files(cursor)
        if not named:
            return
        with map_errors(self.name):
            present = {e.name: e for e in await self.storage.list_files(self.fs.folder, "*")}
        for name, size, mtime, sha, records, errors in named:
            entry = present.get(name)
            if entry is None or entry.size != size or entry.mtime.isoformat() != mtime:
                continue  # already finished, or replaced by a new file of the same name
            await self.finish(entry, sha, records=records, errors=errors, duplicate=False)

    async def stage_report(self, done: Completed) -> None:
        """Publish the file's error report under its hidden staging name (if it has errors)."""
        if not done.errors:
            return
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(["file", "row", "column", "reason"])
        for error in done.errors:
            writer.writerow([done.entry.name, error.row, error.column, error.reason])
        with tempfile.TemporaryDirectory(prefix="erpbridge-report-") as spool:
            local = Path(spool) / "report.csv"
            # UTF-8 with a BOM so Excel on Chinese Windows opens it without mojibake.
            await asyncio.to_thread(local.write_text, text.getvalue(), "utf-8-sig")
            with map_errors(self.name):
                path = join(self.fs.folder, staged_report(done.entry.name, done.sha))
                await self.storage.publish(local, path)

    async def finish(
        self, entry: Entry, sha: str, *, records: int, errors: int, duplicate: bool
    ) -> None:
        """Report beside it, marker off, file to done/ or failed/, ledger line: in that order.

        A crash between two steps never moves a file early, never leaves a marker that
        would make a later file of the same name look complete, and at worst costs the
        ledger shortcut (the engine's dedup still drops an identical re-drop's records).
        """
        fs = self.fs
        folder = join(fs.folder, fs.failed_dir if errors else fs.done_dir)
        with map_errors(self.name):
            final = await self._free_name(folder, entry.name, sha)
            if errors:
                report = join(folder, final + ".errors.csv")
                staged = join(fs.folder, staged_report(entry.name, sha))
                if await self.storage.exists(staged):
                    await self.storage.remove(report)
                    await self.storage.move(staged, report)
            if fs.ready == "marker":
                await self.storage.remove(join(fs.folder, entry.name + fs.marker_suffix))
            await self.storage.move(join(fs.folder, entry.name), join(folder, final))
            if not duplicate:
                line = {
                    "sha256": sha,
                    "file": entry.name,
                    "moved_to": join(folder, final),
                    "records": records,
                    "errors": errors,
                    "at": self.clock().isoformat(),
                }
                await self.storage.append_line(
                    join(fs.folder, fs.done_dir, LEDGER), json.dumps(line, ensure_ascii=False)
                )
                (await self.processed()).add(sha)
        _log.info(
            "files.file_done",
            object=self.name,
            file=entry.name,
            moved_to=join(folder, final),
            records=records,
            errors=errors,
            duplicate=duplicate,
        )

    async def _free_name(self, folder: str, name: str, sha: str) -> str:
        if not await self.storage.exists(join(folder, name)):
            return name
        stem, dot, suffix = name.rpartition(".")
        if not dot:
            stem, suffix = name, ""
        return f"{stem}.{sha[:12]}{'.' + suffix if suffix else ''}"
