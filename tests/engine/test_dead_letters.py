from __future__ import annotations

import sqlalchemy as sa

from erpbridge.engine.dead_letters import (
    DeadLetterFilter,
    discard_dead_letters,
    edit_dead_letter,
    list_dead_letters,
    replay_dead_letters,
)
from erpbridge.engine.intake import poll_flow
from erpbridge.store.audit import verify_audit_log
from erpbridge.store.schema import audit_log
from tests.engine.conftest import Harness


async def _one_dead(harness: Harness) -> int:
    harness.crm.put("Account", "A1", {"AccountNumber": "C1", "Name": "INVALID"})
    await poll_flow(harness.store, harness.runtime, "customers", harness.clock)
    await harness.drain()
    with harness.store.connect() as conn:
        [row] = list_dead_letters(conn, DeadLetterFilter())
    return int(row["id"])


async def test_edited_payload_is_written_as_edited_on_replay(harness: Harness) -> None:
    dead = await _one_dead(harness)
    with harness.store.begin() as conn:
        edit_dead_letter(
            conn,
            dead,
            target="payload",
            sets={"Name": "华北机械"},
            actor="ops",
            now=harness.clock.now(),
        )
        [plan] = replay_dead_letters(
            conn,
            DeadLetterFilter(ids=[dead]),
            ["customers"],
            dry_run=False,
            actor="ops",
            now=harness.clock.now(),
        )
    assert plan.action == "queued"
    await harness.drain()
    [customer] = harness.erp.all("Customer")
    assert customer.fields == {"Code": "C1", "Name": "华北机械"}
    assert harness.rows(f"select state, resolved_by from dead_letters where id = {dead}") == [
        ("replayed", "ops")
    ]


async def test_edited_snapshot_is_mapped_again_on_replay(harness: Harness) -> None:
    dead = await _one_dead(harness)
    with harness.store.begin() as conn:
        edit_dead_letter(
            conn,
            dead,
            target="snapshot",
            sets={"fields.Name": "改好了"},
            actor="ops",
            now=harness.clock.now(),
        )
        replay_dead_letters(
            conn,
            DeadLetterFilter(ids=[dead]),
            ["customers"],
            dry_run=False,
            actor="ops",
            now=harness.clock.now(),
        )
    await harness.drain()
    assert [c.fields["Name"] for c in harness.erp.all("Customer")] == ["改好了"]


async def test_dry_run_replay_changes_nothing(harness: Harness) -> None:
    dead = await _one_dead(harness)
    with harness.store.begin() as conn:
        [plan] = replay_dead_letters(
            conn,
            DeadLetterFilter(flow="customers"),
            ["customers"],
            dry_run=True,
            actor="ops",
            now=harness.clock.now(),
        )
    assert plan.action == "would queue"
    assert harness.rows("select count(*) from jobs") == [(1,)]
    assert harness.rows(f"select state from dead_letters where id = {dead}") == [("open",)]


async def test_replay_of_a_deleted_flow_is_refused_clearly(harness: Harness) -> None:
    dead = await _one_dead(harness)
    with harness.store.begin() as conn:
        [plan] = replay_dead_letters(
            conn,
            DeadLetterFilter(ids=[dead]),
            ["orders"],
            dry_run=False,
            actor="ops",
            now=harness.clock.now(),
        )
    assert plan.action == "refused: its flow is no longer in the project"


async def test_discard_and_every_action_is_in_a_verifiable_audit_chain(harness: Harness) -> None:
    dead = await _one_dead(harness)
    with harness.store.begin() as conn:
        edit_dead_letter(
            conn, dead, target="payload", sets={"Name": "x"}, actor="ops", now=harness.clock.now()
        )
        assert (
            discard_dead_letters(
                conn,
                DeadLetterFilter(ids=[dead]),
                actor="ops",
                now=harness.clock.now(),
                reason="test data",
            )
            == 1
        )
    with harness.store.connect() as conn:
        assert verify_audit_log(conn) == (True, 2, "ok")
    with harness.store.begin() as conn:
        conn.execute(
            audit_log.update()
            .where(audit_log.c.action == "dead_letter.edit_payload")
            .values(actor="mallory")
        )
    with harness.store.connect() as conn:
        ok, _, reason = verify_audit_log(conn)
    assert not ok and "content does not match its hash" in reason


async def test_editing_a_missing_path_fails_without_writing(harness: Harness) -> None:
    import pytest

    from erpbridge.spi import ConfigError

    dead = await _one_dead(harness)
    with pytest.raises(ConfigError, match="cannot set"), harness.store.begin() as conn:
        edit_dead_letter(
            conn, dead, target="payload", sets={"Name.x.0": 1}, actor="ops", now=harness.clock.now()
        )
    with harness.store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar() == 0
