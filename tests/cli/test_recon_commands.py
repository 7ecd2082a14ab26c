from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from erpbridge.cli import _common
from erpbridge.cli.main import app
from erpbridge.store import open_store
from erpbridge.store.schema import recon_runs
from tests.config.test_loader import GOOD
from tests.fakes import fake_registry

runner = CliRunner()


@pytest.fixture(autouse=True)
def _fake_connectors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_common, "registry_factory", fake_registry)
    monkeypatch.setattr(_common.console, "width", 200)
    monkeypatch.setenv("CRM_PASSWORD", "pw-1234")
    monkeypatch.delenv("ERPBRIDGE_DB_URL", raising=False)


def _project(tmp_path: Path, text: str = GOOD) -> Path:
    (tmp_path / "erpbridge.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "erp.secret").write_text("erp-secret\n", encoding="utf-8")
    return tmp_path


_RECON = "      PurchaseOrderByCustomer: source.OrderNumber\n"


def test_validate_locates_a_recon_block_naming_an_unmapped_field(tmp_path: Path) -> None:
    text = GOOD.replace(
        _RECON,
        _RECON
        + "    recon:\n      schedule: '0 2 * * *'\n      fields: [PurchaseOrderByCustomr]\n",
    )
    result = runner.invoke(app, ["validate", "-p", str(_project(tmp_path, text)), "--json"])
    assert result.exit_code == 1, result.output
    [error] = json.loads(result.stdout)["errors"]
    assert (error["line"], error["field"]) == (25, "flows.orders-to-erp.recon.fields")
    assert "did you mean 'PurchaseOrderByCustomer'?" in error["reason"]


def test_validate_accepts_a_scheduled_recon(tmp_path: Path) -> None:
    text = GOOD.replace(
        _RECON,
        _RECON + "    recon:\n      schedule: {cron: '0 2 * * *', timezone: Asia/Shanghai}\n"
        "      scope: xref\n      repair: dry_run\n      tolerance: {PurchaseOrderByCustomer: 0}\n",
    )
    result = runner.invoke(app, ["validate", "-p", str(_project(tmp_path, text))])
    assert result.exit_code == 0, result.output


def test_cancel_and_resume_say_why_they_cannot(tmp_path: Path) -> None:
    project = _project(tmp_path)
    assert runner.invoke(app, ["db", "upgrade", "-p", str(project)]).exit_code == 0
    store = open_store(f"sqlite:///{project / 'erpbridge.db'}")
    with store.begin() as conn:
        conn.execute(
            recon_runs.insert().values(
                id=7, flow="orders-to-erp", state="done", params={}, started_at=datetime.now(UTC)
            )
        )
    store.dispose()
    for command, reason in (
        (["recon", "cancel", "5"], "no recon run 5"),
        (["recon", "resume", "5"], "no recon run 5"),
        (["recon", "cancel", "7"], "recon run 7 is done, not running"),
        (["recon", "resume", "7"], "only a cancelled run can be resumed"),
    ):
        result = runner.invoke(app, [*command, "-p", str(project)])
        assert result.exit_code == 1 and reason in result.output, (command, result.output)
