"""``erpbridge jobs held | release | reject`` on a store with held jobs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from erpbridge.cli import _common
from erpbridge.cli.main import app
from erpbridge.engine.enqueue import partition_of
from erpbridge.store import open_store
from erpbridge.store.schema import attempts, audit_log, jobs

runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(_common.console, "width", 200)
    monkeypatch.delenv("ERPBRIDGE_DB_URL", raising=False)
    (tmp_path / "erpbridge.yaml").write_text("name: held\n", encoding="utf-8")
    store = open_store(f"sqlite:///{tmp_path / 'erpbridge.db'}")
    now = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    with store.begin() as conn:
        for i, state in enumerate(("held", "held", "done"), 1):
            conn.execute(
                jobs.insert().values(
                    flow="orders-to-sap", source_id=f"801{i}", source_version="v1",
                    kind="upsert", trigger="poll", state=state,
                    partition=partition_of("orders-to-sap", f"801{i}"), attempts=0,
                    next_attempt_at=now, created_at=now, updated_at=now,
                    held_at=now if state == "held" else None,
                    hold_reason="over credit: order 3841.50 CNY, available 1000.00 CNY",
                )
            )  # fmt: skip
    store.dispose()
    return tmp_path


def _rows(project: Path, query: sa.Select[tuple[object, ...]]) -> list[tuple[object, ...]]:
    store = open_store(f"sqlite:///{project / 'erpbridge.db'}")
    try:
        with store.connect() as conn:
            return [tuple(r) for r in conn.execute(query)]
    finally:
        store.dispose()


def test_jobs_held_lists_reason_and_jobs_says_how_many(project: Path) -> None:
    listed = runner.invoke(app, ["jobs", "held", "-p", str(project), "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [r["source_id"] for r in rows] == ["8011", "8012"]
    assert rows[0]["hold_reason"] == "over credit: order 3841.50 CNY, available 1000.00 CNY"
    summary = runner.invoke(app, ["jobs", "-p", str(project)])
    assert summary.exit_code == 0, summary.output
    assert "2 job(s) held for a person: erpbridge jobs held" in summary.output


def test_release_and_reject_change_state_and_are_audited(project: Path) -> None:
    released = runner.invoke(app, ["jobs", "release", "1", "-p", str(project), "--note", "CFO"])
    assert released.exit_code == 0, released.output
    assert "job 1 (orders-to-sap 8011): released" in released.output
    rejected = runner.invoke(app, ["jobs", "reject", "2", "-p", str(project)])
    assert rejected.exit_code == 0, rejected.output
    states = _rows(project, sa.select(jobs.c.id, jobs.c.state, jobs.c.outcome, jobs.c.released_by))
    assert states[0][1:3] == ("queued", None) and str(states[0][3]).startswith("cli:")
    assert states[1][1:3] == ("done", "rejected")
    actions = _rows(project, sa.select(audit_log.c.action, audit_log.c.subject))
    assert actions == [("job.release", "1"), ("job.reject", "2")]
    verified = runner.invoke(app, ["audit", "verify", "-p", str(project)])
    assert verified.exit_code == 0 and "ok" in verified.output


def test_release_of_a_job_not_held_is_refused_with_exit_1(project: Path) -> None:
    result = runner.invoke(app, ["jobs", "release", "3", "99", "-p", str(project)])
    assert result.exit_code == 1
    assert "job 3 (orders-to-sap 8013): refused: it is done" in result.output
    assert "job 99 (?): refused: no such job" in result.output
    assert _rows(project, sa.select(audit_log.c.id)) == []


def test_jobs_shows_why_a_job_was_skipped(project: Path) -> None:
    reason = "stock › Product__c: xref.product('TG0210') has no target: skipped (missing=\"skip\")"
    store = open_store(f"sqlite:///{project / 'erpbridge.db'}")
    now = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    with store.begin() as conn:
        conn.execute(jobs.update().where(jobs.c.source_id == "8013").values(outcome="filtered"))
        [job_id] = conn.execute(sa.select(jobs.c.id).where(jobs.c.source_id == "8013")).scalars()
        for number, message in ((1, "an older attempt"), (2, reason)):
            conn.execute(
                attempts.insert().values(
                    job_id=job_id, number=number, worker="w1", started_at=now,
                    finished_at=now, outcome="filtered", error_class="xref",
                    error_message=message,
                )
            )  # fmt: skip
    store.dispose()

    listed = runner.invoke(app, ["jobs", "-p", str(project), "--state", "done", "--json"])

    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.stdout)
    assert (row["outcome"], row["reason"]) == ("filtered", reason)
    shown = runner.invoke(app, ["jobs", "-p", str(project), "--state", "done"])
    assert "has no target: skipped" in shown.output
