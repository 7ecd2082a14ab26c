"""`erpbridge sql install-change-capture`: the DDL is shown first, applied only with --apply."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from erpbridge.cli import _common
from erpbridge.cli.main import app
from tests.connectors.sql.u8schema import create_u8


def test_change_capture_is_shown_then_installed(
    db_url: str, db: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_u8(db)
    monkeypatch.setattr(_common.console, "width", 200)
    (tmp_path / "erpbridge.yaml").write_text(
        f'connections:\n  u8: {{type: sql, url: "{db_url}"}}\n', encoding="utf-8"
    )
    shown = CliRunner().invoke(
        app, ["sql", "install-change-capture", "u8", "Customer", "-p", str(tmp_path)]
    )
    assert shown.exit_code == 0, shown.output
    assert "CREATE" in shown.stdout.upper() and "not applied" in shown.stdout
    before = set(sa.inspect(db).get_table_names())
    applied = CliRunner().invoke(
        app, ["sql", "install-change-capture", "u8", "Customer", "-p", str(tmp_path), "--apply"]
    )
    assert applied.exit_code == 0, applied.output
    assert set(sa.inspect(db).get_table_names()) - before  # the change table now exists


def test_unknown_table_and_connection_are_one_line(
    db_url: str, db: sa.Engine, tmp_path: Path
) -> None:
    create_u8(db)
    (tmp_path / "erpbridge.yaml").write_text(
        f'connections:\n  u8: {{type: sql, url: "{db_url}"}}\n', encoding="utf-8"
    )
    table = CliRunner().invoke(
        app, ["sql", "install-change-capture", "u8", "Custmer", "-p", str(tmp_path)]
    )
    assert table.exit_code == 1 and "Customer" in table.stderr and "Traceback" not in table.output
    conn = CliRunner().invoke(
        app, ["sql", "install-change-capture", "nope", "Customer", "-p", str(tmp_path)]
    )
    assert conn.exit_code == 1 and "unknown connection 'nope' (connections: u8)" in conn.stderr
