"""jobs: drop the (flow, source_id) index; the unique (flow, source_id, source_version) serves

Every lookup by flow and record uses the unique constraint's own index (its leading
columns), so the second index only cost one more B-tree insert per job at intake.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 19:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index(op.f("ix_jobs_flow_source_id"), table_name="jobs")


def downgrade() -> None:
    op.create_index(op.f("ix_jobs_flow_source_id"), "jobs", ["flow", "source_id"], unique=False)
