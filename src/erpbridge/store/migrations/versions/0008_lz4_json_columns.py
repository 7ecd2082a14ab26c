"""PostgreSQL: the large JSON columns compressed with lz4, not pglz

A job's snapshot (an order with its lines, 3.6 kB of JSON) and mapped payload make
rows larger than the 2 kB above which PostgreSQL compresses a row's values. With lz4
instead of pglz, its default, the server spent 20 µs less CPU per value written
(bench/pg_compression.py: 153 against 193 µs per row of two such values), for about a
quarter more bytes on disk (20.8 against 16.7 MB for 10,000 rows); the retention bounds
the history (docs/performance.md). Values written before keep their compression;
PostgreSQL reads both. A server built without lz4 (``default_toast_compression`` cannot
be ``lz4``) keeps pglz; SQLite has no such setting.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

#: (table, column): what is written with every job, and kept with a dead letter
_COLUMNS = (
    ("jobs", "source_snapshot"),
    ("jobs", "mapped_payload"),
    ("attempts", "target_call"),
    ("dead_letters", "source_snapshot"),
    ("dead_letters", "mapped_payload"),
)


def _lz4_available() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    found = bind.execute(
        sa.text(
            "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' "
            "AND 'lz4' = ANY(enumvals)"
        )
    ).first()
    return found is not None


def _set(method: str) -> None:
    for table, column in _COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION {method}")


def upgrade() -> None:
    if _lz4_available():
        _set("lz4")


def downgrade() -> None:
    if _lz4_available():
        _set("default")
