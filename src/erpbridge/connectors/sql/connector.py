"""The spi operations for a database reached through SQLAlchemy (issue 9, direct database).

SQLAlchemy and its drivers block, so every database call runs in a worker thread
(``asyncio.to_thread``) on a pooled connection, and the event loop is never held up.
Reads run in short transactions, one per page; a write batch runs in one transaction
with one savepoint per op.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import sqlalchemy as sa
import structlog

from erpbridge.connectors.sql.changes import (
    Page,
    captured_page,
    null_stamp_page,
    sequence_number,
    sequence_page,
    stamp_page,
    whole_page,
)
from erpbridge.connectors.sql.database import Database, TableInfo
from erpbridge.connectors.sql.describe import object_schema
from erpbridge.connectors.sql.errors import SYSTEM, map_errors
from erpbridge.connectors.sql.reader import lookup
from erpbridge.connectors.sql.settings import DIRECT_WRITE_WARNING, SqlSettings
from erpbridge.connectors.sql.staging import write_staging
from erpbridge.connectors.sql.writer import write_direct
from erpbridge.spi.errors import AuthError, ConfigError, ConnectorError, ValidationError
from erpbridge.spi.records import ChangePage, CheckResult, Cursor, Record, WriteOp, WriteResult
from erpbridge.spi.schema import Catalog

__all__ = ["MAX_PAGE", "SqlConnector"]

#: the most rows one page reads.
MAX_PAGE = 10_000

_log = structlog.get_logger(__name__)
_T = TypeVar("_T")


class SqlConnector:
    """One connection to one database.

    Args:
        settings: the connection (validated).
    """

    system = SYSTEM

    def __init__(self, settings: SqlSettings) -> None:
        self.settings = settings
        self.limits = settings.limits
        self.db = Database(settings)
        self.zone = settings.zone
        if settings.effective_write_mode == "direct" and settings.preset and not settings.read_only:
            _log.warning(
                "sql.direct_writes",
                url=settings.safe_url,
                preset=settings.preset,
                warning=DIRECT_WRITE_WARNING,
            )

    async def _run(self, fn: Callable[..., _T], *args: object) -> _T:
        return await asyncio.to_thread(fn, *args)

    def _info_sync(self, object: str) -> TableInfo:
        return self.db.info(object)

    async def _info(self, object: str) -> TableInfo:
        try:
            return await self._run(self._info_sync, object)
        except ConfigError as exc:
            raise ValidationError(str(exc), field=exc.field, system=SYSTEM, object=object) from exc

    # --- check / describe -------------------------------------------------------------

    def _check_sync(self) -> dict[str, str]:
        with map_errors(secret=self.db.secret), self.db.engine.connect() as conn:
            conn.execute(sa.select(sa.literal(1)))
            dialect = conn.dialect
            version = ".".join(str(p) for p in dialect.server_version_info or ())
        names = self.db.object_names()
        details = {
            "url": self.settings.safe_url,
            "dialect": dialect.name,
            "server_version": version,
            "objects": str(len(names)),
            "write_mode": "read-only"
            if self.settings.read_only
            else self.settings.effective_write_mode,
        }
        if self.settings.effective_write_mode == "direct" and self.settings.preset:
            details["warning"] = DIRECT_WRITE_WARNING
        resolved = self._resolved(names)  # every configured object resolves (or raises)
        details["objects"] = str(len(resolved))
        if len(resolved) < len(names):
            details["skipped"] = ", ".join(sorted(set(names) - set(resolved)))
        if self.settings.effective_write_mode == "staging" and not self.settings.read_only:
            self._staging_table()
        return details

    def _staging_table(self) -> sa.Table:
        try:
            return self.db.reflect(self.settings.staging_table, where="staging_table")[0]
        except ConfigError as exc:
            raise ConfigError(
                f"{exc.reason}; staging writes need it: create it with "
                "install_staging_table (the DDL is shown first)",
                field="staging_table",
            ) from exc

    async def check(self) -> CheckResult:
        """Connect, run ``SELECT 1``, resolve every object. Never raises; says why not."""
        try:
            details = await self._run(self._check_sync)
        except ConnectorError as exc:
            return CheckResult(False, str(exc), {"error": type(exc).__name__})
        except ConfigError as exc:
            return CheckResult(False, str(exc), {"error": "ConfigError"})
        return CheckResult(True, "", details)

    def _resolved(self, names: list[str]) -> dict[str, TableInfo]:
        """Objects resolved against the database. Configured ones must resolve; tables
        found by discovery (no ``objects``) that cannot be objects — no single-column
        primary key, say — are left out and logged, so one odd table does not hide the rest.
        """
        out: dict[str, TableInfo] = {}
        for name in names:
            try:
                out[name] = self.db.info(name)
            except ValidationError as exc:
                if self.db.objects:
                    raise
                _log.warning("sql.object_skipped", object=name, reason=exc.message)
        return out

    def _describe_sync(self) -> Catalog:
        resolved = self._resolved(self.db.object_names())
        return Catalog({name: object_schema(info) for name, info in resolved.items()})

    async def describe(self) -> Catalog:
        """Every object's fields, by reflection (tables and views; lines as LINES fields)."""
        return await self._run(self._describe_sync)

    # --- reading ----------------------------------------------------------------------

    def _page_sync(self, fn: Callable[..., Page], *args: object) -> Page:
        with map_errors(secret=self.db.secret), self.db.engine.connect() as conn:
            return fn(conn, *args)

    async def _page(self, object: str, fn: Callable[..., Page], *args: object) -> Page:
        try:
            return await self._run(self._page_sync, fn, *args)
        except ConnectorError as exc:
            exc.object = exc.object or object
            raise

    def _overlap(self, cursor: Cursor | None) -> timedelta:
        return cursor.overlap if cursor is not None else timedelta(seconds=self.settings.overlap_s)

    async def read_changes(
        self,
        object: str,
        cursor: Cursor | None,
        page_size: int,
        fields: Collection[str] | None = None,
    ) -> AsyncIterator[ChangePage]:
        """Pages in change order from ``cursor.read_from`` (see changes.py for each source)."""
        info = await self._info(object)
        limit = max(1, min(page_size, MAX_PAGE))
        if info.change_capture:
            pages = self._read_captured(info, cursor, limit)
        elif info.stamp_column is not None:
            pages = self._read_stamped(info, cursor, limit)
        elif info.sequence_column is not None:
            pages = self._read_sequenced(info, cursor, limit)
        else:
            pages = self._read_whole(info, limit)
        async for page in pages:
            yield page

    async def _read_stamped(
        self, info: TableInfo, cursor: Cursor | None, limit: int
    ) -> AsyncIterator[ChangePage]:
        overlap = self._overlap(cursor)
        if cursor is None:  # rows never stamped are read once, at a read from the start
            last_id: object = None
            while True:
                page = await self._page(info.name, null_stamp_page, info, self.zone, last_id, limit)
                if page.records:
                    yield ChangePage(page.records, None, True)
                if not page.full or page.last is None:
                    break
                last_id = page.last[0]
        read_from = cursor.read_from if cursor is not None else None
        current = cursor
        last: tuple[object, ...] | None = None
        while True:
            page = await self._page(info.name, stamp_page, info, self.zone, read_from, last, limit)
            if page.records:
                record = page.records[-1]
                if record.stamp is not None:  # rows are in (stamp, id) order: the last is the max
                    current = Cursor(record.stamp, record.id, overlap)
            yield ChangePage(page.records, current, page.full)
            if not page.full:
                return
            last = page.last

    async def _read_sequenced(
        self, info: TableInfo, cursor: Cursor | None, limit: int
    ) -> AsyncIterator[ChangePage]:
        overlap = self._overlap(cursor)
        start = _sequence_of(cursor, info)
        current = cursor
        last: tuple[object, ...] | None = None
        while True:
            page = await self._page(info.name, sequence_page, info, self.zone, start, last, limit)
            if page.last is not None:
                # the cursor's stamp is the read time (a sequence has no time); last_id
                # holds the sequence, re-read inclusively next time
                current = Cursor(datetime.now(UTC), str(sequence_number(page.last[0])), overlap)
            yield ChangePage(page.records, current, page.full)
            if not page.full:
                return
            last = page.last

    async def _read_captured(
        self, info: TableInfo, cursor: Cursor | None, limit: int
    ) -> AsyncIterator[ChangePage]:
        overlap = self._overlap(cursor)
        changes, _ = await self._run(self._change_table)
        since = None
        if cursor is not None:
            since = (_int_of(cursor.last_id, 0), cursor.read_from)
        current = cursor
        last: int | None = None
        while True:
            page = await self._page(
                info.name, captured_page, info, changes, self.zone, since, last, limit
            )
            if page.last is not None and page.last_stamp is not None:
                current = Cursor(page.last_stamp, str(page.last[0]), overlap)
            yield ChangePage(page.records, current, page.full)
            if not page.full or page.last is None:
                return
            last = _int_of(str(page.last[0]), 0)

    def _change_table(self) -> tuple[sa.Table, bool]:
        return self.db.reflect(self.settings.change_table, where="change_table")

    async def _read_whole(self, info: TableInfo, limit: int) -> AsyncIterator[ChangePage]:
        last: object = None
        while True:
            page = await self._page(info.name, whole_page, info, self.zone, last, limit)
            yield ChangePage(page.records, None, page.full)
            if not page.full or page.last is None:
                return
            last = page.last[0]

    def _lookup_sync(self, info: TableInfo, column: str, values: Sequence[object]) -> list[Record]:
        with map_errors(object=info.name, secret=self.db.secret), self.db.engine.connect() as conn:
            return lookup(conn, info, info.column(column), values, self.zone)

    async def get(
        self, object: str, ids: Sequence[str], fields: Collection[str] | None = None
    ) -> list[Record]:
        """The records with these ids (the id column); unknown ids are absent."""
        info = await self._info(object)
        return await self._run(self._lookup_sync, info, info.id_column.name, list(ids))

    async def find(self, object: str, key_field: str, values: Sequence[object]) -> list[Record]:
        """Records whose column ``key_field`` is one of ``values``.

        Raises:
            ValidationError: the object has no such column (with a did-you-mean).
        """
        info = await self._info(object)
        info.column(key_field)
        return await self._run(self._lookup_sync, info, key_field, list(values))

    # --- writing ----------------------------------------------------------------------

    def _write_sync(self, info: TableInfo, ops: Sequence[WriteOp]) -> list[WriteResult]:
        staged = self.settings.effective_write_mode == "staging"
        staging = self._staging_table() if staged else None
        with (
            map_errors(object=info.name, secret=self.db.secret),
            self.db.engine.connect() as conn,
            conn.begin(),
        ):
            if staging is not None:
                return write_staging(conn, info, staging, ops, self.zone, self.db.secret)
            return write_direct(conn, info, ops, self.zone, self.db.secret)

    async def write(self, object: str, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Write a batch in one transaction; one result per op, in order.

        Raises:
            AuthError: the connection or object is read-only (nothing is written).
            ValidationError: the connection has no such object.
            ConnectorError: the batch failed as a whole (connection lost, deadlock); the
                transaction was rolled back, so nothing of it was written.
        """
        info = await self._info(object)
        if info.read_only:
            why = "a view" if info.is_view else "read-only"
            raise AuthError(
                f"{info.name} is {why} on this connection: writes are refused",
                system=SYSTEM,
                object=info.name,
            )
        if not ops:
            return []
        try:
            return await self._run(self._write_sync, info, list(ops))
        except ConfigError as exc:
            raise ValidationError(str(exc), field=exc.field, system=SYSTEM, object=object) from exc

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._run(self.db.dispose)


def _int_of(text: str, default: int) -> int:
    try:
        return int(text)
    except ValueError:
        return default


def _sequence_of(cursor: Cursor | None, info: TableInfo) -> int | None:
    if cursor is None or not cursor.last_id:
        return None
    try:
        return int(cursor.last_id)
    except ValueError:
        raise ValidationError(
            f"cursor last_id {cursor.last_id!r} is not a sequence value of "
            f"{info.sequence_column.name if info.sequence_column is not None else '?'}",
            system=SYSTEM,
            object=info.name,
        ) from None
