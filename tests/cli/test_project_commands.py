from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from erpbridge.cli import _common
from erpbridge.cli.main import app
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


def test_version_and_help() -> None:
    assert runner.invoke(app, ["--version"]).stdout.startswith("erpbridge ")
    for command in (["init"], ["validate"], ["plan"], ["db", "upgrade"], ["demo"], ["connectors"]):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage" in result.output


def test_validate_ok(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", "-p", str(_project(tmp_path))])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("erpbridge.yaml: ok")


def test_validate_broken_file_lists_every_error_with_its_line(tmp_path: Path) -> None:
    broken = (
        GOOD.replace("type: fakeerp", "type: fakeepr")
        .replace("    when: source", "    wehn: source")
        .replace("timezone: Asia/Shanghai", "timezone: Asia/Shanghia", 1)
    )
    result = runner.invoke(app, ["validate", "-p", str(_project(tmp_path, broken)), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert [(e["line"], e["field"]) for e in report["errors"]] == [
        (2, "timezone"),
        (10, "connections.erp.type"),
        (20, "flows.orders-to-erp.wehn"),
    ]
    assert "did you mean 'fakeerp'?" in report["errors"][1]["reason"]


def test_validate_text_output_is_one_line_per_error_and_no_traceback(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", "-p", str(_project(tmp_path, "flows: [\n"))])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "erpbridge.yaml:2:1: invalid YAML" in result.stderr


def test_plan_shows_each_flow(tmp_path: Path) -> None:
    result = runner.invoke(app, ["plan", "-p", str(_project(tmp_path)), "--json"])
    assert result.exit_code == 0, result.output
    flows = {f["flow"]: f for f in json.loads(result.stdout)["flows"]}
    assert flows["orders-to-erp"]["source"] == "crm:Order"
    assert flows["orders-to-erp"]["target"] == "erp:A_SalesOrder"
    assert flows["orders-to-erp"]["trigger"] == "webhook, poll 1m"
    assert flows["orders-to-erp"]["key"] == "PurchaseOrderByCustomer"
    assert flows["nightly"]["trigger"] == "cron '0 2 * * *' Asia/Shanghai"
    assert flows["nightly"]["write"] == "update"


def test_plan_table_for_people(tmp_path: Path) -> None:
    result = runner.invoke(app, ["plan", "-p", str(_project(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "crm:Order" in result.stdout and "erp:A_SalesOrder" in result.stdout


def test_plan_on_broken_project_exits_1_with_located_errors(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["plan", "-p", str(_project(tmp_path, GOOD.replace("write: update", "write: updat")))]
    )
    assert result.exit_code == 1
    assert "flows.nightly.target.write" in result.stderr


def test_init_scaffolds_and_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "myproj"
    result = runner.invoke(app, ["init", str(target)])
    assert result.exit_code == 0, result.output
    assert {p.name for p in target.iterdir()} >= {"erpbridge.yaml", ".env.example", "README.md"}
    again = runner.invoke(app, ["init", str(target)])
    assert again.exit_code == 1
    assert "already has" in again.stderr


def test_init_unknown_template_lists_the_known_ones(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "x"), "--template", "nope"])
    assert result.exit_code == 1
    assert "unknown template 'nope' (available: " in result.stderr
    assert "starter" in result.stderr.split("available:")[1]


def test_db_upgrade_creates_store_in_project_folder(tmp_path: Path) -> None:
    project = _project(tmp_path)
    result = runner.invoke(app, ["db", "upgrade", "-p", str(project)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "erpbridge.db").is_file()
    current = runner.invoke(app, ["db", "current", "-p", str(project), "--json"])
    assert json.loads(current.stdout)["up_to_date"] is True


def test_db_upgrade_unreachable_url_is_one_line_exit_1() -> None:
    result = runner.invoke(
        app, ["db", "upgrade", "--url", "postgresql://u:pw-hidden@127.0.0.1:1/x?connect_timeout=2"]
    )
    assert result.exit_code == 1
    assert "store unreachable at postgresql+psycopg://u:***@127.0.0.1:1/x" in result.stderr
    assert "pw-hidden" not in result.output
