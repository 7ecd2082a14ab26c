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
from erpbridge.engine.clock import SystemClock
from erpbridge.engine.flow import FlowPlan
from erpbridge.engine.lookups import resolve_lookups
from erpbridge.engine.plans import build_plans
from erpbridge.engine.runtime import Runtime
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
    project: Project, plan: FlowPlan, records: list[dict[str, Any]]
) -> dict[tuple[str, str], str | None]:
    """Known xrefs for the sample, from the store when there is one; else none.

    Lookups by natural key (``by=``) are resolved as the worker does (engine/lookups.py):
    from the store, else by a ``find()`` in the source system.
    """
    requests: set[tuple[str, str]] = set()
    for record in records:
        requests |= plan.mapper.xref_requests(record)
    if not requests:
        return {}
    try:
        store = open_store(project.store_url())
    except ConfigError:  # no store yet: the preview shows the lookups as missing references
        return {}

    async def resolve() -> dict[tuple[str, str], str | None]:
        runtime = Runtime(project, default_registry())
        try:
            found = await resolve_lookups(store, runtime, plan, requests, SystemClock())
        finally:
            await runtime.aclose()
        return found.xrefs

    try:
        return asyncio.run(resolve())
    except ConnectorError:  # the source cannot be asked: keys show as missing references
        return {}
    finally:
        store.dispose()


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
        plan = build_plans(loaded, flows=[flow])[flow]
    except ConfigErrors as exc:
        print_config_errors(exc.errors)
        fail(f"the mapping of {flow} does not compile")
    compiled = plan.mapper
    assert isinstance(compiled, CompiledMapping)  # noqa: S101 - build_plans compiles with the mapping layer
    if file is not None:
        records = _records_from_file(file)
    else:
        try:
            records = asyncio.run(_sample(loaded, flow, sample))
        except ConnectorError as exc:
            fail(f"cannot read samples: {exc}")
    rows = preview(compiled, records, _xrefs(loaded, plan, records))
    if as_json:
        emit_json([row.to_json() for row in rows])
        return
    if not rows:
        console.print("no records to preview")
    for row in rows:
        console.print(preview_table(row, title=f"{flow} · record {row.index}"))
