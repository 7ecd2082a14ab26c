"""The store's tables, defined once (SQLAlchemy Core); migrations mirror them.

Outline in DESIGN.md §8. Every change here ships an Alembic migration in
``store/migrations/versions`` in the same commit; a test compares the migrated database
with this metadata on SQLite and PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa

from erpbridge.store.types import JSONDoc, JSONText, UTCDateTime

__all__ = [
    "attempts",
    "audit_log",
    "cursors",
    "dead_letters",
    "echo_hashes",
    "flow_versions",
    "flows",
    "jobs",
    "metadata",
    "recon_differences",
    "recon_runs",
    "runs",
    "xref",
    "xref_keys",
]

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# BigInteger ids that are still autoincrement on SQLite (which only auto-increments INTEGER).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


flows = sa.Table(
    "flows",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("current_version", sa.String(64), nullable=True),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

flow_versions = sa.Table(
    "flow_versions",
    metadata,
    sa.Column(
        "flow", sa.String(64), sa.ForeignKey("flows.name", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("version", sa.String(64), primary_key=True, comment="hash of the flow's spec"),
    sa.Column("spec", JSONDoc, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

# One change for one flow. Dedup key: (flow, source_id, source_version).
jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("flow", sa.String(64), nullable=False),
    sa.Column("source_id", sa.String(255), nullable=False),
    sa.Column(
        "source_version", sa.String(255), nullable=False, comment="'' when the trigger gave none"
    ),
    sa.Column("source_stamp", UTCDateTime, nullable=True),
    sa.Column("kind", sa.String(16), nullable=False, comment="upsert | delete"),
    sa.Column(
        "trigger",
        sa.String(16),
        nullable=False,
        comment="poll | webhook | schedule | manual | replay",
    ),
    sa.Column(
        "state",
        sa.String(16),
        nullable=False,
        comment="queued | running | done | dead | superseded | parked",
    ),
    sa.Column(
        "partition",
        sa.Integer,
        nullable=False,
        comment="hash of the record key; keeps order per record",
    ),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("waiting_since", UTCDateTime, nullable=True, comment="parked on a dependency since"),
    sa.Column("lease_owner", sa.String(128), nullable=True),
    sa.Column("lease_expires_at", UTCDateTime, nullable=True),
    sa.Column("source_snapshot", JSONText, nullable=True),
    sa.Column("mapped_payload", JSONText, nullable=True),
    sa.Column("mapping_version", sa.String(64), nullable=True),
    sa.Column(
        "source_digest",
        sa.String(32),
        nullable=True,
        comment="digest of the fields the flow reads, as taken in (engine/unchanged.py)",
    ),
    sa.Column("target_id", sa.String(255), nullable=True),
    sa.Column("outcome", sa.String(16), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column(
        "held_at",
        UTCDateTime,
        nullable=True,
        comment="held by the flow's hold: check since (first version held)",
    ),
    sa.Column("hold_reason", sa.Text, nullable=True),
    sa.Column(
        "released_by",
        sa.String(128),
        nullable=True,
        comment="the person who released the held job (the check is skipped)",
    ),
    sa.UniqueConstraint("flow", "source_id", "source_version"),
    sa.Index(None, "state", "id"),
)

attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("job_id", BigId, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("worker", sa.String(128), nullable=True),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Column(
        "outcome",
        sa.String(16),
        nullable=True,
        comment="created | updated | unchanged | failed ...",
    ),
    sa.Column("error_class", sa.String(32), nullable=True),
    sa.Column("error_message", sa.Text, nullable=True),
    sa.Column("target_call", JSONText, nullable=True, comment="what was sent and answered"),
    sa.UniqueConstraint("job_id", "number"),
)

dead_letters = sa.Table(
    "dead_letters",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "job_id", BigId, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False, unique=True
    ),
    sa.Column("flow", sa.String(64), nullable=False),
    sa.Column("source_id", sa.String(255), nullable=False),
    sa.Column("error_class", sa.String(32), nullable=False),
    sa.Column("error_message", sa.Text, nullable=False),
    sa.Column("error_raw", sa.Text, nullable=True, comment="the target system's own text"),
    sa.Column("hint", sa.Text, nullable=True),
    sa.Column("source_snapshot", JSONText, nullable=True),
    sa.Column("mapped_payload", JSONText, nullable=True),
    sa.Column("payload_edited", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("state", sa.String(16), nullable=False, comment="open | replayed | discarded"),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("resolved_at", UTCDateTime, nullable=True),
    sa.Column("resolved_by", sa.String(128), nullable=True),
    sa.Index(None, "flow", "state"),
)

# "This CRM id is that ERP id", per entity and pair of connections.
xref = sa.Table(
    "xref",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("source_connection", sa.String(64), nullable=False),
    sa.Column("source_id", sa.String(255), nullable=False),
    sa.Column("target_connection", sa.String(64), nullable=False),
    sa.Column("target_id", sa.String(255), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("entity", "source_connection", "source_id", "target_connection"),
    sa.Index(None, "entity", "target_connection", "target_id"),
)

# "The source record whose key field F holds V is record R": for lookups by natural key
# (xref.customer(source.CustomerCode, by="Code")). One row per (record, key field), so a
# key that changes replaces its old value; filled from find() answers and from the records
# the entity's own flows read.
xref_keys = sa.Table(
    "xref_keys",
    metadata,
    sa.Column("entity", sa.String(64), primary_key=True),
    sa.Column("source_connection", sa.String(64), primary_key=True),
    sa.Column("key_field", sa.String(255), primary_key=True),
    sa.Column("source_id", sa.String(255), primary_key=True),
    sa.Column("key_value", sa.String(255), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index(None, "entity", "source_connection", "key_field", "key_value"),
    # A deleted record's keys are forgotten by its id, whatever the key field.
    sa.Index(None, "entity", "source_connection", "source_id"),
)

cursors = sa.Table(
    "cursors",
    metadata,
    sa.Column("flow", sa.String(64), primary_key=True),
    sa.Column("cursor", sa.Text, nullable=False, comment="Cursor.to_json()"),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# What each flow last wrote to a record: a payload the record already holds is an echo.
# One row per (record, flow), so flows writing different fields of one record (a customer
# flow and a credit flow onto one CRM account) do not overwrite each other's hashes.
echo_hashes = sa.Table(
    "echo_hashes",
    metadata,
    sa.Column("connection", sa.String(64), primary_key=True),
    sa.Column("object", sa.String(128), primary_key=True),
    sa.Column("record_id", sa.String(255), primary_key=True),
    sa.Column(
        "flow",
        sa.String(64),
        primary_key=True,
        comment="the flow that wrote; '' for rows from before migration 0005",
    ),
    sa.Column("hash", sa.String(64), nullable=False, comment="of the whole payload written"),
    sa.Column(
        "fields",
        JSONDoc,
        nullable=False,
        comment="field name -> digest of the value written (null: only the whole hash is known)",
    ),
    sa.Column(
        "version", sa.String(255), nullable=True, comment="the record's version after the write"
    ),
    sa.Column("written_at", UTCDateTime, nullable=False),
)

# One row per trigger run of a flow (poll, schedule, manual, webhook batch): what it did.
runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("flow", sa.String(64), nullable=False),
    sa.Column("trigger", sa.String(16), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Column("read", sa.Integer, nullable=False, server_default="0"),
    sa.Column("queued", sa.Integer, nullable=False, server_default="0"),
    sa.Column("duplicates", sa.Integer, nullable=False, server_default="0"),
    sa.Column(
        "filtered",
        sa.Integer,
        nullable=False,
        server_default="0",
        comment="changes the flow's when: skipped as they were taken in",
    ),
    sa.Column("error", sa.Text, nullable=True),
    sa.Index(None, "flow", "started_at"),
)

recon_runs = sa.Table(
    "recon_runs",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("flow", sa.String(64), nullable=False),
    sa.Column(
        "state", sa.String(16), nullable=False, comment="running | done | failed | cancelled"
    ),
    sa.Column("params", JSONDoc, nullable=False),
    sa.Column("totals", JSONDoc, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Index(None, "flow", "started_at"),
)

recon_differences = sa.Table(
    "recon_differences",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("run_id", BigId, sa.ForeignKey("recon_runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column(
        "kind",
        sa.String(24),
        nullable=False,
        comment="missing_in_target | missing_in_source | field | duplicate",
    ),
    sa.Column("record_key", sa.String(255), nullable=False),
    sa.Column("field", sa.String(128), nullable=True),
    sa.Column("source_value", JSONDoc, nullable=True),
    sa.Column("target_value", JSONDoc, nullable=True),
    sa.Column("rule", sa.Text, nullable=True),
    sa.Column("accepted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("repair_job_id", BigId, nullable=True),
    sa.Index(None, "run_id", "kind"),
)

# Append-only, hash-chained: hash = sha256(prev_hash + canonical entry).
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("subject", sa.String(255), nullable=True),
    sa.Column("details", JSONDoc, nullable=True),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False, unique=True),
)
