"""``erpbridge init``, ``validate`` and ``plan``: create, check and explain a project."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from erpbridge.cli._common import (
    JSON_OPTION,
    PROJECT_OPTION,
    console,
    default_registry,
    emit_json,
    err_console,
    fail,
    load_or_exit,
    print_config_errors,
)
from erpbridge.config import ConfigErrors, FlowSpec, Project, find_project_file, load_project
from erpbridge.config.errors import located
from erpbridge.engine.plans import mapping_problems, schema_problems
from erpbridge.engine.runtime import Runtime
from erpbridge.flows.templates import list_templates, template_files
from erpbridge.spi.errors import ConfigError, ConnectorError
from erpbridge.spi.schema import Catalog

__all__ = ["init", "plan", "plan_rows", "validate"]

_XREF = re.compile(r"\bxref\.([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_TABLE = re.compile(r"\btable\(\s*[\"']([^\"']+)[\"']")


def init(
    directory: Path = typer.Argument(..., help="Folder to create the project in."),
    template: str = typer.Option("starter", "--template", "-t", help="Template to start from."),
    force: bool = typer.Option(False, "--force", help="Overwrite files that already exist."),
) -> None:
    """Scaffold a project: erpbridge.yaml, .env.example and a README."""
    try:
        files = template_files(template)
    except ConfigError as exc:
        fail(exc.describe())
    existing = [name for name in files if (directory / name).exists()]
    if existing and not force:
        fail(f"{directory} already has {', '.join(existing)} (use --force to overwrite)")
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    console.print(f"Created project in {directory} from template '{template}':")
    for name in files:
        console.print(f"  {name}")
    console.print(
        f"Next: cp {directory}/.env.example {directory}/.env, fill it in, then "
        f"`erpbridge validate -p {directory}`."
    )


def templates() -> None:
    """List the project templates that init --template accepts."""
    for name in list_templates():
        console.print(name)


def validate(
    project: Path | None = PROJECT_OPTION,
    as_json: bool = JSON_OPTION,
    online: bool = typer.Option(
        False,
        "--online",
        help="Also describe() every connection and check each mapping's fields against it.",
    ),
) -> None:
    """Check the project file and report every problem with file, line and column."""
    path = find_project_file(project)
    warnings: list[ConfigError] = []
    try:
        loaded = load_project(path, registry=default_registry())
        problems = mapping_problems(loaded)
        if problems:
            raise ConfigErrors(problems)
        if online:
            found, warnings = asyncio.run(_online_problems(loaded))
            if found:
                raise ConfigErrors(found + warnings)
    except ConfigErrors as exc:
        if as_json:
            emit_json(
                {"ok": False, "file": str(path), "errors": [_error_json(e) for e in exc.errors]}
            )
        else:
            print_config_errors(exc.errors)
            count = len(exc.errors)
            err_console.print(f"{count} problem{'s' if count != 1 else ''} in {path}")
        raise typer.Exit(1) from None
    if as_json:
        emit_json(
            {
                "ok": True,
                "file": str(path),
                "errors": [],
                "warnings": [_error_json(w) for w in warnings],
            }
        )
    else:
        print_config_errors(warnings)
        console.print(f"{path}: ok" + (f" ({len(warnings)} warnings)" if warnings else ""))


async def _online_problems(project: Project) -> tuple[list[ConfigError], list[ConfigError]]:
    """Describe every connection once, then check mappings against the schemas."""
    runtime = Runtime(project, default_registry())
    catalogs: dict[str, Catalog] = {}
    errors: list[ConfigError] = []
    try:
        for name in project.connections:
            try:
                catalogs[name] = await runtime.connector(name).describe()
            except ConnectorError as exc:
                errors.append(
                    located(f"describe() failed: {exc}", project.marks, ("connections", name))
                )
    finally:
        await runtime.aclose()
    found, warnings = await schema_problems(project, catalogs)
    return errors + found, warnings


def _error_json(error: ConfigError) -> dict[str, Any]:
    return {
        "path": error.path,
        "line": error.line,
        "column": error.column,
        "field": error.field,
        "reason": error.reason,
    }


def _trigger_text(flow: FlowSpec) -> str:
    trigger = flow.source.trigger
    parts = []
    if trigger.webhook:
        parts.append("webhook")
    if trigger.poll is not None:
        parts.append(f"poll {_duration(trigger.poll.total_seconds())}")
    if trigger.file_drop is not None:
        parts.append(f"file drop {_duration(trigger.file_drop.total_seconds())}")
    if trigger.schedule is not None:
        zone = f" {trigger.schedule.timezone}" if trigger.schedule.timezone else ""
        parts.append(f"cron '{trigger.schedule.cron}'{zone}")
    return ", ".join(parts) or "manual"


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def plan_rows(project: Project) -> list[dict[str, Any]]:
    """One row per flow: what it reads, how it is triggered, what it writes and touches."""
    rows = []
    for name, flow in project.spec.flows.items():
        expressions = " ".join(str(v) for v in flow.map.values())
        rows.append(
            {
                "flow": name,
                "enabled": flow.enabled,
                "source": f"{flow.source.connection}:{flow.source.object}",
                "target": f"{flow.target.connection}:{flow.target.object}",
                "trigger": _trigger_text(flow),
                "write": flow.target.write.value,
                "key": flow.target.key,
                "when": flow.when,
                "fields": list(flow.map),
                "xref": sorted(set(_XREF.findall(expressions))),
                "tables": sorted(set(_TABLE.findall(expressions))),
                "depends_on": flow.depends_on,
                "hold": None
                if flow.hold is None
                else {
                    "when": flow.hold.when,
                    "related": {
                        n: f"{r.connection or flow.source.connection}:{r.object}"
                        for n, r in flow.hold.related.items()
                    },
                    "recheck_s": flow.hold.recheck.total_seconds(),
                },
            }
        )
    return rows


def plan(project: Path | None = PROJECT_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Show each flow: source -> target, trigger, write mode, key, and what it touches."""
    loaded = load_or_exit(project)
    rows = plan_rows(loaded)
    if as_json:
        emit_json({"project": loaded.spec.name, "flows": rows})
        return
    if not rows:
        console.print("No flows defined.")
        return
    table = Table(title=f"Flows of {loaded.spec.name}", show_lines=False)
    for column in ("flow", "source → target", "trigger", "write", "key", "touches"):
        table.add_column(column)
    for row in rows:
        touches = [f"{len(row['fields'])} fields"]
        if row["xref"]:
            touches.append("xref " + ", ".join(row["xref"]))
        if row["tables"]:
            touches.append("tables " + ", ".join(row["tables"]))
        if row["hold"]:
            reads = ", ".join(row["hold"]["related"].values())
            touches.append("hold: check" + (f" reading {reads}" if reads else ""))
        name = row["flow"] if row["enabled"] else f"{row['flow']} (disabled)"
        table.add_row(
            name,
            f"{row['source']} → {row['target']}",
            row["trigger"],
            row["write"],
            row["key"] or "—",
            "; ".join(touches),
        )
    console.print(table)
