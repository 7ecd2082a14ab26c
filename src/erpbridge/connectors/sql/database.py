"""The database behind a ``sql`` connection: engine, session setup, reflection of objects.

Every table and column name the connector uses comes from reflection and is checked
against it here: a name that the database does not have is refused with a did-you-mean,
so no name from a project file or a record ever reaches SQL unchecked. Statements are
SQLAlchemy Core with bound parameters; nothing is built from strings of input.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from erpbridge.connectors.sql.dialects import ORA_ROWSCN, ora_rowscn
from erpbridge.connectors.sql.errors import SYSTEM, map_errors
from erpbridge.connectors.sql.presets import objects_of
from erpbridge.connectors.sql.settings import ObjectSettings, QuerySettings, SqlSettings
from erpbridge.spi.errors import ConfigError, ValidationError

__all__ = ["Database", "LinesInfo", "TableInfo", "did_you_mean"]


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``; did you mean 'X'?`` for the closest known name, or the empty string."""
    choices = list(known)
    lowered = {c.lower(): c for c in choices}
    if name.lower() in lowered:
        return f"; did you mean {lowered[name.lower()]!r}?"
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


@dataclass(frozen=True, slots=True)
class LinesInfo:
    """A checked ``lines`` entry: child table, its parent column, the parent's key column."""

    name: str
    table: sa.Table
    parent_column: sa.Column[Any]
    parent_key: sa.Column[Any]
    order_by: sa.Column[Any]
    id_column: sa.Column[Any]


@dataclass(frozen=True, slots=True)
class TableInfo:
    """An object resolved against the database: its table and checked columns."""

    name: str
    table: sa.Table
    id_column: sa.Column[Any]
    stamp_column: sa.Column[Any] | None
    sequence_column: sa.Column[Any] | None
    change_capture: bool
    natural_keys: tuple[str, ...]
    read_only: bool
    is_view: bool
    touch_stamp: bool
    lines: dict[str, LinesInfo] = field(default_factory=dict)

    def column(self, name: str) -> sa.Column[Any]:
        """The column called ``name``.

        Raises:
            ValidationError: no such column (with a did-you-mean).
        """
        if name in self.table.c:
            return self.table.c[name]
        raise ValidationError(
            f"table {self.table.name!r} has no column {name!r}"
            f"{did_you_mean(name, self.table.c.keys())}",
            field=name,
            system=SYSTEM,
            object=self.name,
        )


class Database:
    """One SQLAlchemy engine plus the reflected objects of a connection (thread-safe)."""

    def __init__(self, settings: SqlSettings) -> None:
        self.settings = settings
        self.objects = objects_of(settings)
        self.secret = settings.password.reveal() if settings.password is not None else None
        self.engine = _build_engine(settings, self.secret)
        self._lock = threading.Lock()
        self._metadata = sa.MetaData(schema=settings.db_schema)
        self._tables: dict[str, TableInfo] = {}
        self._names: tuple[set[str], set[str]] | None = None

    # --- names -------------------------------------------------------------------------

    def _table_names(self) -> tuple[set[str], set[str]]:
        if self._names is None:
            with map_errors(secret=self.secret), self.engine.connect() as conn:
                inspector = sa.inspect(conn)
                schema = self.settings.db_schema
                tables = set(inspector.get_table_names(schema=schema))
                views = set(inspector.get_view_names(schema=schema))
            self._names = (tables, views)
        return self._names

    def forget(self) -> None:
        """Drop reflected tables and names (after DDL such as installing a trigger table)."""
        with self._lock:
            self._tables.clear()
            self._names = None
            self._metadata = sa.MetaData(schema=self.settings.db_schema)

    def object_names(self) -> list[str]:
        """The objects this connection offers: configured ones, else every table and view."""
        if self.objects:
            return list(self.objects)
        tables, views = self._table_names()
        return sorted(tables | views)

    def reflect(self, table_name: str, *, where: str) -> tuple[sa.Table, bool]:
        """The reflected table or view called ``table_name`` and whether it is a view.

        Raises:
            ConfigError: no such table or view (with a did-you-mean); ``where`` names the
                setting or call that asked.
        """
        tables, views = self._table_names()
        if table_name not in tables and table_name not in views:
            hint = did_you_mean(table_name, tables | views)
            schema = f" in schema {self.settings.db_schema!r}" if self.settings.db_schema else ""
            raise ConfigError(
                f"no table or view {table_name!r}{schema} at {self.settings.safe_url}{hint}",
                field=where,
            )
        with self._lock:
            key = f"{self.settings.db_schema}.{table_name}"
            table = self._metadata.tables.get(key) or self._metadata.tables.get(table_name)
            if table is None:
                with map_errors(secret=self.secret), self.engine.connect() as conn:
                    table = sa.Table(table_name, self._metadata, autoload_with=conn)
        return table, table_name in views

    # --- objects -----------------------------------------------------------------------

    def info(self, object: str) -> TableInfo:
        """The object resolved against the database (cached).

        Raises:
            ValidationError: the connection has no such object (with a did-you-mean).
            ConfigError: the object's settings name a table or column the database lacks.
        """
        cached = self._tables.get(object)
        if cached is not None:
            return cached
        if self.objects and object not in self.objects:
            raise ValidationError(
                f"connection has no object {object!r}{did_you_mean(object, self.objects)}",
                system=SYSTEM,
                object=object,
            )
        config = self.objects.get(object, ObjectSettings())
        try:
            info = self._resolve(object, config)
        except ConfigError as exc:
            if self.objects:
                raise
            raise ValidationError(exc.reason, system=SYSTEM, object=object) from exc
        self._tables[object] = info
        return info

    def _resolve(self, object: str, config: ObjectSettings) -> TableInfo:
        where = f"objects.{object}"
        if config.query is not None:
            table, is_view = _query_source(object, config.query), True
        else:
            table, is_view = self.reflect(config.table or object, where=f"{where}.table")

        def column(name: str | None, setting: str) -> sa.Column[Any] | None:
            if name is None:
                return None
            if (
                setting == "sequence_column"
                and name.upper() == ORA_ROWSCN
                and config.query is None
                and self.engine.dialect.name == "oracle"
            ):
                return ora_rowscn()  # a pseudo-column: not reflected, selected explicitly
            if name not in table.c:
                hint = did_you_mean(name, table.c.keys())
                raise ConfigError(
                    f"table {table.name!r} has no column {name!r}{hint}",
                    field=f"{where}.{setting}",
                )
            return table.c[name]

        id_column = column(config.id_column, "id_column")
        if id_column is None:
            id_column = _single_pk(table, where)
        if config.natural_keys:
            keys: Sequence[str] = config.natural_keys
        elif config.query is not None and config.id_column is not None:
            keys = (config.id_column,)
        else:
            keys = _unique_keys(table)
        for key in keys:
            column(key, "natural_keys")
        lines = {name: self._lines(table, id_column, name, where) for name in config.lines} or {}
        return TableInfo(
            name=object,
            table=table,
            id_column=id_column,
            stamp_column=column(config.stamp_column, "stamp_column"),
            sequence_column=column(config.sequence_column, "sequence_column"),
            change_capture=config.change_capture,
            natural_keys=tuple(keys),
            read_only=config.read_only or is_view or self.settings.read_only,
            is_view=is_view,
            touch_stamp=config.touch_stamp,
            lines=lines,
        )

    def _lines(
        self, parent: sa.Table, parent_id: sa.Column[Any], name: str, where: str
    ) -> LinesInfo:
        object = where.removeprefix("objects.")
        spec = self.objects[object].lines[name]
        where = f"{where}.lines.{name}"
        child, _ = self.reflect(spec.table, where=f"{where}.table")
        for setting, col_name, table in (
            ("parent_column", spec.parent_column, child),
            ("parent_key", spec.parent_key, parent),
            ("order_by", spec.order_by, child),
        ):
            if col_name is not None and col_name not in table.c:
                hint = did_you_mean(col_name, table.c.keys())
                raise ConfigError(
                    f"table {table.name!r} has no column {col_name!r}{hint}",
                    field=f"{where}.{setting}",
                )
        child_id = _single_pk(child, where)
        return LinesInfo(
            name=name,
            table=child,
            parent_column=child.c[spec.parent_column],
            parent_key=parent.c[spec.parent_key] if spec.parent_key else parent_id,
            order_by=child.c[spec.order_by] if spec.order_by else child_id,
            id_column=child_id,
        )

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


#: declared type of a named query's column -> SQLAlchemy type.
_QUERY_TYPES: dict[str, sa.types.TypeEngine[Any]] = {
    "string": sa.String(),
    "text": sa.Text(),
    "integer": sa.BigInteger(),
    "decimal": sa.Numeric(),
    "boolean": sa.Boolean(),
    "date": sa.Date(),
    "datetime": sa.DateTime(),
    "datetime_tz": sa.DateTime(timezone=True),
    "time": sa.Time(),
}


def _query_source(object: str, query: QuerySettings) -> sa.Table:
    """A named query as a subquery with declared columns (real ``Column`` objects).

    Typed as a table for the readers, which only select from it; it is read-only, so no
    table-only operation (insert, update, delete, triggers) ever reaches it.
    """
    columns = [sa.Column(name, _QUERY_TYPES[kind]) for name, kind in query.columns.items()]
    subquery = sa.text(query.sql).columns(*columns).subquery(object)
    return cast(sa.Table, subquery)


def _single_pk(table: sa.Table, where: str) -> sa.Column[Any]:
    pk = list(table.primary_key.columns)
    if len(pk) != 1:
        found = ", ".join(c.name for c in pk) or "none"
        raise ConfigError(
            f"table {table.name!r} has no single-column primary key (found: {found}); "
            "set id_column",
            field=f"{where}.id_column",
        )
    return pk[0]


def _unique_keys(table: sa.Table) -> list[str]:
    keys = [c.name for c in table.primary_key.columns]
    for constraint in table.constraints:
        if isinstance(constraint, sa.UniqueConstraint) and len(constraint.columns) == 1:
            keys += [c.name for c in constraint.columns]
    for index in table.indexes:
        if index.unique and len(index.columns) == 1:
            keys += [c.name for c in index.columns]
    return list(dict.fromkeys(keys))


def _build_engine(settings: SqlSettings, password: str | None) -> sa.Engine:
    url = make_url(settings.url)
    if password is not None:
        url = url.set(password=password)
    backend = url.get_backend_name()
    connect_args: dict[str, object] = {}
    timeout = max(1, round(settings.connect_timeout_s))
    call_timeout = max(1, round(settings.limits.timeout_s))
    if backend == "postgresql":
        connect_args["connect_timeout"] = timeout
    elif backend in ("mysql", "mariadb"):
        connect_args.update(
            # the client gives the server a margin: its own timeouts answer first, cleanly
            connect_timeout=timeout,
            read_timeout=call_timeout + 5,
            write_timeout=call_timeout + 5,
        )
        connect_args.setdefault("charset", "utf8mb4")
    elif backend == "mssql" and url.get_driver_name() == "pymssql":
        # pymssql: login_timeout for the connect, timeout for each statement (seconds)
        connect_args.update(login_timeout=timeout, timeout=call_timeout + 5)
    elif backend == "mssql" and url.get_driver_name() == "pyodbc":
        connect_args["timeout"] = timeout  # pyodbc: the login timeout
    elif backend == "oracle":
        connect_args["tcp_connect_timeout"] = float(timeout)  # python-oracledb
    engine = sa.create_engine(
        url,
        pool_size=settings.limits.concurrency,
        max_overflow=2,
        pool_pre_ping=True,
        pool_timeout=settings.limits.timeout_s,
        connect_args=connect_args,
    )
    sa.event.listen(
        engine, "connect", _session_setup(backend, call_timeout, read_only=settings.read_only)
    )
    return engine


def _session_setup(backend: str, call_timeout_s: int, *, read_only: bool) -> Any:
    """Per-connection settings: strict modes so a bad value errors instead of truncating.

    A read-only connection also makes the database session read-only, so not even a
    bug in erpbridge could write through it.
    """

    # a row lock held by someone else is a conflict (retried by policy), reported before the
    # call's own timeout would turn it into a lost connection
    lock_wait_s = max(1, int(call_timeout_s) // 2)

    def setup(dbapi_connection: Any, _record: Any) -> None:
        if backend == "oracle":
            # python-oracledb: every round trip ends after this many ms (ORA-01013 / DPY-4024)
            dbapi_connection.call_timeout = int(call_timeout_s) * 1000
            return
        cursor = dbapi_connection.cursor()
        try:
            if backend == "postgresql":
                # literal integers, not input: SET takes no bound parameters
                cursor.execute(f"SET statement_timeout = {int(call_timeout_s) * 1000}")
                cursor.execute(f"SET lock_timeout = {lock_wait_s * 1000}")
                if read_only:
                    cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            elif backend in ("mysql", "mariadb"):
                # MySQL outside strict mode truncates long strings and bad numbers silently
                cursor.execute(
                    "SET SESSION sql_mode = "
                    "TRIM(BOTH ',' FROM CONCAT(@@SESSION.sql_mode, ',STRICT_ALL_TABLES'))"
                )
                cursor.execute(f"SET SESSION innodb_lock_wait_timeout = {lock_wait_s}")
                if read_only:
                    cursor.execute("SET SESSION TRANSACTION READ ONLY")
            elif backend == "mssql":
                # a lock held by someone else: error 1222 (ConflictError) after this many ms;
                # SQL Server has no read-only session (the connector still refuses writes)
                cursor.execute(f"SET LOCK_TIMEOUT {lock_wait_s * 1000}")
        finally:
            cursor.close()
        if backend == "postgresql":
            dbapi_connection.commit()

    return setup
