"""jobs: source_digest, what a change held of the fields its flow reads

A change whose digest equals the one of its record's newest job, done, is not queued:
it carries nothing new for the flow (engine/unchanged.py). Null for jobs taken in before
this revision and for jobs whose flow's fields are not known statically.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column(
                "source_digest",
                sa.String(length=32),
                nullable=True,
                comment="digest of the fields the flow reads, as taken in (engine/unchanged.py)",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("source_digest")
