"""Alembic environment: runs on the engine erpbridge hands in (no alembic.ini needed)."""

from __future__ import annotations

from alembic import context

from erpbridge.store.schema import metadata

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite needs batch ALTERs
        compare_type=True,
    )
    context.run_migrations()
