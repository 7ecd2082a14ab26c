"""``erpbridge demo``: a project from the starter template, against the simulators.

What it does today (the foundation issue): starts the simulators the template's
connections need, writes their settings into the project's ``.env``, validates the
project, creates the store, checks every connection over real HTTP, and prints what each
flow would do. The business-flow issue extends it to run the flows end to end.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import typer
from rich.table import Table

from erpbridge.cli._common import console, default_registry, fail, print_config_errors
from erpbridge.cli.project import plan_rows
from erpbridge.config import ConfigErrors, Project, load_project
from erpbridge.config.yamlfile import load_yaml
from erpbridge.flows.templates import template_files
from erpbridge.sims.sandbox import SIMULATORS, run_sandbox
from erpbridge.spi.errors import ConfigError
from erpbridge.spi.records import CheckResult
from erpbridge.store import current_revision, open_store, redact_url

__all__ = ["demo", "dotenv_lines"]


def dotenv_lines(entries: Mapping[str, Mapping[str, object]]) -> list[str]:
    """``SYSTEM_KEY=value`` lines for every setting of every running simulator."""
    lines = ["# written by erpbridge demo from the sandbox ports file"]
    for system, entry in sorted(entries.items()):
        for key, value in entry.items():
            if value is not None:
                lines.append(f"{system.upper()}_{key.upper()}={value}")
    return lines


async def _check_all(project: Project) -> dict[str, CheckResult]:
    registry = default_registry()
    results: dict[str, CheckResult] = {}
    for name, settings in project.connections.items():
        spec = registry.get(project.spec.connections[name].type)
        connector = spec.create(settings, None)
        try:
            results[name] = await connector.check()
        finally:
            await connector.aclose()
    return results


def demo(
    template: str = typer.Option("starter", "--template", "-t", help="Template to run."),
    directory: Path | None = typer.Option(
        None, "--dir", help="Project folder (default: a temp folder)."
    ),
    keep: bool = typer.Option(False, "--keep", help="Keep the sandbox running until Ctrl-C."),
) -> None:
    """Run the starter project against the simulators and show what flows where."""
    started = time.monotonic()
    workdir = directory or Path(tempfile.mkdtemp(prefix="erpbridge-demo-"))
    try:
        files = template_files(template)
    except ConfigError as exc:
        fail(exc.describe())
    for name, text in files.items():
        (workdir / name).parent.mkdir(parents=True, exist_ok=True)
        (workdir / name).write_text(text, encoding="utf-8")
    console.print(f"[bold]1.[/] project '{template}' created in {workdir}")
    systems = _systems_of(workdir / "erpbridge.yaml")
    with run_sandbox(
        workdir / "sandbox", only=systems, ports_file=workdir / "sandbox.json"
    ) as running:
        entries = {name: sim.entry for name, sim in running.items()}
        (workdir / ".env").write_text("\n".join(dotenv_lines(entries)) + "\n", encoding="utf-8")
        for name, entry in sorted(entries.items()):
            console.print(f"[bold]2.[/] simulator {name} serving at {entry.get('base_url')}")
        try:
            project = load_project(workdir / "erpbridge.yaml", registry=default_registry())
        except ConfigErrors as exc:
            print_config_errors(exc.errors)
            fail("the template does not validate (a bug: please report it)")
        console.print("[bold]3.[/] project validated")
        url = project.store_url()
        try:
            engine = open_store(url)
            revision = current_revision(engine)
        except ConfigError as exc:
            fail(exc.describe())
        console.print(f"[bold]4.[/] store {redact_url(url)} at schema {revision}")
        checks = asyncio.run(_check_all(project))
        _print_checks(checks)
        _print_plan(project)
        elapsed = time.monotonic() - started
        console.print(
            f"Done in {elapsed:.1f}s. Project: {workdir} (ports file: {workdir / 'sandbox.json'}). "
            "Flows run end to end once the engine lands (`erpbridge run`)."
        )
        if keep:
            console.print("Sandbox running; Ctrl-C to stop.")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                console.print("stopped")
        failed = [name for name, result in checks.items() if not result.ok]
    if directory is None and not keep:
        shutil.rmtree(workdir / "sandbox", ignore_errors=True)
    if failed:
        fail(f"connection check failed: {', '.join(failed)}")


def _systems_of(path: Path) -> list[str]:
    """Connection types in the project file that have a simulator."""
    data = load_yaml(path).data or {}
    connections = data.get("connections") or {}
    kinds = {str(c.get("type")) for c in connections.values() if isinstance(c, dict)}
    return sorted(kinds & set(SIMULATORS))


def _print_checks(checks: Mapping[str, CheckResult]) -> None:
    table = Table(title="Connections")
    table.add_column("connection")
    table.add_column("check")
    for name, result in checks.items():
        table.add_row(name, "ok" if result.ok else f"FAILED: {result.reason}")
    console.print(table)


def _print_plan(project: Project) -> None:
    table = Table(title="What each flow would do")
    for column in ("flow", "source → target", "trigger", "write", "fields"):
        table.add_column(column)
    for row in plan_rows(project):
        table.add_row(
            row["flow"],
            f"{row['source']} → {row['target']}",
            row["trigger"],
            row["write"],
            ", ".join(row["fields"]),
        )
    console.print(table)
