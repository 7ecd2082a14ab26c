"""xref_keys: source records by natural key, for xref lookups by key

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from erpbridge.store.types import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "xref_keys",
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("source_connection", sa.String(length=64), nullable=False),
        sa.Column("key_field", sa.String(length=255), nullable=False),
        sa.Column("source_id", sa.String(length=255), nullable=False),
        sa.Column("key_value", sa.String(length=255), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            "entity", "source_connection", "key_field", "source_id", name=op.f("pk_xref_keys")
        ),
    )
    op.create_index(
        op.f("ix_xref_keys_entity_source_connection_key_field_key_value"),
        "xref_keys",
        ["entity", "source_connection", "key_field", "key_value"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_xref_keys_entity_source_connection_key_field_key_value"), table_name="xref_keys"
    )
    op.drop_table("xref_keys")
