"""The store: tables (SQLAlchemy Core), Alembic migrations, engine on SQLite or PostgreSQL."""

from erpbridge.store.db import (
    create_store_engine,
    current_revision,
    downgrade,
    head_revision,
    open_store,
    redact_url,
    upgrade,
)

__all__ = [
    "create_store_engine",
    "current_revision",
    "downgrade",
    "head_revision",
    "open_store",
    "redact_url",
    "upgrade",
]
