"""Direct database connector (``sql``): tables and views of any SQLAlchemy database.

For ERPs without a usable API (old Yonyou U8, Kingdee KIS, home-grown systems): objects
are tables or views, described by reflection; changes come from a modification-time or
sequence column, or from a trigger-fed change table; writes are upserts in transactions
with a result per op, or rows of a staging table the ERP imports. See README.md and
docs/connectors/sql.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from erpbridge.connectors.sql.capture import change_capture_ddl, install_change_capture
from erpbridge.connectors.sql.connector import SqlConnector
from erpbridge.connectors.sql.settings import SqlSettings
from erpbridge.connectors.sql.setup import install_staging_table
from erpbridge.spi.registry import ConnectorSpec
from erpbridge.spi.settings import ConnectionSettings

if TYPE_CHECKING:
    import httpx

__all__ = [
    "SPEC",
    "SqlConnector",
    "SqlSettings",
    "change_capture_ddl",
    "create",
    "install_change_capture",
    "install_staging_table",
]


def create(settings: ConnectionSettings, http: httpx.AsyncClient | None) -> SqlConnector:
    """Build a connector; ``http`` is not used (the database has its own driver)."""
    if not isinstance(settings, SqlSettings):
        raise TypeError("the sql connector needs SqlSettings")
    return SqlConnector(settings)


SPEC = ConnectorSpec(
    name="sql",
    settings=SqlSettings,
    create=create,
    summary="Direct database (PostgreSQL, MySQL/MariaDB, SQL Server, Oracle via SQLAlchemy); "
    "U8 preset with staging writes",
    kind="generic",
)
