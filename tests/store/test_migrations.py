from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from erpbridge.spi.errors import ConfigError
from erpbridge.store import schema
from erpbridge.store.db import (
    create_store_engine,
    current_revision,
    downgrade,
    head_revision,
    open_store,
    upgrade,
)


def _diff(engine: sa.Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, schema.metadata))


def test_upgrade_from_empty_matches_schema_exactly(store_url: str) -> None:
    engine = create_store_engine(store_url)
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert _diff(engine) == []


def test_downgrade_one_step_then_upgrade_again(store_url: str) -> None:
    engine = open_store(store_url)
    downgrade(engine, "-1")
    assert current_revision(engine) not in (None, head_revision())
    upgrade(engine)
    assert _diff(engine) == []
    assert current_revision(engine) == head_revision()


def test_downgrade_to_base_empties_the_store_and_upgrade_restores_it(store_url: str) -> None:
    engine = open_store(store_url)
    downgrade(engine, "base")
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    assert _diff(engine) == []
    assert current_revision(engine) == head_revision()


def test_upgrade_is_idempotent(store_url: str) -> None:
    engine = open_store(store_url)
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_datetimes_come_back_as_aware_utc(store_url: str) -> None:
    engine = open_store(store_url)
    shanghai = timezone(timedelta(hours=8))
    written = datetime(2026, 3, 5, 10, 30, tzinfo=shanghai)
    with engine.begin() as connection:
        connection.execute(
            schema.cursors.insert().values(flow="f", cursor="{}", updated_at=written)
        )
        read = connection.execute(sa.select(schema.cursors.c.updated_at)).scalar_one()
    assert read == written and read.tzinfo is not None
    assert read.utcoffset() == UTC.utcoffset(None)


def test_naive_datetime_is_refused(store_url: str) -> None:
    engine = open_store(store_url)
    with pytest.raises(sa.exc.StatementError, match="naive datetime"), engine.begin() as connection:
        connection.execute(
            schema.cursors.insert().values(flow="f", cursor="{}", updated_at=datetime(2026, 1, 1))
        )


def test_job_dedup_key_is_unique(store_url: str) -> None:
    engine = open_store(store_url)
    now = datetime.now(UTC)
    row = dict(
        flow="f",
        source_id="001",
        source_version="v1",
        kind="upsert",
        trigger="poll",
        state="queued",
        partition=1,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    with engine.begin() as connection:
        connection.execute(schema.jobs.insert().values(**row))
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(schema.jobs.insert().values(**row))


def test_sqlite_store_runs_in_wal_mode(tmp_path: object) -> None:
    engine = open_store(f"sqlite:///{tmp_path}/s.db")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000


def test_unreachable_database_is_one_clear_line_without_password() -> None:
    engine = create_store_engine(
        "postgresql+psycopg://app:supersecret@127.0.0.1:1/nodb?connect_timeout=2"
    )
    with pytest.raises(ConfigError) as caught:
        upgrade(engine)
    message = str(caught.value)
    assert message.startswith("store unreachable at postgresql+psycopg://app:***@127.0.0.1:1/nodb")
    assert "supersecret" not in message and "\n" not in message


def test_unknown_driver_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no driver for"):
        create_store_engine("mssql+nosuchdriver://u:p@h/db")


def _large_json_columns(engine: sa.Engine, attribute: str) -> dict[str, str]:
    """table.column -> ``attribute`` (of pg_attribute) for the five large JSON columns."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                f"SELECT attrelid::regclass::text || '.' || attname, {attribute} "
                "FROM pg_attribute WHERE attrelid IN "
                "('jobs'::regclass, 'attempts'::regclass, 'dead_letters'::regclass) "
                "AND attname IN ('source_snapshot', 'mapped_payload', 'target_call')"
            )
        )
        return {str(name): str(value) for name, value in rows}


def _compression(engine: sa.Engine) -> dict[str, str]:
    """column -> its compression method on PostgreSQL ('' for the server's default)."""
    return _large_json_columns(engine, "attcompression::text")


def _json_types(engine: sa.Engine) -> dict[str, str]:
    """column -> its type on PostgreSQL (json or jsonb)."""
    return _large_json_columns(engine, "format_type(atttypid, atttypmod)")


def test_postgresql_compresses_the_large_json_columns_with_lz4(store_url: str) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("a PostgreSQL setting")
    engine = open_store(store_url)
    with engine.connect() as conn:
        has_lz4 = conn.execute(
            sa.text(
                "SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
                "WHERE name = 'default_toast_compression'"
            )
        ).scalar()
    expected = "l" if has_lz4 else ""  # a server built without lz4 keeps its default
    assert _compression(engine) == {
        "jobs.source_snapshot": expected,
        "jobs.mapped_payload": expected,
        "attempts.target_call": expected,
        "dead_letters.source_snapshot": expected,
        "dead_letters.mapped_payload": expected,
    }
    downgrade(engine, "0007")
    assert set(_compression(engine).values()) == {""}
    upgrade(engine)
    assert set(_compression(engine).values()) == {expected}


def test_postgresql_keeps_snapshots_payloads_and_calls_as_json_text(store_url: str) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("a PostgreSQL type")
    engine = open_store(store_url)
    assert set(_json_types(engine).values()) == {"json"}
    assert len(_json_types(engine)) == 5
    downgrade(engine, "0008")
    assert set(_json_types(engine).values()) == {"jsonb"}
    now = datetime.now(UTC)
    snapshot = {"fields": {"Name": '上海 "quoted"', "Lines": [{"Qty": 1.50}]}, "id": "A1"}
    with engine.begin() as conn:  # written as JSONB, before 0009
        conn.execute(
            sa.text(
                "INSERT INTO jobs (flow, source_id, source_version, kind, trigger, state, "
                "partition, attempts, next_attempt_at, source_snapshot, created_at, updated_at) "
                "VALUES ('f', 'A1', 'v1', 'upsert', 'poll', 'queued', 0, 0, :now, "
                "CAST(:snapshot AS jsonb), :now, :now)"
            ),
            {"now": now, "snapshot": json.dumps(snapshot)},
        )
    upgrade(engine)
    assert set(_json_types(engine).values()) == {"json"}
    with engine.connect() as conn:
        kept = conn.execute(sa.select(schema.jobs.c.source_snapshot)).scalar_one()
    assert kept == snapshot
    assert _diff(engine) == []
