"""echo_hashes per flow and field; xref_keys by record id

Echo hashes were kept per record, so two flows writing different fields of one record
overwrote each other's hash and each wrote once more than needed. Rows are now per
(record, flow), with a digest per field. Existing rows keep their whole-payload hash under
the flow '' (not known) and their field names with a null digest: the engine still
recognises the payload they describe, as before. Downgrading keeps the newest row of each
record (the whole-payload hash is the same in both forms).

xref_keys gets an index by record id: a deleted record's natural keys are forgotten
whatever their key field, without reading all of the entity's keys.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 18:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from erpbridge.store.types import JSONDoc

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_FLOW_COMMENT = "the flow that wrote; '' for rows from before migration 0005"
_FIELDS_COMMENT = "field name -> digest of the value written (null: only the whole hash is known)"

# The old field lists become objects with null digests ({"Name": null}), and back.
_NAMES_TO_OBJECT = {
    "postgresql": (
        "UPDATE echo_hashes SET fields = COALESCE((SELECT jsonb_object_agg(f, NULL) "
        "FROM jsonb_array_elements_text(fields) AS f), '{}'::jsonb) "
        "WHERE jsonb_typeof(fields) = 'array'"
    ),
    "sqlite": (
        "UPDATE echo_hashes SET fields = COALESCE((SELECT json_group_object(value, NULL) "
        "FROM json_each(echo_hashes.fields)), '{}') WHERE json_type(fields) = 'array'"
    ),
}
_OBJECT_TO_NAMES = {
    "postgresql": (
        "UPDATE echo_hashes SET fields = COALESCE((SELECT jsonb_agg(k ORDER BY k) "
        "FROM jsonb_object_keys(fields) AS k), '[]'::jsonb) "
        "WHERE jsonb_typeof(fields) = 'object'"
    ),
    "sqlite": (
        "UPDATE echo_hashes SET fields = COALESCE((SELECT json_group_array(key) FROM "
        "(SELECT key FROM json_each(echo_hashes.fields) ORDER BY key)), '[]') "
        "WHERE json_type(fields) = 'object'"
    ),
}
# Back to one row per record: the last one written wins (as it did before 0005).
_KEEP_NEWEST = (
    "DELETE FROM echo_hashes WHERE EXISTS (SELECT 1 FROM echo_hashes AS n "
    "WHERE n.connection = echo_hashes.connection AND n.object = echo_hashes.object "
    "AND n.record_id = echo_hashes.record_id AND (n.written_at > echo_hashes.written_at "
    "OR (n.written_at = echo_hashes.written_at AND n.flow > echo_hashes.flow)))"
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("echo_hashes") as batch:
        batch.add_column(
            sa.Column(
                "flow",
                sa.String(length=64),
                nullable=False,
                server_default="",
                comment=_FLOW_COMMENT,
            )
        )
        batch.drop_constraint("pk_echo_hashes", type_="primary")
        batch.create_primary_key("pk_echo_hashes", ["connection", "object", "record_id", "flow"])
        batch.alter_column(
            "hash",
            existing_type=sa.String(length=64),
            existing_nullable=False,
            comment="of the whole payload written",
        )
        batch.alter_column(
            "fields",
            existing_type=JSONDoc,
            existing_nullable=False,
            comment=_FIELDS_COMMENT,
            existing_comment="names of the fields hashed",
        )
    with op.batch_alter_table("echo_hashes") as batch:
        batch.alter_column(
            "flow",
            existing_type=sa.String(length=64),
            existing_nullable=False,
            server_default=None,
            existing_comment=_FLOW_COMMENT,
        )
    op.execute(_NAMES_TO_OBJECT[dialect])
    op.create_index(
        op.f("ix_xref_keys_entity_source_connection_source_id"),
        "xref_keys",
        ["entity", "source_connection", "source_id"],
        unique=False,
    )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.drop_index(op.f("ix_xref_keys_entity_source_connection_source_id"), table_name="xref_keys")
    op.execute(_KEEP_NEWEST)
    op.execute(_OBJECT_TO_NAMES[dialect])
    with op.batch_alter_table("echo_hashes") as batch:
        batch.drop_constraint("pk_echo_hashes", type_="primary")
        batch.create_primary_key("pk_echo_hashes", ["connection", "object", "record_id"])
        batch.drop_column("flow")
        batch.alter_column(
            "hash", existing_type=sa.String(length=64), existing_nullable=False, comment=None
        )
        batch.alter_column(
            "fields",
            existing_type=JSONDoc,
            existing_nullable=False,
            comment="names of the fields hashed",
            existing_comment=_FIELDS_COMMENT,
        )
