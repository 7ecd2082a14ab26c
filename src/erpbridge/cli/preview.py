"""``erpbridge preview``: a flow's mapping on real or given records, side by side, no writes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import typer

from erpbridge.cli._common import (
    JSON_OPTION,
    PROJECT_OPTION,
    console,
    default_registry,
    emit_json,
    fail,
    load_or_exit,
    print_config_errors,
)
from erpbridge.config import ConfigErrors, Project
from erpbridge.engine.plans import build_plans
from erpbridge.engine.runtime import Runtime
from erpbridge.engine.xref import lookup_xrefs
from erpbridge.mapping import CompiledMapping, preview, preview_table
from erpbridge.spi.errors import ConfigError, ConnectorError
from erpbridge.store import open_store

__all__ = ["preview_cmd"]


def _records_from_file(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, json.JSONDecodeError) as exc:
        fail(f"{path}: {exc}")
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        fail(f"{path}: expected a JSON list of records (objects)")
    # Accept plain field objects or {"fields": {...}} as `erpbridge dlq show --json` prints.
    return [dict(r["fields"]) if isinstance(r.get("fields"), dict) else dict(r) for r in data]


async def _sample(project: Project, flow: str, count: int) -> list[dict[str, Any]]:
    spec = project.spec.flows[flow]
    runtime = Runtime(project, default_registry())
    source = runtime.connector(spec.source.connection)
    records: list[dict[str, Any]] = []
    try:
        async for page in source.read_changes(spec.source.object, None, min(count, 200)):
            records += [dict(r.fields) for r in page.records]
            if len(records) >= count:
                break
    finally:
        await runtime.aclose()
    return records[:count]


def _xrefs(
    project: Project, compiled: CompiledMapping, records: list[dict[str, Any]], flow: str
) -> dict[tuple[str, str], str | None]:
    """Known xrefs for the sample, from the store when there is one; else none."""
    wanted: dict[str, set[str]] = {}
    for record in records:
        for entity, source_id in compiled.xref_requests(record):
            wanted.setdefault(entity, set()).add(source_id)
    if not wanted:
        return {}
    spec = project.spec.flows[flow]
    try:
        store = open_store(project.store_url())
    except ConfigError:  # no store yet: the preview shows the lookups as missing references
        return {}
    out: dict[tuple[str, str], str | None] = {}
    with store.connect() as conn:
        for entity, ids in wanted.items():
            found = lookup_xrefs(
                conn, (entity, spec.source.connection, spec.target.connection), ids
            )
            out.update({(entity, i): found.get(i) for i in ids})
    return out


def preview_cmd(
    flow: str = typer.Argument(..., help="Flow whose mapping to preview."),
    project: Path | None = PROJECT_OPTION,
    sample: int = typer.Option(
        5, "--sample", "-n", min=1, max=1000, help="Records to read from the source."
    ),
    file: Path | None = typer.Option(
        None, "--file", "-f", help="JSON file of source records instead of reading the source."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Map records with a flow's mapping and show source and target side by side; writes nothing."""
    loaded = load_or_exit(project)
    if flow not in loaded.spec.flows:
        fail(f"unknown flow {flow!r} (flows: {', '.join(loaded.spec.flows) or 'none'})")
    try:
        compiled = build_plans(loaded, flows=[flow])[flow].mapper
    except ConfigErrors as exc:
        print_config_errors(exc.errors)
        fail(f"the mapping of {flow} does not compile")
    assert isinstance(compiled, CompiledMapping)  # noqa: S101 - build_plans compiles with the mapping layer
    if file is not None:
        records = _records_from_file(file)
    else:
        try:
            records = asyncio.run(_sample(loaded, flow, sample))
        except ConnectorError as exc:
            fail(f"cannot read samples: {exc}")
    rows = preview(compiled, records, _xrefs(loaded, compiled, records, flow))
    if as_json:
        emit_json([row.to_json() for row in rows])
        return
    if not rows:
        console.print("no records to preview")
    for row in rows:
        console.print(preview_table(row, title=f"{flow} · record {row.index}"))
