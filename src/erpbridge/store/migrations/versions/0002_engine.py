"""engine: runs history, echo hash field lists, dependency wait start

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 13:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from erpbridge.store.types import JSONDoc, UTCDateTime

# Frozen copy of the id type as of this revision (never import it from schema.py).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("flow", sa.String(length=64), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("read", sa.Integer(), server_default="0", nullable=False),
        sa.Column("queued", sa.Integer(), server_default="0", nullable=False),
        sa.Column("duplicates", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_index(op.f("ix_runs_flow_started_at"), "runs", ["flow", "started_at"], unique=False)
    # Claims walk queued jobs in id order and stop at the batch size (engine/queue.py);
    # with (state, next_attempt_at) beside it, planners sort the whole queue instead.
    op.drop_index(op.f("ix_jobs_state_next_attempt_at"), table_name="jobs")
    op.create_index(op.f("ix_jobs_state_id"), "jobs", ["state", "id"], unique=False)
    with op.batch_alter_table("echo_hashes") as batch:
        # Existing rows (none before the engine) get an empty field list.
        batch.add_column(
            sa.Column(
                "fields",
                JSONDoc,
                nullable=False,
                server_default=sa.text("'[]'"),
                comment="names of the fields hashed",
            )
        )
    with op.batch_alter_table("echo_hashes") as batch:
        batch.alter_column("fields", server_default=None)
        batch.add_column(
            sa.Column(
                "version",
                sa.String(length=255),
                nullable=True,
                comment="the record's version after the write",
            )
        )
    with op.batch_alter_table("dead_letters") as batch:
        batch.add_column(
            sa.Column("payload_edited", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column(
                "waiting_since",
                UTCDateTime(),
                nullable=True,
                comment="parked on a dependency since",
            )
        )


def downgrade() -> None:
    op.drop_index(op.f("ix_jobs_state_id"), table_name="jobs")
    op.create_index(
        op.f("ix_jobs_state_next_attempt_at"), "jobs", ["state", "next_attempt_at"], unique=False
    )
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("waiting_since")
    with op.batch_alter_table("dead_letters") as batch:
        batch.drop_column("payload_edited")
    with op.batch_alter_table("echo_hashes") as batch:
        batch.drop_column("version")
        batch.drop_column("fields")
    op.drop_index(op.f("ix_runs_flow_started_at"), table_name="runs")
    op.drop_table("runs")
