"""holds: a job held for a person (credit hold), its reason, since when, who released it

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from erpbridge.store.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column(
                "held_at",
                UTCDateTime(),
                nullable=True,
                comment="held by the flow's hold: check since (first version held)",
            )
        )
        batch.add_column(sa.Column("hold_reason", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column(
                "released_by",
                sa.String(length=128),
                nullable=True,
                comment="the person who released the held job (the check is skipped)",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("released_by")
        batch.drop_column("hold_reason")
        batch.drop_column("held_at")
