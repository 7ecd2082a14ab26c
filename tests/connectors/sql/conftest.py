"""Real databases for the SQL connector: MariaDB and PostgreSQL, a fresh one per test.

MariaDB runs at 127.0.0.1:3306 as root without a password (override with
ERPBRIDGE_TEST_MARIADB_URL); each test gets its own database with a random name, dropped
at the end. PostgreSQL gets a schema of its own in the session's test database (see
tests/conftest.py). With CI=true an unreachable MariaDB fails loudly instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.conftest import IN_CI

MARIADB_ADMIN_URL = os.environ.get(
    "ERPBRIDGE_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/"
)
DATABASES = ["mariadb", "postgresql"]


@pytest.fixture(scope="session")
def mariadb_admin() -> Iterator[sa.Engine]:
    """An engine on the MariaDB server (no database selected)."""
    engine = sa.create_engine(
        MARIADB_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        engine.dispose()
        where = make_url(MARIADB_ADMIN_URL).render_as_string(hide_password=True)
        message = f"MariaDB not reachable at {where}: {exc.orig}"
        if IN_CI:
            pytest.fail(f"CI=true requires MariaDB; {message}", pytrace=False)
        pytest.skip(message)
    yield engine
    engine.dispose()


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A URL of an empty database: a new MariaDB database, or a new PostgreSQL schema."""
    name = f"erpbridge_sql_{uuid.uuid4().hex[:12]}"
    if request.param == "mariadb":
        admin: sa.Engine = request.getfixturevalue("mariadb_admin")
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
        try:
            yield (
                make_url(MARIADB_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
            )
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        return
    base = request.getfixturevalue("pg_database_url")
    engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={name}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        engine.dispose()


@pytest.fixture
def db(db_url: str) -> Iterator[sa.Engine]:
    """An engine on the test database (for arranging and checking, outside the connector)."""
    engine = sa.create_engine(db_url)
    yield engine
    engine.dispose()
