"""What differs per database, in one place: SQL Server and Oracle next to PostgreSQL and MySQL.

Statements stay SQLAlchemy Core on reflected tables; only these few points depend on
the dialect, and each is rendered by SQLAlchemy's own dialect (tests compile every
statement the connector issues against ``mssql`` and ``oracle`` without a server):

- SQL Server ``rowversion`` (``timestamp``) columns are 8-byte counters the server sets:
  read as a sequence (big-endian integer), bounded by ``MIN_ACTIVE_ROWVERSION()`` so a row
  of a transaction still in flight is never skipped; never written;
- look-ups that decide between insert and update take ``UPDLOCK, HOLDLOCK`` on SQL
  Server, so a concurrent writer cannot insert the same key between our look-up and our
  insert (the documented SQL Server upsert pattern); other databases keep the plain
  look-up (the engine never writes one record key from two workers at once);
- Oracle's ``ORA_ROWSCN`` pseudo-column may be a ``sequence_column`` (the commit SCN of
  the row, or of its block without ``ROWDEPENDENCIES``).
"""

from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import mssql

__all__ = [
    "ORA_ROWSCN",
    "UPSERT_LOCK_HINT",
    "is_pseudo_column",
    "is_rowversion",
    "locking_lookup",
    "ora_rowscn",
    "selected_columns",
]

ORA_ROWSCN = "ORA_ROWSCN"
#: SQL Server's lock hints for a look-up that an insert-or-update depends on.
UPSERT_LOCK_HINT = "WITH (UPDLOCK, HOLDLOCK)"


def is_rowversion(column: sa.Column[Any]) -> bool:
    """A SQL Server ``rowversion`` / ``timestamp`` column (set by the server on every write)."""
    return isinstance(column.type, mssql.TIMESTAMP)


def ora_rowscn() -> sa.Column[Any]:
    """Oracle's ``ORA_ROWSCN`` pseudo-column, typed as a growing integer.

    Typed as a column for the readers, which only select, compare and order by it.
    """
    return cast(sa.Column[Any], sa.literal_column(ORA_ROWSCN, sa.Numeric(asdecimal=False)))


def is_pseudo_column(column: sa.Column[Any] | None, table: sa.Table) -> bool:
    """A column that is not one of ``table``'s own (``ORA_ROWSCN``)."""
    return column is not None and column.name not in table.c


def selected_columns(table: sa.Table, sequence: sa.Column[Any] | None) -> list[Any]:
    """What a read selects: the table, plus a pseudo-column sequence when there is one."""
    if sequence is not None and is_pseudo_column(sequence, table):
        return [table, sequence]
    return [table]


def locking_lookup(query: sa.Select[Any], table: sa.Table) -> sa.Select[Any]:
    """``query`` with SQL Server's upsert lock hints on ``table`` (other dialects: as is)."""
    return query.with_hint(table, UPSERT_LOCK_HINT, "mssql")
