"""PostgreSQL: jobs' snapshots and payloads, attempts' calls stored as JSON, not JSONB

The store writes these documents whole and reads them whole; it never queries into
them nor compares them. JSONB parses each value into a tree on the way in and prints it
back to text on the way out; JSON checks the text and keeps it. For an order of 5 lines
(3.6 kB of JSON), per row of a snapshot and a payload (bench/pg_compression.py
--types, lz4 both): inserted, 102-117 against 125-156 µs of the server's CPU; claimed
back (``UPDATE … RETURNING``), 23-28 against 58-64 µs; stored, 16.7 against 20.8 MB
for 10,000 rows. In the PostgreSQL round trip of bench/e2e.py the server's CPU per
order went from 1.07-1.17 to 0.96-1.06 ms (docs/performance.md). The text kept is the
text written: keys in the order the source gave them (JSONB sorts them).

Changing a column's type rewrites its table; the column's compression (lz4 since 0008)
is set again in the same statement, so the rewritten values keep it. SQLite stores JSON
as text already.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

#: table -> its columns written and read whole
_COLUMNS = {
    "jobs": ("source_snapshot", "mapped_payload"),
    "attempts": ("target_call",),
    "dead_letters": ("source_snapshot", "mapped_payload"),
}

#: pg_attribute.attcompression -> the method's name ('' is the server's default)
_METHODS = {"l": "lz4", "p": "pglz"}


def _retype(to: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table, columns in _COLUMNS.items():
        steps = []
        for column in columns:
            method = bind.execute(
                sa.text(
                    "SELECT attcompression::text FROM pg_attribute "
                    "WHERE attrelid = CAST(:table AS regclass) AND attname = :column"
                ),
                {"table": table, "column": column},
            ).scalar()
            steps.append(f"ALTER COLUMN {column} TYPE {to} USING {column}::{to}")
            if method in _METHODS:  # a type change resets it: kept for the rewrite
                steps.append(f"ALTER COLUMN {column} SET COMPRESSION {_METHODS[method]}")
        op.execute(f"ALTER TABLE {table} " + ", ".join(steps))


def upgrade() -> None:
    _retype("json")


def downgrade() -> None:
    _retype("jsonb")
