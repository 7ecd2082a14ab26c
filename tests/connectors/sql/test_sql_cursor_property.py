"""Property: keyset pages by (stamp, id) return every record once, in order, from any cursor."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import mysql

from erpbridge.connectors.sql import SqlConnector, SqlSettings
from erpbridge.spi.records import Cursor

T0 = dt.datetime(2026, 11, 2, 8, 0, 0)
STAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=3), "mysql", "mariadb")
ROOT = Path(__file__).resolve().parents[3]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    stamps=st.lists(st.integers(min_value=0, max_value=4), min_size=0, max_size=25),
    page_size=st.integers(min_value=1, max_value=6),
    start=st.integers(min_value=0, max_value=5),
)
def test_pages_return_every_record_once_in_stamp_then_id_order(
    db_url: str, db: sa.Engine, stamps: list[int], page_size: int, start: int
) -> None:
    md = sa.MetaData()
    table = sa.Table(
        "rec",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("changed", STAMP, nullable=False),
    )
    md.drop_all(db)
    md.create_all(db)
    if stamps:
        with db.begin() as conn:
            conn.execute(
                table.insert(),
                [{"id": i, "changed": T0 + dt.timedelta(seconds=s)} for i, s in enumerate(stamps)],
            )
    connector = SqlConnector(
        SqlSettings.model_validate({"url": db_url, "objects": {"rec": {"stamp_column": "changed"}}})
    )
    cursor = Cursor(T0.replace(tzinfo=dt.UTC) + dt.timedelta(seconds=start), "", dt.timedelta(0))

    async def read() -> list[tuple[int, str]]:
        out = []
        async for page in connector.read_changes("rec", cursor, page_size):
            out += [(int((r.stamp - cursor.stamp).total_seconds()), r.id) for r in page.records]  # type: ignore[operator]
        await connector.aclose()
        return out

    got = asyncio.run(read())
    expected = sorted((s - start, i) for i, s in enumerate(stamps) if s >= start)
    assert [(s, int(i)) for s, i in got] == expected


def test_ci_fails_loudly_when_mariadb_is_unreachable() -> None:
    env = {
        **os.environ,
        "CI": "true",
        "ERPBRIDGE_TEST_MARIADB_URL": "mysql+pymysql://root@127.0.0.1:1/",
    }
    test = "tests/connectors/sql/test_sql_connector.py::test_check_reports_dialect_and_objects[mariadb]"
    done = subprocess.run(  # noqa: S603  # our own interpreter and test id
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "CI=true requires MariaDB" in done.stdout
