"""runs: filtered, the changes a run's flow's when: skipped as they were taken in

Intake ends a change whose snapshot holds the flow's fields and for which the flow's
``when:`` is false (engine/enqueue.py): it is never queued. A run counts those apart from
its queued and known changes. Zero for runs before this revision.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(
            sa.Column(
                "filtered",
                sa.Integer(),
                nullable=False,
                server_default="0",
                comment="changes the flow's when: skipped as they were taken in",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("filtered")
