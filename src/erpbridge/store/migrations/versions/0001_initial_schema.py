"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 13:29:09.889060
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from erpbridge.store.types import JSONDoc, UTCDateTime

# Frozen copy of the id type as of this revision (never import it from schema.py).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=True),
        sa.Column("details", JSONDoc, nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_log_hash")),
    )
    op.create_table(
        "cursors",
        sa.Column("flow", sa.String(length=64), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=False, comment="Cursor.to_json()"),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("flow", name=op.f("pk_cursors")),
    )
    op.create_table(
        "echo_hashes",
        sa.Column("connection", sa.String(length=64), nullable=False),
        sa.Column("object", sa.String(length=128), nullable=False),
        sa.Column("record_id", sa.String(length=255), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("written_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("connection", "object", "record_id", name=op.f("pk_echo_hashes")),
    )
    op.create_table(
        "flows",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("current_version", sa.String(length=64), nullable=True),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_flows")),
    )
    op.create_table(
        "jobs",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("flow", sa.String(length=64), nullable=False),
        sa.Column("source_id", sa.String(length=255), nullable=False),
        sa.Column(
            "source_version",
            sa.String(length=255),
            nullable=False,
            comment="'' when the trigger gave none",
        ),
        sa.Column("source_stamp", UTCDateTime(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False, comment="upsert | delete"),
        sa.Column(
            "trigger",
            sa.String(length=16),
            nullable=False,
            comment="poll | webhook | schedule | manual | replay",
        ),
        sa.Column(
            "state",
            sa.String(length=16),
            nullable=False,
            comment="queued | running | done | dead | superseded | parked",
        ),
        sa.Column(
            "partition",
            sa.Integer(),
            nullable=False,
            comment="hash of the record key; keeps order per record",
        ),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
        sa.Column("source_snapshot", JSONDoc, nullable=True),
        sa.Column("mapped_payload", JSONDoc, nullable=True),
        sa.Column("mapping_version", sa.String(length=64), nullable=True),
        sa.Column("target_id", sa.String(length=255), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint(
            "flow",
            "source_id",
            "source_version",
            name=op.f("uq_jobs_flow_source_id_source_version"),
        ),
    )
    op.create_index(op.f("ix_jobs_flow_source_id"), "jobs", ["flow", "source_id"], unique=False)
    op.create_index(
        op.f("ix_jobs_state_next_attempt_at"), "jobs", ["state", "next_attempt_at"], unique=False
    )

    op.create_table(
        "recon_runs",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("flow", sa.String(length=64), nullable=False),
        sa.Column(
            "state",
            sa.String(length=16),
            nullable=False,
            comment="running | done | failed | cancelled",
        ),
        sa.Column("params", JSONDoc, nullable=False),
        sa.Column("totals", JSONDoc, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recon_runs")),
    )
    op.create_index(
        op.f("ix_recon_runs_flow_started_at"), "recon_runs", ["flow", "started_at"], unique=False
    )

    op.create_table(
        "xref",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("source_connection", sa.String(length=64), nullable=False),
        sa.Column("source_id", sa.String(length=255), nullable=False),
        sa.Column("target_connection", sa.String(length=64), nullable=False),
        sa.Column("target_id", sa.String(length=255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_xref")),
        sa.UniqueConstraint(
            "entity",
            "source_connection",
            "source_id",
            "target_connection",
            name=op.f("uq_xref_entity_source_connection_source_id_target_connection"),
        ),
    )
    op.create_index(
        op.f("ix_xref_entity_target_connection_target_id"),
        "xref",
        ["entity", "target_connection", "target_id"],
        unique=False,
    )

    op.create_table(
        "attempts",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("job_id", BigId, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=128), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column(
            "outcome",
            sa.String(length=16),
            nullable=True,
            comment="created | updated | unchanged | failed ...",
        ),
        sa.Column("error_class", sa.String(length=32), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("target_call", JSONDoc, nullable=True, comment="what was sent and answered"),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_attempts_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attempts")),
        sa.UniqueConstraint("job_id", "number", name=op.f("uq_attempts_job_id_number")),
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("job_id", BigId, nullable=False),
        sa.Column("flow", sa.String(length=64), nullable=False),
        sa.Column("source_id", sa.String(length=255), nullable=False),
        sa.Column("error_class", sa.String(length=32), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=False),
        sa.Column("error_raw", sa.Text(), nullable=True, comment="the target system's own text"),
        sa.Column("hint", sa.Text(), nullable=True),
        sa.Column("source_snapshot", JSONDoc, nullable=True),
        sa.Column("mapped_payload", JSONDoc, nullable=True),
        sa.Column(
            "state", sa.String(length=16), nullable=False, comment="open | replayed | discarded"
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("resolved_by", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_dead_letters_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
        sa.UniqueConstraint("job_id", name=op.f("uq_dead_letters_job_id")),
    )
    op.create_index(
        op.f("ix_dead_letters_flow_state"), "dead_letters", ["flow", "state"], unique=False
    )

    op.create_table(
        "flow_versions",
        sa.Column("flow", sa.String(length=64), nullable=False),
        sa.Column(
            "version", sa.String(length=64), nullable=False, comment="hash of the flow's spec"
        ),
        sa.Column("spec", JSONDoc, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["flow"], ["flows.name"], name=op.f("fk_flow_versions_flow_flows"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("flow", "version", name=op.f("pk_flow_versions")),
    )
    op.create_table(
        "recon_differences",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("run_id", BigId, nullable=False),
        sa.Column(
            "kind",
            sa.String(length=24),
            nullable=False,
            comment="missing_in_target | missing_in_source | field | duplicate",
        ),
        sa.Column("record_key", sa.String(length=255), nullable=False),
        sa.Column("field", sa.String(length=128), nullable=True),
        sa.Column("source_value", JSONDoc, nullable=True),
        sa.Column("target_value", JSONDoc, nullable=True),
        sa.Column("rule", sa.Text(), nullable=True),
        sa.Column("accepted", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("repair_job_id", BigId, nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["recon_runs.id"],
            name=op.f("fk_recon_differences_run_id_recon_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recon_differences")),
    )
    op.create_index(
        op.f("ix_recon_differences_run_id_kind"),
        "recon_differences",
        ["run_id", "kind"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_recon_differences_run_id_kind"), table_name="recon_differences")

    op.drop_table("recon_differences")
    op.drop_table("flow_versions")
    op.drop_index(op.f("ix_dead_letters_flow_state"), table_name="dead_letters")

    op.drop_table("dead_letters")
    op.drop_table("attempts")
    op.drop_index(op.f("ix_xref_entity_target_connection_target_id"), table_name="xref")

    op.drop_table("xref")
    op.drop_index(op.f("ix_recon_runs_flow_started_at"), table_name="recon_runs")

    op.drop_table("recon_runs")
    op.drop_index(op.f("ix_jobs_state_next_attempt_at"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_flow_source_id"), table_name="jobs")

    op.drop_table("jobs")
    op.drop_table("flows")
    op.drop_table("echo_hashes")
    op.drop_table("cursors")
    op.drop_table("audit_log")
