"""``erpbridge jobs prune [--older-than] [--dry-run]`` on a store with old finished jobs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
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


def _project(folder: Path, yaml: str) -> Path:
    (folder / "erpbridge.yaml").write_text(yaml, encoding="utf-8")
    store = open_store(f"sqlite:///{folder / 'erpbridge.db'}")
    now = datetime.now(UTC)
    with store.begin() as conn:
        # record 8011: three versions done 40, 20 and 10 days ago; 8012: one done 40 days ago
        for record, version, days in (
            ("8011", "v1", 40),
            ("8011", "v2", 20),
            ("8011", "v3", 10),
            ("8012", "v1", 40),
        ):
            at = now - timedelta(days=days)
            job_id = conn.execute(
                jobs.insert()
                .values(
                    flow="orders-to-sap",
                    source_id=record,
                    source_version=version,
                    source_stamp=at,
                    kind="upsert",
                    trigger="poll",
                    state="done",
                    partition=partition_of("orders-to-sap", record),
                    attempts=1,
                    next_attempt_at=at,
                    created_at=at,
                    updated_at=at,
                )
                .returning(jobs.c.id)
            ).scalar_one()
            conn.execute(
                attempts.insert().values(job_id=job_id, number=1, started_at=at, outcome="created")
            )
    store.dispose()  # fmt: skip
    return folder


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(_common.console, "width", 200)
    monkeypatch.delenv("ERPBRIDGE_DB_URL", raising=False)
    return _project(tmp_path, "name: pruned\n")


def _versions(project: Path) -> list[tuple[str, str]]:
    store = open_store(f"sqlite:///{project / 'erpbridge.db'}")
    try:
        with store.connect() as conn:
            return [
                (str(r[0]), str(r[1]))
                for r in conn.execute(
                    sa.select(jobs.c.source_id, jobs.c.source_version).order_by(jobs.c.id)
                )
            ]
    finally:
        store.dispose()


def test_dry_run_says_what_would_go_and_deletes_nothing(project: Path) -> None:
    result = runner.invoke(app, ["jobs", "prune", "-p", str(project), "--older-than", "15d",
                                 "--dry-run"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "would prune 2 job(s), 2 attempt(s) and 0 dead letter(s) that finished before" in (
        result.output
    )
    assert "(dry run: nothing deleted)" in result.output
    assert len(_versions(project)) == 4


def test_prune_by_the_project_retention_prints_counts_and_is_audited(project: Path) -> None:
    result = runner.invoke(app, ["jobs", "prune", "-p", str(project)])  # default: 30 days
    assert result.exit_code == 0, result.output
    assert "pruned 1 job(s), 1 attempt(s) and 0 dead letter(s)" in result.output
    # 8011 v1 went; 8012's only job is its newest and stays
    assert _versions(project) == [("8011", "v2"), ("8011", "v3"), ("8012", "v1")]
    store = open_store(f"sqlite:///{project / 'erpbridge.db'}")
    with store.connect() as conn:
        entry = conn.execute(sa.select(audit_log.c.action, audit_log.c.actor)).one()
    store.dispose()
    assert entry[0] == "jobs.prune" and str(entry[1]).startswith("cli:")
    verified = runner.invoke(app, ["audit", "verify", "-p", str(project)])
    assert verified.exit_code == 0 and "ok" in verified.output


def test_json_output(project: Path) -> None:
    result = runner.invoke(app, ["jobs", "prune", "-p", str(project), "--older-than", "15d",
                                 "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert (body["jobs"], body["attempts"], body["dead_letters"], body["dry_run"]) == (
        2, 2, 0, False,
    )  # fmt: skip
    assert datetime.fromisoformat(body["cutoff"]).tzinfo is not None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30", "--older-than '30': give a unit, e.g. 30d for days"),
        ("thirty", "--older-than 'thirty': not an age; use a number with a unit: 30d, 12h"),
        ("0d", "--older-than '0d': the age must be more than 0"),
    ],
)
def test_a_bad_older_than_is_one_clear_line(project: Path, value: str, expected: str) -> None:
    result = runner.invoke(app, ["jobs", "prune", "-p", str(project), "--older-than", value])
    assert result.exit_code == 1
    assert expected in result.output
    assert "Traceback" not in result.output
    assert len(_versions(project)) == 4


def test_retention_off_needs_an_explicit_age(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ERPBRIDGE_DB_URL", raising=False)
    project = _project(tmp_path, "store: {retention: {jobs_days: 0}}\n")
    result = runner.invoke(app, ["jobs", "prune", "-p", str(project)])
    assert result.exit_code == 1
    assert "store.retention.jobs_days is 0 or null (keep forever): give --older-than" in (
        result.output
    )
    assert len(_versions(project)) == 4
    forced = runner.invoke(app, ["jobs", "prune", "-p", str(project), "--older-than", "30d"])
    assert forced.exit_code == 0 and "pruned 1 job(s)" in forced.output


def test_a_bad_retention_setting_is_refused_at_its_yaml_position(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ERPBRIDGE_DB_URL", raising=False)
    project = _project(tmp_path, "name: x\nstore:\n  retention:\n    jobs_days: 30d\n")
    result = runner.invoke(app, ["jobs", "prune", "-p", str(project)])
    assert result.exit_code == 1
    assert "erpbridge.yaml:4:16: store.retention.jobs_days: '30d' is not a number of days" in (
        result.output.replace("\n", "")
    )
    assert len(_versions(project)) == 4
