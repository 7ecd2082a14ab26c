"""``erpbridge sql``: set up a database for the direct-database connector (DDL shown first)."""

from __future__ import annotations

from pathlib import Path

import typer

from erpbridge.cli._common import PROJECT_OPTION, console, fail, load_or_exit
from erpbridge.config import Project
from erpbridge.connectors.sql import SqlSettings, install_change_capture, install_staging_table
from erpbridge.spi.errors import ConfigError, ConnectorError

__all__ = ["sql_app"]

sql_app = typer.Typer(help="Set up a database for the sql connector.", no_args_is_help=True)

APPLY_OPTION = typer.Option(False, "--apply", help="Run the statements (default: only show them).")


def _settings(project: Project, connection: str) -> SqlSettings:
    settings = project.connections.get(connection)
    if settings is None:
        known = ", ".join(project.connections) or "none"
        fail(f"unknown connection {connection!r} (connections: {known})")
    if not isinstance(settings, SqlSettings):
        fail(f"connection {connection!r} is not of type sql")
    return settings


def _show(statements: list[str], apply: bool) -> None:
    if not statements:
        console.print("nothing to do: already installed")
        return
    for statement in statements:
        console.print(statement.rstrip(";") + ";", markup=False, highlight=False)
    console.print("applied" if apply else "not applied (add --apply to run these statements)")


@sql_app.command("install-change-capture")
def install_change_capture_cmd(
    connection: str = typer.Argument(..., help="A connection of type sql."),
    table: str = typer.Argument(
        ..., help="The table (or configured object) to capture changes of."
    ),
    project: Path | None = PROJECT_OPTION,
    apply: bool = APPLY_OPTION,
) -> None:
    """Show (then, with --apply, install) the change table and triggers for a table."""
    settings = _settings(load_or_exit(project), connection)
    try:
        statements = install_change_capture(settings, table, apply=apply)
    except (ConfigError, ConnectorError) as exc:
        fail(exc.describe() if isinstance(exc, ConfigError) else str(exc))
    _show(statements, apply)


@sql_app.command("install-staging")
def install_staging_cmd(
    connection: str = typer.Argument(..., help="A connection of type sql."),
    project: Path | None = PROJECT_OPTION,
    apply: bool = APPLY_OPTION,
) -> None:
    """Show (then, with --apply, create) the staging table the ERP imports from."""
    settings = _settings(load_or_exit(project), connection)
    try:
        statements = install_staging_table(settings, apply=apply)
    except (ConfigError, ConnectorError) as exc:
        fail(exc.describe() if isinstance(exc, ConfigError) else str(exc))
    _show(statements, apply)
