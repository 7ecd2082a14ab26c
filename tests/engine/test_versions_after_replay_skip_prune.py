"""Versions the source gives back, and the engine's own (replays, skips), across a prune.

Stock without change stamps returning to an earlier digest after an xref skip; a poll
after the replay of a stamp-less record; a prune after a replay; a replay after the
mapping was fixed to read a field the dead letter's snapshot was not read with.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from erpbridge.config import load_project_text
from erpbridge.engine.dead_letters import DeadLetterFilter, replay_dead_letters
from erpbridge.engine.intake import intake_changes, poll_flow
from erpbridge.engine.jobs import Trigger
from erpbridge.engine.plans import build_plans
from erpbridge.engine.retention import prune_jobs
from erpbridge.engine.runtime import Runtime
from erpbridge.engine.worker import Worker
from erpbridge.spi import Change, ConnectorRegistry, Record
from tests.engine.conftest import PROJECT, Harness
from tests.engine.memory import memory_spec


def _snap(record_id: str, version: str) -> Change:
    return Change.of(Record("Account", record_id, {"Qty": version}, version, None))


def _set(h: Harness, sql: str) -> None:
    with h.store.begin() as conn:
        conn.execute(sa.text(sql))


def _skipped(h: Harness, job_id: int) -> None:
    _set(h, f"update jobs set state='done', outcome='filtered' where id={job_id}")
    _set(
        h,
        "insert into attempts (job_id, number, worker, started_at, finished_at, outcome,"
        " error_class, error_message) select id, 1, 'w', created_at, created_at, 'filtered',"
        f" 'xref', 'skipped' from jobs where id={job_id}",
    )


def test_a_skipped_returned_version_is_mapped_again_by_a_schedule(harness: Harness) -> None:
    h = harness
    # stock A queued, B arrives before A ran: A superseded
    intake_changes(h.store, ["customers"], [_snap("S1", "sha:A")], Trigger.POLL, h.clock)
    intake_changes(h.store, ["customers"], [_snap("S1", "sha:B")], Trigger.POLL, h.clock)
    assert h.rows("select id, state from jobs order by id") == [(1, "superseded"), (2, "queued")]
    _skipped(h, 2)  # B skipped by xref (material not in the CRM yet)
    intake_changes(h.store, ["customers"], [_snap("S1", "sha:A")], Trigger.POLL, h.clock)
    _skipped(h, 3)  # A~after:2 skipped too
    assert h.rows("select source_version from jobs where id=3") == [("sha:A~after:2",)]
    # the pair now exists; a schedule / manual sync / --force reads the record (still A)
    for trigger in (Trigger.SCHEDULE, Trigger.MANUAL, Trigger.RESYNC):
        r = intake_changes(h.store, ["customers"], [_snap("S1", "sha:A")], trigger, h.clock)
        assert r.queued == 1, (trigger, h.rows("select id, source_version, state from jobs"))
        [(newest,)] = h.rows("select max(id) from jobs")
        _skipped(h, int(str(newest)))  # the pair was still missing: skipped once more


def test_a_poll_after_a_replay_of_a_stampless_record_queues_nothing(harness: Harness) -> None:
    h = harness
    intake_changes(h.store, ["customers"], [_snap("S1", "sha:A")], Trigger.POLL, h.clock)
    _set(h, "update jobs set state='dead' where id=1")  # the target refused A: dead letter
    # a person edits the payload and replays: replay_dead_letters' job (version A#replay-…)
    _set(
        h,
        "insert into jobs (flow, source_id, source_version, kind, trigger, state, partition,"
        " attempts, next_attempt_at, created_at, updated_at, mapped_payload)"
        " select flow, source_id, 'sha:A#replay-1-1767225600', kind, 'replay', 'queued', partition,"
        ' 0, next_attempt_at, created_at, created_at, \'{"Name": "fixed"}\' from jobs where id=1',
    )
    # the next poll reads the stock table whole: S1 unchanged, still A
    r = intake_changes(h.store, ["customers"], [_snap("S1", "sha:A")], Trigger.POLL, h.clock)
    assert (r.queued, r.duplicates) == (0, 1), h.rows(
        "select id, source_version, trigger, state from jobs order by id"
    )


def test_a_prune_does_not_bring_back_a_replayed_version(harness: Harness) -> None:
    h = harness
    intake_changes(h.store, ["customers"], [_stamped()], Trigger.POLL, h.clock)
    _set(h, "update jobs set state='dead' where id=1")  # the target refused A
    _set(
        h,
        "insert into dead_letters (job_id, flow, source_id, error_class, error_message, state,"
        " created_at, resolved_at, resolved_by, payload_edited)"
        " select id, flow, source_id, 'rejected', 'Name too long', 'replayed', created_at,"
        " created_at, 'ops', true from jobs where id=1",
    )
    # the person's edited payload, replayed and written (replay_dead_letters' job)
    _set(
        h,
        "insert into jobs (flow, source_id, source_version, source_stamp, kind, trigger, state,"
        " outcome, partition, attempts, next_attempt_at, created_at, updated_at, mapped_payload)"
        " select flow, source_id, 'v1#replay-1-1767225600', source_stamp, kind, 'replay', 'done',"
        " 'updated', partition, 1, next_attempt_at, created_at, created_at, '{\"Name\": \"fixed\"}'"
        " from jobs where id=1",
    )
    before = intake_changes(h.store, ["customers"], [_stamped()], Trigger.SCHEDULE, h.clock)
    h.clock.advance(31 * 86400)
    prune_jobs(h.store, older_than=timedelta(days=30), now=h.clock.now())
    after = intake_changes(h.store, ["customers"], [_stamped()], Trigger.SCHEDULE, h.clock)
    assert (before.queued, after.queued) == (0, 0), h.rows(
        "select id, source_version, trigger, state from jobs order by id"
    )


def _stamped() -> Change:
    return Change(
        object="Account", record_id="A1", version="v1", stamp=datetime(2026, 1, 1, tzinfo=UTC)
    )


async def test_fix_the_mapping_then_replay_maps_the_fields_the_fixed_mapping_reads(
    harness: Harness,
) -> None:

    h = harness
    h.crm.put("Account", "A1", {"AccountNumber": "C1", "Name": "INVALID", "LegalName": "华北机械"})
    await poll_flow(h.store, h.runtime, "customers", h.clock)
    await h.drain()
    assert h.rows("select count(*) from dead_letters where state = 'open'") == [(1,)]
    # "fix the record or the mapping, then replay": the mapping now takes the legal name
    registry = ConnectorRegistry(builtin={}, use_entry_points=False)
    registry.register(memory_spec())
    text = PROJECT.replace(
        "      Name: source.Name\n    retry", "      Name: source.LegalName\n    retry", 1
    )
    assert text != PROJECT
    project = load_project_text(text, path=h.project.path, registry=registry, environ={})
    runtime = Runtime(
        project,
        registry,
        h.clock,
        connectors={n: h.runtime.connector(n) for n in project.spec.connections},
    )
    worker = Worker(
        h.store, runtime, build_plans(project), clock=h.clock, worker_id="w2", rng=random.Random(7)
    )
    with h.store.begin() as conn:
        replay_dead_letters(
            conn, DeadLetterFilter(), ["customers"], dry_run=False, actor="ops", now=h.clock.now()
        )
    while await worker.run_once():
        pass
    assert [c.fields for c in h.erp.all("Customer")] == [{"Code": "C1", "Name": "华北机械"}]
