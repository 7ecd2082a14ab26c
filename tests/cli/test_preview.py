from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from erpbridge.cli import _common
from erpbridge.cli.main import app
from tests.fakes import fake_registry

PROJECT = """\
connections:
  crm: {type: fakecrm, base_url: https://crm, username: u, password: "${env:PW}"}
  erp: {type: fakeerp, base_url: https://erp, username: u, password: "${env:PW}"}
flows:
  customers:
    entity: customer
    source: {connection: crm, object: Account}
    target: {connection: erp, object: Customer, write: upsert, key: Code}
    map: {Code: source.AccountNumber}
  orders:
    source: {connection: crm, object: Order}
    target: {connection: erp, object: A_SalesOrder, write: upsert, key: PurchaseOrderByCustomer}
    when: source.Status == "Activated"
    map:
      PurchaseOrderByCustomer: source.OrderNumber
      TotalNetAmount: money(source.TotalAmount, scale=2)
      SoldToParty: xref.customer(source.AccountId)
"""


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(_common, "registry_factory", fake_registry)
    monkeypatch.setenv("PW", "secret-pw")
    monkeypatch.setenv("ERPBRIDGE_DB_URL", f"sqlite:///{tmp_path / 'store.db'}")
    (tmp_path / "erpbridge.yaml").write_text(PROJECT, encoding="utf-8")


def test_preview_from_file_shows_values_problems_and_missing_references(tmp_path: Path) -> None:
    records = [
        {"OrderNumber": "PO-1", "TotalAmount": "1,234.5", "AccountId": "A1", "Status": "Activated"},
        {
            "fields": {
                "OrderNumber": "PO-2",
                "TotalAmount": "12,3x",
                "AccountId": "A2",
                "Status": "Draft",
            }
        },
    ]
    (tmp_path / "records.json").write_text(json.dumps(records), encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "preview",
            "orders",
            "-p",
            str(tmp_path),
            "--file",
            str(tmp_path / "records.json"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    first, second = json.loads(result.stdout)
    assert first["target"]["PurchaseOrderByCustomer"] == "PO-1"
    assert first["target"]["TotalNetAmount"] == "1234.50"
    assert first["missing_references"] == [["customer", "A1"]]
    assert second["accepted"] is False
    assert any("12,3x" in str(p) for p in second["problems"])
    import sqlalchemy as sa

    with sa.create_engine(
        f"sqlite:///{tmp_path / 'store.db'}"
    ).connect() as conn:  # a preview writes no job
        assert conn.execute(sa.text("select count(*) from jobs")).scalar() == 0


def test_preview_unknown_flow_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["preview", "nope", "-p", str(tmp_path)])
    assert result.exit_code == 1
    assert "unknown flow 'nope' (flows: customers, orders)" in result.stderr


def test_preview_shows_a_record_an_xref_lookup_skips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_common.console, "width", 200)
    project = PROJECT.replace(
        "SoldToParty: xref.customer(source.AccountId)",
        'SoldToParty: xref.customer(source.AccountId, missing="skip")',
    )
    (tmp_path / "erpbridge.yaml").write_text(project, encoding="utf-8")
    record = {"OrderNumber": "PO-1", "TotalAmount": "1", "AccountId": "A9", "Status": "Activated"}
    (tmp_path / "records.json").write_text(json.dumps([record]), encoding="utf-8")
    command = ["preview", "orders", "-p", str(tmp_path), "--file", str(tmp_path / "records.json")]
    shown = CliRunner().invoke(app, command)
    as_json = CliRunner().invoke(app, [*command, "--json"])
    assert shown.exit_code == 0, shown.output
    assert 'orders · record 0 (skipped: a lookup with missing="skip" has no target)' in shown.stdout
    [row] = json.loads(as_json.stdout)
    assert row["skipped"] == (
        "SoldToParty: xref.customer('A9') has no target: skipped (missing=\"skip\")"
    )
    assert row["ok"] is False and row["missing_references"] == []
