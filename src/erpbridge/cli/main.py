"""Entry point of the ``erpbridge`` command: the typer app and its global options.

Errors never reach the user as a traceback: erpbridge's own errors print one line and
exit 1; anything unexpected prints one line naming the error class and exits 2 (``-vv``
shows the traceback, for bug reports).
"""

from __future__ import annotations

import sys

import typer

from erpbridge import __version__
from erpbridge.cli import connectors as connectors_cmd
from erpbridge.cli import db, demo, engine, ops, preview, project, recon, sql
from erpbridge.cli._common import err_console
from erpbridge.log import configure_logging, redact
from erpbridge.spi.errors import ErpBridgeError

app = typer.Typer(
    name="erpbridge",
    help="CRM <-> ERP integration hub: connect, map, sync, reconcile.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_state = {"verbosity": 0}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"erpbridge {__version__}")
        raise typer.Exit(0)


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    verbose: int = typer.Option(
        0, "--verbose", "-v", count=True, help="More logging (-vv: debug)."
    ),
    log_json: bool = typer.Option(False, "--log-json", help="Log as JSON lines on stderr."),
) -> None:
    """CRM <-> ERP integration hub: connect, map, sync, reconcile."""
    _state["verbosity"] = verbose
    configure_logging(verbose, json=log_json)


# --- command registration: one line per command module -------------------------------
from erpbridge.cli.sandbox import sandbox_cmd  # noqa: E402 - registration section

app.command("init")(project.init)
app.command("templates")(project.templates)
app.command("validate")(project.validate)
app.command("plan")(project.plan)
app.command("preview")(preview.preview_cmd)
app.command("connectors")(connectors_cmd.connectors)
app.command("demo")(demo.demo)
app.add_typer(db.app, name="db")
app.command("run")(engine.run_cmd)
app.command("serve")(engine.serve_cmd)
app.command("worker")(engine.worker_cmd)
app.command("sync")(engine.sync_cmd)
app.add_typer(ops.jobs_app, name="jobs")
app.command("runs")(ops.runs_cmd)
app.add_typer(ops.dlq_app, name="dlq")
app.add_typer(ops.audit_app, name="audit")
app.add_typer(recon.recon_app, name="recon")
app.add_typer(sql.sql_app, name="sql")
app.command("sandbox")(sandbox_cmd)


def run() -> None:
    """Console-script entry point: run the app, turning stray errors into one line."""
    try:
        app(standalone_mode=True)
    except ErpBridgeError as exc:
        err_console.print(f"error: {redact(str(exc))}", markup=False)
        sys.exit(1)
    except Exception as exc:  # process edge: one line, never a traceback
        if _state["verbosity"] >= 2:
            raise
        err_console.print(
            f"internal error ({type(exc).__name__}): {redact(str(exc))} "
            "— rerun with -vv for details",
            markup=False,
        )
        sys.exit(2)


if __name__ == "__main__":
    run()
