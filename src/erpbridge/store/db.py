"""Open the store: an SQLAlchemy engine on SQLite (default) or PostgreSQL, migrated by Alembic.

SQLite runs in WAL mode with a busy timeout and foreign keys on; ``synchronous=FULL`` so a
committed job survives a power cut, not just a crash (DESIGN.md §3.1: nothing is lost).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from erpbridge.spi.errors import ConfigError
from erpbridge.store import json_codec

__all__ = [
    "MIGRATIONS",
    "create_store_engine",
    "current_revision",
    "downgrade",
    "head_revision",
    "open_store",
    "redact_url",
    "upgrade",
]

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***``, safe for logs and errors."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def create_store_engine(url: str) -> Engine:
    """An engine for ``url``; for SQLite the folder is created and pragmas set on connect.

    Raises:
        ConfigError: the URL cannot be parsed or names a driver that is not installed.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"store URL is not a database URL: {redact_url(url)}") from exc
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3, from the pg extra
    try:
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(
                parsed,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                json_serializer=json_codec.dumps,
                json_deserializer=json_codec.loads,
            )
            sa.event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        return sa.create_engine(
            parsed,
            pool_pre_ping=True,
            connect_args=_connect_args(parsed),
            json_serializer=json_codec.dumps,
            json_deserializer=json_codec.loads,
        )
    except (NoSuchModuleError, ImportError) as exc:
        raise ConfigError(
            f"no driver for {parsed.drivername} (install erpbridge[pg] for PostgreSQL): "
            f"{redact_url(url)}"
        ) from exc


def _connect_args(url: sa.URL) -> dict[str, Any]:
    if url.get_backend_name() == "postgresql":
        return {"connect_timeout": 10}
    return {}


def _alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def _reachable(engine: Engine) -> None:
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "connection failed"
        where = engine.url.render_as_string(hide_password=True)
        raise ConfigError(f"store unreachable at {where}: {reason}") from exc


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the store to ``revision`` (default: the newest).

    Raises:
        ConfigError: the database cannot be reached (one line, password hidden).
    """
    _reachable(engine)
    command.upgrade(_alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the store down to ``revision`` (``-1`` for one step, ``base`` for empty)."""
    _reachable(engine)
    command.downgrade(_alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    """The store's revision, or None for an empty database."""
    _reachable(engine)
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The newest revision this version of erpbridge ships."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None  # noqa: S101 - at least one migration ships with the package
    return head


def open_store(url: str, *, migrate: bool = True) -> Engine:
    """An engine on ``url``, upgraded to the newest schema unless ``migrate`` is False."""
    engine = create_store_engine(url)
    if migrate:
        upgrade(engine)
    return engine
