"""``erpbridge connectors``: the connector types this installation knows."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from erpbridge.cli._common import JSON_OPTION, console, default_registry, emit_json
from erpbridge.spi.errors import ConfigError


def connectors(as_json: bool = JSON_OPTION) -> None:
    """List connector types usable as type: of a connection, with their settings."""
    registry = default_registry()
    rows: list[dict[str, Any]] = []
    for name in registry.names():
        try:
            spec = registry.get(name)
        except ConfigError as exc:
            rows.append(
                {
                    "name": name,
                    "kind": "?",
                    "summary": f"failed to load: {exc.reason}",
                    "settings": [],
                }
            )
            continue
        rows.append(
            {
                "name": name,
                "kind": spec.kind,
                "summary": spec.summary,
                "settings": list(spec.settings.model_fields),
            }
        )
    if as_json:
        emit_json(rows)
        return
    table = Table(title="Connectors")
    for column in ("type", "kind", "summary", "settings"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], row["kind"], row["summary"], ", ".join(row["settings"]))
    console.print(table)
    if not rows:
        typer.echo("No connectors installed.")
