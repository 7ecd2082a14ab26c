"""A folder as a target: each write call becomes one or more complete files.

A file is built locally, then published under a hidden temp name and renamed into
place, so a reader never sees half a file. Records of one write call are split into
parts by ``roll_records`` and ``roll_bytes``; records of two calls never share a file,
so a write that returned ``created`` is on disk (no buffer that a crash could lose).

Idempotency: the call's ``{batch}`` digest (of its job keys) is written with the file
names to ``.written.jsonl`` in the folder; a retried call with the same jobs finds it and
answers ``unchanged`` instead of writing the records twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import structlog

from erpbridge.connectors.files.errors import SYSTEM, map_errors
from erpbridge.connectors.files.settings import FileSet
from erpbridge.connectors.files.storage import Storage, join
from erpbridge.connectors.files.writing import PartWriter, open_part
from erpbridge.spi.errors import ConnectorError, ValidationError
from erpbridge.spi.records import WriteMode, WriteOp, WriteOutcome, WriteResult

__all__ = ["WRITTEN", "FileTarget"]

#: the ledger of published write calls, one JSON line each, in the target folder.
WRITTEN = ".written.jsonl"

_log = structlog.get_logger(__name__)


def _batch_digest(ops: Sequence[WriteOp]) -> str:
    digest = hashlib.sha256()
    for op in ops:
        digest.update((op.idempotency_key or op.ref).encode())
        digest.update(b"\n")
    return digest.hexdigest()[:12]


def _columns(fs: FileSet, ops: Sequence[WriteOp]) -> list[str]:
    if fs.columns:
        return list(fs.columns)
    seen: dict[str, None] = {}
    for op in ops:
        for name in op.fields:
            seen.setdefault(name, None)
    return list(seen)


class FileTarget:
    """Writes the object ``name`` as files of the file set ``fs`` in ``storage``."""

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
        #: batch digest -> [(file name, records)] of write calls already published.
        self._written: dict[str, list[tuple[str, int]]] | None = None
        # Names are checked free, then taken: one write call at a time per target.
        self._lock = asyncio.Lock()

    async def _ledger(self) -> dict[str, list[tuple[str, int]]]:
        if self._written is None:
            with map_errors(self.name):
                text = await self.storage.read_text(join(self.fs.folder, WRITTEN))
            self._written = {}
            for line in (text or "").splitlines():
                try:
                    entry = json.loads(line)
                    files = [(str(name), int(count)) for name, count in entry["files"]]
                    self._written[str(entry["batch"])] = files
                except (ValueError, KeyError, TypeError):
                    continue  # a torn last line: that call was not acknowledged
        return self._written

    async def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """One result per op; deletes fail (a file cannot take a record back)."""
        async with self._lock:
            return await self._write(ops)

    async def _write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        results: list[WriteResult | None] = [None] * len(ops)
        good: list[int] = []
        for i, op in enumerate(ops):
            if op.mode is WriteMode.DELETE:
                results[i] = WriteResult(
                    op.ref,
                    WriteOutcome.FAILED,
                    error=self._refused("a file target cannot delete records", None),
                )
            else:
                good.append(i)
        batch = _batch_digest([ops[i] for i in good])
        files = (await self._ledger()).get(batch)
        done = [f"{name}#{n}" for name, count in files or [] for n in range(1, count + 1)]
        if files is not None and len(done) == len(good):
            for i, target in zip(good, done, strict=True):
                results[i] = WriteResult(ops[i].ref, WriteOutcome.UNCHANGED, target_id=target)
        elif good:
            await self._write_parts(ops, good, batch, results)
        return [r for r in results if r is not None]

    def _refused(self, message: str, column: str | None) -> ValidationError:
        return ValidationError(message, field=column, system=SYSTEM, object=self.name)

    async def _write_parts(
        self,
        ops: Sequence[WriteOp],
        good: list[int],
        batch: str,
        results: list[WriteResult | None],
    ) -> None:
        columns = _columns(self.fs, [ops[i] for i in good])
        now = self.clock()
        published: list[tuple[str, int]] = []
        targets: list[str] = []
        with tempfile.TemporaryDirectory(prefix="erpbridge-target-") as spool:
            parts = await asyncio.to_thread(
                self._build, ops, good, columns, Path(spool), batch, now, results
            )
            error: ConnectorError | None = None
            for local, wanted, refs in parts:
                if error is None:
                    try:
                        name = await self._publish(local, wanted, [n for n, _ in published])
                    except ConnectorError as exc:
                        error = exc
                if error is not None:
                    # Parts already published stay answered as created; only the records
                    # of the parts not published fail (and are retried as a new call).
                    for i, _ in refs:
                        results[i] = WriteResult(ops[i].ref, WriteOutcome.FAILED, error=error)
                    continue
                published.append((name, len(refs)))
                for i, n in refs:
                    targets.append(f"{name}#{n}")
                    # A record already written once (the xref gave its id) is a new line
                    # in a new file: an update of the record, now found at this line.
                    outcome = WriteOutcome.CREATED
                    if ops[i].target_id is not None:
                        outcome = WriteOutcome.UPDATED
                    results[i] = WriteResult(ops[i].ref, outcome, target_id=f"{name}#{n}")
            # Only a call whose every record is in a file can be answered from the ledger
            # (file, count) alone; a call with failed records is written again.
            if len(targets) == len(good):
                line = {"batch": batch, "files": published}
                with map_errors(self.name):
                    await self.storage.append_line(join(self.fs.folder, WRITTEN), json.dumps(line))
                (await self._ledger())[batch] = published
        _log.info("files.written", object=self.name, files=len(published), records=len(targets))

    def _build(
        self,
        ops: Sequence[WriteOp],
        good: list[int],
        columns: list[str],
        spool: Path,
        batch: str,
        now: datetime,
        results: list[WriteResult | None],
    ) -> list[tuple[Path, str, list[tuple[int, int]]]]:
        """Local part files: (path, final name, [(op index, record number in file)])."""
        parts: list[tuple[Path, str, list[tuple[int, int]]]] = []
        writer: PartWriter | None = None
        refs: list[tuple[int, int]] = []
        for i in good:
            if writer is None:
                name = self._name(now, batch, len(parts) + 1)
                try:
                    writer = open_part(
                        spool / f"part-{len(parts) + 1}.{self.fs.format}", self.fs, columns
                    )
                except UnicodeError as exc:
                    results[i] = WriteResult(
                        ops[i].ref, WriteOutcome.FAILED, error=self._refused(str(exc), None)
                    )
                    continue
                refs = []
            values = [ops[i].fields.get(c) for c in columns]
            bad = writer.add(values)
            if bad is not None:
                results[i] = WriteResult(
                    ops[i].ref,
                    WriteOutcome.FAILED,
                    error=self._refused(
                        f"the value of {bad!r} cannot be stored in a {self.fs.format} file "
                        f"({self.fs.encoding})",
                        bad,
                    ),
                )
                continue
            refs.append((i, writer.count))
            if writer.count >= self.fs.roll_records or (
                self.fs.roll_bytes is not None and getattr(writer, "size", 0) >= self.fs.roll_bytes
            ):
                writer.close()
                parts.append((spool / f"part-{len(parts) + 1}.{self.fs.format}", name, refs))
                writer = None
        if writer is not None:
            writer.close()
            if refs:
                parts.append((spool / f"part-{len(parts) + 1}.{self.fs.format}", name, refs))
        return parts

    async def _publish(self, local: Path, wanted: str, taken: list[str]) -> str:
        """Publish one part under a free name; that name.

        Raises:
            ConnectorError: classified storage failure.
        """
        with map_errors(self.name):
            name = await self._free_name(wanted, taken)
            await self.storage.publish(local, join(self.fs.folder, name))
        return name

    async def _free_name(self, wanted: str, taken: list[str]) -> str:
        """``wanted``, or ``wanted`` with ``-2``, ``-3`` … before the extension: never overwrite."""
        stem, dot, ext = wanted.rpartition(".")
        if not dot:
            stem, ext = wanted, ""
        name, n = wanted, 1
        while name in taken or await self.storage.exists(join(self.fs.folder, name)):
            n += 1
            name = f"{stem}-{n}{'.' + ext if ext else ''}"
        return name

    def _name(self, now: datetime, batch: str, part: int) -> str:
        return self.fs.file_pattern().format(
            object=self.name,
            date=now.strftime("%Y%m%d"),
            time=now.strftime("%H%M%S"),
            batch=batch,
            part=f"{part:03d}",
        )
