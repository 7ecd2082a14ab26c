"""Installing the staging table: the DDL is shown first and executed only on request."""

from __future__ import annotations

from erpbridge.connectors.sql.database import Database
from erpbridge.connectors.sql.errors import map_errors
from erpbridge.connectors.sql.settings import SqlSettings
from erpbridge.connectors.sql.staging import staging_ddl

__all__ = ["install_staging_table"]


def install_staging_table(settings: SqlSettings, *, apply: bool = False) -> list[str]:
    """The DDL that creates ``settings.staging_table``; executed only when ``apply``.

    Returns the empty list when the table exists already.

    Raises:
        ConnectorError: the database refused a statement (classified, password blanked).
    """
    db = Database(settings)
    try:
        tables, _ = db._table_names()
        if settings.staging_table in tables:
            return []
        statements = staging_ddl(db.engine, settings.staging_table, settings.db_schema)
        if apply:
            with map_errors(secret=db.secret), db.engine.begin() as conn:
                for statement in statements:
                    conn.exec_driver_sql(statement)
        return statements
    finally:
        db.dispose()
