"""Shared fixtures: a store on SQLite and on PostgreSQL (required in CI), fresh per test.

Every test that takes ``store_url`` runs once per backend. PostgreSQL runs at
127.0.0.1:5432 (override with ERPBRIDGE_TEST_PG_URL); each test session creates its own
database with a random name and drops it at the end, and each test gets its own schema.
With CI=true an unreachable PostgreSQL fails the run loudly instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

PG_ADMIN_URL = os.environ.get(
    "ERPBRIDGE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BACKENDS = [
    b.strip()
    for b in os.environ.get("ERPBRIDGE_TEST_DB", "sqlite,postgresql").split(",")
    if b.strip()
]


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A new PostgreSQL database for this test session, dropped afterwards."""
    admin = sa.create_engine(
        PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )
    name = f"erpbridge_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        message = (
            f"PostgreSQL not reachable at {make_url(PG_ADMIN_URL).render_as_string()}: {exc.orig}"
        )
        if IN_CI:
            pytest.fail(f"CI=true requires PostgreSQL; {message}", pytrace=False)
        pytest.skip(message)
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty store URL: a SQLite file, or a fresh schema in the session's PG database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    base = request.getfixturevalue("pg_database_url")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """CLI tests configure structlog for the process (level, stream); undo it after each."""
    yield
    import structlog

    structlog.reset_defaults()
