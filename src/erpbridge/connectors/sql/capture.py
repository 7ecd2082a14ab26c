"""Trigger-fed change capture: a change table plus triggers, shown first, installed on request.

For tables without a trustworthy modification time (``CurrentStock``, tables that
programs update without touching ``dModifyDate``) and to see deletes. Triggers on the
table append ``(table_name, record_id, op, changed_at)`` to the change table on every
insert, update and delete; an object with ``change_capture: true`` reads that table.

Only reflected names reach the DDL, each quoted by the dialect's own identifier quoting;
the only literal (the table's name, for MySQL triggers) is rendered by the dialect too.
PostgreSQL and MySQL/MariaDB are supported; other dialects get a clear ConfigError.
"""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, oracle
from sqlalchemy.schema import CreateIndex, CreateTable

from erpbridge.connectors.sql.database import Database
from erpbridge.connectors.sql.errors import map_errors
from erpbridge.connectors.sql.settings import SqlSettings
from erpbridge.spi.errors import ConfigError

__all__ = ["change_capture_ddl", "change_table", "install_change_capture"]

_MAX_NAME = 63  # PostgreSQL's identifier limit (MySQL allows 64)


def change_table(name: str, schema: str | None = None) -> sa.Table:
    """The change table's definition: one row per captured insert, update or delete."""
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    stamp = (
        sa.DateTime(timezone=True)
        .with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
        .with_variant(oracle.TIMESTAMP(timezone=True), "oracle")
    )
    return sa.Table(
        name,
        sa.MetaData(schema=schema),
        sa.Column("change_id", big, sa.Identity(), primary_key=True, autoincrement=True),
        sa.Column("table_name", sa.String(128), nullable=False),
        sa.Column("record_id", sa.Unicode(255), nullable=False),
        sa.Column("op", sa.String(1), nullable=False),  # I, U or D
        sa.Column("changed_at", stamp, nullable=False),  # UTC
        sa.Index(f"ix_{name}_table", "table_name", "change_id"),
    )


def _name(prefix: str, table: str, suffix: str = "") -> str:
    name = f"{prefix}{table}{suffix}"
    if len(name) <= _MAX_NAME:
        return name
    tag = hashlib.sha256(table.encode()).hexdigest()[:8]
    return f"{prefix}{table[: _MAX_NAME - len(prefix) - len(suffix) - 9]}_{tag}{suffix}"


def _postgresql(prep: Any, table: sa.Table, ident: str, changes: str) -> list[str]:
    schema = f"{prep.quote_schema(table.schema)}." if table.schema else ""
    function = schema + prep.quote(_name("erpbridge_capture_", table.name))
    trigger = prep.quote(_name("erpbridge_capture_", table.name))
    # identifiers: reflected names quoted by the dialect; no value from input is in here
    insert = f"INSERT INTO {changes} (table_name, record_id, op, changed_at) VALUES"
    body = (
        f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $body$\n"
        "BEGIN\n"
        "  IF TG_OP = 'DELETE' THEN\n"
        f"    {insert} (TG_TABLE_NAME, OLD.{ident}::text, 'D', now());\n"
        "    RETURN NULL;\n"
        "  END IF;\n"
        "  IF TG_OP = 'UPDATE' THEN\n"
        f"    IF OLD.{ident} IS DISTINCT FROM NEW.{ident} THEN\n"
        f"      {insert} (TG_TABLE_NAME, OLD.{ident}::text, 'D', now());\n"
        "    END IF;\n"
        "  END IF;\n"
        f"  {insert} (TG_TABLE_NAME, NEW.{ident}::text, left(TG_OP, 1), now());\n"
        "  RETURN NULL;\n"
        "END\n"
        "$body$"
    )
    target = prep.format_table(table)
    return [
        body,
        f"DROP TRIGGER IF EXISTS {trigger} ON {target}",
        f"CREATE TRIGGER {trigger} AFTER INSERT OR UPDATE OR DELETE ON {target} "
        f"FOR EACH ROW EXECUTE FUNCTION {function}()",
    ]


def _mysql(prep: Any, dialect: sa.Dialect, table: sa.Table, ident: str, changes: str) -> list[str]:
    literal = sa.literal(table.name, sa.String()).compile(
        dialect=dialect, compile_kwargs={"literal_binds": True}
    )
    target = prep.format_table(table)
    schema = f"{prep.quote_schema(table.schema)}." if table.schema else ""

    def insert(row: str, op: str) -> str:
        # reflected names quoted by the dialect, the table name as a dialect-rendered literal
        return (
            f"INSERT INTO {changes} (table_name, record_id, op, changed_at) "  # noqa: S608
            f"VALUES ({literal}, {row}.{ident}, '{op}', UTC_TIMESTAMP(6))"
        )

    statements = []
    for suffix, event, body in (
        ("_i", "INSERT", insert("NEW", "I")),
        (
            "_u",
            "UPDATE",
            f"BEGIN IF NOT (OLD.{ident} <=> NEW.{ident}) THEN {insert('OLD', 'D')}; END IF; "
            f"{insert('NEW', 'U')}; END",
        ),
        ("_d", "DELETE", insert("OLD", "D")),
    ):
        trigger = schema + prep.quote(_name("erpbridge_capture_", table.name, suffix))
        statements.append(f"DROP TRIGGER IF EXISTS {trigger}")
        statements.append(f"CREATE TRIGGER {trigger} AFTER {event} ON {target} FOR EACH ROW {body}")
    return statements


def change_capture_ddl(settings: SqlSettings, table: str, db: Database | None = None) -> list[str]:
    """The statements that install change capture on ``table`` (an object or table name).

    The change table is included when it does not exist yet. Nothing is executed.

    Raises:
        ConfigError: unknown table (with a did-you-mean), no single id column, or a
            database other than PostgreSQL and MySQL/MariaDB.
    """
    owned = db is None
    db = db or Database(settings)
    try:
        config = db.objects.get(table)
        table_name = (config.table if config else None) or table
        target, is_view = db.reflect(table_name, where="table")
        if is_view:
            raise ConfigError(f"{table_name!r} is a view; triggers go on its tables", field="table")
        info_id = db.info(table).id_column if config else _single_id(target)
        dialect = db.engine.dialect
        prep = dialect.identifier_preparer
        changes = change_table(settings.change_table, settings.db_schema)
        tables, _ = db._table_names()
        statements: list[str] = []
        if settings.change_table not in tables:
            statements.append(str(CreateTable(changes).compile(dialect=dialect)).strip())
            statements += [
                str(CreateIndex(i).compile(dialect=dialect)).strip() for i in changes.indexes
            ]
        ident = prep.quote(info_id.name)
        changes_name = prep.format_table(changes)
        backend = db.engine.url.get_backend_name()
        if backend == "postgresql":
            statements += _postgresql(prep, target, ident, changes_name)
        elif backend in ("mysql", "mariadb"):
            statements += _mysql(prep, dialect, target, ident, changes_name)
        else:
            raise ConfigError(
                f"change capture is not available for {backend!r} (PostgreSQL, MySQL, MariaDB)",
                field="url",
            )
        return statements
    finally:
        if owned:
            db.dispose()


def _single_id(table: sa.Table) -> sa.Column[Any]:
    pk = list(table.primary_key.columns)
    if len(pk) != 1:
        raise ConfigError(
            f"table {table.name!r} has no single-column primary key; configure it as an "
            "object with id_column",
            field="table",
        )
    return pk[0]


def install_change_capture(settings: SqlSettings, table: str, *, apply: bool = False) -> list[str]:
    """The DDL that installs change capture on ``table``; executed only when ``apply``.

    This is what ``erpbridge sql install-change-capture <connection> <table>`` calls: once
    without ``apply`` to show the statements, then with ``apply=True`` after the person
    agrees. All statements run in one transaction where the database allows it
    (PostgreSQL; MySQL commits DDL statement by statement).

    Raises:
        ConfigError: see :func:`change_capture_ddl`.
        ConnectorError: the database refused a statement (classified, password blanked).
    """
    db = Database(settings)
    try:
        statements = change_capture_ddl(settings, table, db)
        if apply:
            with map_errors(object=table, secret=db.secret), db.engine.begin() as conn:
                for statement in statements:
                    conn.exec_driver_sql(statement)
        return statements
    finally:
        db.dispose()
