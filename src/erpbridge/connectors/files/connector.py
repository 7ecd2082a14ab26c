"""The spi operations for files (CSV, xlsx, JSON lines) in a local folder or on SFTP."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from datetime import datetime
from pathlib import Path

from erpbridge.connectors.files.errors import SYSTEM, map_errors
from erpbridge.connectors.files.reading import FileRefusedError, RowError, hash_and_sniff
from erpbridge.connectors.files.settings import FileSet, FilesSettings, ValueType
from erpbridge.connectors.files.source import FileSource, read_rows
from erpbridge.connectors.files.storage import LocalFolder, Storage, join
from erpbridge.connectors.files.target import FileTarget
from erpbridge.spi.errors import ConnectorError, NotFoundError
from erpbridge.spi.records import ChangePage, CheckResult, Cursor, Record, WriteOp, WriteResult
from erpbridge.spi.schema import Catalog, Field, FieldType, ObjectSchema

__all__ = ["FilesConnector", "make_storage"]

_FIELD_TYPES: dict[ValueType, FieldType] = {
    "string": FieldType.STRING,
    "integer": FieldType.INTEGER,
    "decimal": FieldType.DECIMAL,
    "boolean": FieldType.BOOLEAN,
    "date": FieldType.DATE,
    "datetime": FieldType.DATETIME,
}


def make_storage(settings: FilesSettings) -> Storage:
    """The storage for the connection's ``location``."""
    if settings.location == "sftp":
        from erpbridge.connectors.files.sftp import SftpFolder  # asyncssh only for SFTP

        return SftpFolder(settings)
    return LocalFolder(Path(settings.root))


class FilesConnector:
    """One folder (local or SFTP) whose file sets are the objects.

    Args:
        settings: the connection.
        storage: where the files are (default from ``settings.location``).
        clock: now in UTC, for ``ready: stable`` (tests inject one).
    """

    system = SYSTEM

    def __init__(
        self,
        settings: FilesSettings,
        storage: Storage | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.limits = settings.limits
        self.storage = storage or make_storage(settings)
        self._sources = {
            name: FileSource(name, fs, self.storage, clock) for name, fs in settings.objects.items()
        }
        self._targets = {
            name: FileTarget(name, fs, self.storage, clock) for name, fs in settings.objects.items()
        }

    def _fileset(self, object: str) -> FileSet:
        fs = self.settings.objects.get(object)
        if fs is None:
            known = ", ".join(sorted(self.settings.objects))
            raise NotFoundError(
                f"no file set {object!r} (known: {known})", system=SYSTEM, object=object
            )
        return fs

    async def check(self) -> CheckResult:
        """Every object's folder can be listed. Never raises."""
        try:
            for name, fs in self.settings.objects.items():
                with map_errors(name):
                    await self.storage.list_files(fs.folder, fs.glob)
        except ConnectorError as exc:
            return CheckResult(False, str(exc), {"error": type(exc).__name__})
        details = {"location": self.settings.location, "root": self.settings.root}
        return CheckResult(True, "", details)

    async def describe(self) -> Catalog:
        """Each object's columns: ``columns`` and ``types``, else the oldest file's header."""
        objects = {}
        for name, fs in self.settings.objects.items():
            columns = list(fs.columns) or await self._header(name, fs)
            for column in fs.types:
                if column not in columns:
                    columns.append(column)
            fields = [Field(c, _FIELD_TYPES[fs.types.get(c, "string")]) for c in columns]
            fields += [Field("_file", FieldType.STRING, read_only=True)]
            fields += [Field("_row", FieldType.INTEGER, read_only=True)]
            keys = (fs.key,) if fs.key else ()
            objects[name] = ObjectSchema(
                name,
                fields,
                id_field=fs.key or "_id",
                natural_keys=keys,
                is_open=not columns,  # no declared columns and no file to read a header from
            )
        return Catalog(objects)

    async def _header(self, name: str, fs: FileSet) -> list[str]:
        with map_errors(name):
            entries = await self.storage.list_files(fs.folder, fs.glob)
        entries.sort(key=lambda e: e.mtime)
        if not entries:
            return []
        with tempfile.TemporaryDirectory(prefix="erpbridge-describe-") as spool, map_errors(name):
            local = await self.storage.fetch(join(fs.folder, entries[0].name), Path(spool))
            return await asyncio.to_thread(_first_columns, local, fs)

    async def read_changes(
        self,
        object: str,
        cursor: Cursor | None,
        page_size: int,
        fields: Collection[str] | None = None,
    ) -> AsyncIterator[ChangePage]:
        """Records of every ready file in the object's folder, file by file.

        The files the stored ``cursor`` names were committed by the engine: they are
        moved to done/ or failed/ first. The folder itself says what is left to read, so
        a file with an old mtime is read too. A cursor that names no file (``None`` from
        a preview, a recon's own) moves nothing: reading never consumes the drop.
        """
        self._fileset(object)
        async for page in self._sources[object].read_changes(cursor, page_size):
            yield page

    async def get(
        self, object: str, ids: Sequence[str], fields: Collection[str] | None = None
    ) -> list[Record]:
        """Always empty: a file's records travel in full with their change (no re-read)."""
        self._fileset(object)
        return []

    async def find(self, object: str, key_field: str, values: Sequence[object]) -> list[Record]:
        """Always empty: written files are not searched (the write ledger dedups retries)."""
        self._fileset(object)
        return []

    async def write(self, object: str, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Write the ops as new files (atomically); one result per op."""
        self._fileset(object)
        return await self._targets[object].write(ops)

    async def aclose(self) -> None:
        """Close the SFTP session, if any."""
        await self.storage.aclose()


def _first_columns(path: Path, fs: FileSet) -> list[str]:
    _, encoding = hash_and_sniff(path, fs.encoding)
    try:
        rows = read_rows(path, fs, encoding)
        for item in rows:
            if not isinstance(item, RowError):
                return [c for c in item[1] if c not in ("_file", "_row")]
    except FileRefusedError:
        return []
    return []
