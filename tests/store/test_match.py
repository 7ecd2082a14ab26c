"""store/match.py: the same rows whether the database takes an IN list or an array."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from erpbridge.engine.enqueue import enqueue_changes
from erpbridge.spi import Change
from erpbridge.store import open_store
from erpbridge.store.match import one_of, unnest_values
from erpbridge.store.schema import jobs

NOW = datetime(2026, 11, 26, tzinfo=UTC)


def _store(store_url: str) -> sa.Engine:
    engine = open_store(store_url)
    changes = [Change(object="Order", record_id=f"R{n}", version="v1") for n in range(5)]
    with engine.begin() as conn:
        enqueue_changes(conn, "orders", changes, "webhook", NOW)
    return engine


def test_one_of_matches_the_listed_values_and_nothing_for_none(store_url: str) -> None:
    engine = _store(store_url)
    with engine.connect() as conn:

        def ids(values: list[str]) -> list[str]:
            query = sa.select(jobs.c.source_id).where(one_of(conn, jobs.c.source_id, values))
            return sorted(str(v) for v in conn.execute(query).scalars())

        assert ids(["R1", "R3", "nope"]) == ["R1", "R3"]
        assert ids([]) == []
        assert ids(["R'; DROP TABLE jobs; --"]) == []  # a value, never SQL
        assert ids([f"R{n}" for n in range(5)]) == [f"R{n}" for n in range(5)]


def test_unnest_values_gives_a_row_per_position(store_url: str) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's form only; the other databases take IN lists")
    engine = _store(store_url)
    w = unnest_values("w", id=jobs.c.source_id, v=jobs.c.source_version)
    hit = (
        sa.select(jobs.c.id)
        .where(jobs.c.source_id == w.c.id, jobs.c.source_version == w.c.v)
        .lateral("hit")
    )
    query = sa.select(w.c.id, w.c.v).select_from(w.join(hit, sa.true()))
    with engine.connect() as conn:
        rows = conn.execute(query, {"w_id": ["R1", "R2", "R9"], "w_v": ["v1", "v2", "v1"]})
        assert sorted(tuple(r) for r in rows) == [("R1", "v1")]
        empty = conn.execute(query, {"w_id": [], "w_v": []}).all()
    assert empty == []
