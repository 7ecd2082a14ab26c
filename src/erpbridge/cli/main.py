"""Entry point of the ``erpbridge`` command: the typer app and its global options."""

from __future__ import annotations

import typer

from erpbridge import __version__

app = typer.Typer(
    name="erpbridge",
    help="CRM <-> ERP integration hub: connect, map, sync, reconcile.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"erpbridge {__version__}")
        raise typer.Exit(0)


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """CRM <-> ERP integration hub: connect, map, sync, reconcile."""


# --- command registration: one line per command module -------------------------------
from erpbridge.cli.sandbox import sandbox_cmd  # noqa: E402 - registration section

app.command("sandbox")(sandbox_cmd)


def run() -> None:
    """Console-script entry point."""
    app()
