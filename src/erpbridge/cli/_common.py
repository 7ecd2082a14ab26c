"""What every command shares: consoles, loading the project, errors as one line each."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console

from erpbridge.config import ConfigErrors, Project, find_project_file, load_project
from erpbridge.spi.errors import ConfigError
from erpbridge.spi.registry import ConnectorRegistry

__all__ = [
    "JSON_OPTION",
    "PROJECT_OPTION",
    "console",
    "default_registry",
    "emit_json",
    "err_console",
    "fail",
    "load_or_exit",
    "print_config_errors",
]

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

PROJECT_OPTION = typer.Option(
    None,
    "--project",
    "-p",
    help="Project file or folder (default: $ERPBRIDGE_PROJECT, else ./erpbridge.yaml).",
)
JSON_OPTION = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")


#: builds the registry commands use; tests and embedding applications may replace it.
registry_factory: Callable[[], ConnectorRegistry] = ConnectorRegistry


def default_registry() -> ConnectorRegistry:
    """The registry commands use: built-in connectors plus installed plugins."""
    return registry_factory()


def emit_json(data: Any) -> None:
    """Write ``data`` as JSON to stdout (UTF-8, Chinese kept readable)."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", markup=True)
    raise typer.Exit(code)


def print_config_errors(errors: Iterable[ConfigError]) -> None:
    """One line per error on stderr: ``file:line:col: field: reason``."""
    for error in errors:
        err_console.print(error.describe(), markup=False)


def load_or_exit(project: Path | None) -> Project:
    """Load the project or print every error and exit 1."""
    path = find_project_file(project)
    try:
        return load_project(path, registry=default_registry())
    except ConfigErrors as exc:
        print_config_errors(exc.errors)
        count = len(exc.errors)
        fail(f"{count} problem{'s' if count != 1 else ''} in {path}")
    except ConfigError as exc:
        fail(exc.describe())
