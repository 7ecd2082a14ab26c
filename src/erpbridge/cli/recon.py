"""``erpbridge recon run | resume | cancel | list | show | accept``: reports and repair."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import typer
from rich.progress import (
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from erpbridge.cli._common import (
    JSON_OPTION,
    PROJECT_OPTION,
    console,
    emit_json,
    err_console,
    fail,
    load_or_exit,
)
from erpbridge.cli.engine import open_hub
from erpbridge.engine.flow import FlowPlan
from erpbridge.engine.recon import (
    ReconResult,
    apply_repairs,
    cancel_recon,
    note_repairs,
    plan_repairs,
    recon_options,
    resume_recon,
    run_recon,
)
from erpbridge.engine.recon_report import load_report, summary_line, write_csv, write_html
from erpbridge.engine.recon_side import Progress as Progress_
from erpbridge.spi.errors import ConfigError
from erpbridge.store import open_store
from erpbridge.store.schema import recon_differences, recon_runs

__all__ = ["recon_app"]

recon_app = typer.Typer(
    help="Reconcile a flow's two sides, report, and repair.", no_args_is_help=True
)


def _tolerances(items: list[str] | None) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = Decimal(value)
        except InvalidOperation:
            fail(f"--tolerance {item!r}: use field=number, e.g. TotalNetAmount=0.01")
        if not sep or not name.strip():
            fail(f"--tolerance {item!r}: use field=number, e.g. TotalNetAmount=0.01")
    return out


def _write_outputs(
    report: dict[str, Any], source: str, target: str, html: Path | None, csv: Path | None
) -> None:
    if html is not None:
        write_html(html, report, source, target)
        console.print(f"HTML report: {html}")
    if csv is not None:
        write_csv(csv, report["differences"])
        console.print(f"CSV report: {csv}")


class _RateColumn(ProgressColumn):
    """Records per second of a side."""

    def render(self, task: Task) -> Text:
        speed = task.speed
        return Text(f"{speed:,.0f} records/s" if speed else "", style="progress.data.speed")


def _progress_bar(disable: bool) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed:>12,.0f} records"),
        _RateColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=disable,
    )


def _reconcile(
    hub: Any, plan: FlowPlan, start: Callable[[Progress_], Awaitable[ReconResult]], quiet: bool
) -> int:
    """Run ``start`` with a progress bar per side; Ctrl-C cancels the run (exit 130)."""

    async def go() -> int:
        try:
            with _progress_bar(quiet) as bar:
                tasks = {
                    side: bar.add_task(f"reading {name}", total=None)
                    for side, name in (
                        ("source", plan.source_connection),
                        ("target", plan.target_connection),
                    )
                }
                result = await start(lambda side, n: bar.update(tasks[side], completed=n))
            return result.run_id
        finally:
            await hub.runtime.aclose()

    try:
        return asyncio.run(go())
    except KeyboardInterrupt:
        with hub.store.connect() as conn:
            run_id = conn.execute(
                sa.select(sa.func.max(recon_runs.c.id)).where(
                    recon_runs.c.flow == plan.name, recon_runs.c.state == "cancelled"
                )
            ).scalar_one_or_none()
        err_console.print(
            f"recon run {run_id} cancelled; nothing is repaired from it. "
            f"Go on with: erpbridge recon resume {run_id}"
        )
        raise typer.Exit(130) from None


def _report_and_repair(
    hub: Any,
    plan: FlowPlan,
    run_id: int,
    *,
    repair: bool,
    apply: bool,
    html: Path | None,
    csv: Path | None,
    as_json: bool,
) -> None:
    source, target = plan.source_connection, plan.target_connection
    with hub.store.connect() as conn:
        report = load_report(conn, run_id)
    _write_outputs(report, source, target, html, csv)
    repairs = []
    if repair and report["run"]["state"] == "done":
        repairs = (
            apply_repairs(hub.store, plan, run_id, hub.clock)
            if apply
            else plan_repairs(hub.store, run_id)
        )
        note_repairs(hub.store, run_id, "apply" if apply else "dry_run", repairs)
    if as_json:
        emit_json(
            {
                **report,
                "summary": summary_line(report, source, target),
                "repairs": repairs,
                "repair_applied": repair and apply,
            }
        )
    else:
        console.print(summary_line(report, source, target), markup=False)
        if repair:
            _print_repairs(repairs, applied=apply)
    if report["run"]["state"] != "done":
        raise typer.Exit(1)


def _plan_of(loaded: Any, flow: str) -> tuple[Any, FlowPlan]:
    if flow not in loaded.spec.flows:
        fail(f"unknown flow {flow!r} (flows: {', '.join(loaded.spec.flows) or 'none'})")
    hub = open_hub(loaded)
    plan = hub.plans.get(flow)
    if plan is None:
        fail(f"flow {flow!r} is disabled")
    return hub, plan


@recon_app.command("run")
def recon_run(
    flow: str = typer.Argument(..., help="Flow whose source and target to reconcile."),
    project: Path | None = PROJECT_OPTION,
    since: datetime | None = typer.Option(
        None, "--since", help="Only source records changed since (ISO 8601)."
    ),
    fields: str | None = typer.Option(
        None, "--fields", help="Comma-separated target fields to compare."
    ),
    tolerance: list[str] = typer.Option(
        None, "--tolerance", help="field=number, e.g. TotalNetAmount=0.01. Repeatable."
    ),
    amount: str | None = typer.Option(
        None, "--amount-field", help="Target field whose values are summed per class."
    ),
    scope: str | None = typer.Option(
        None,
        "--scope",
        help="Target records compared: all, or xref (only those with an xref of this flow).",
    ),
    target_when: str | None = typer.Option(
        None, "--target-when", help='Only target records where this holds: target.Origin == "CRM".'
    ),
    work_dir: Path | None = typer.Option(
        None, "--work-dir", help="Folder for the run's partition files (default: temp folder)."
    ),
    repair: bool = typer.Option(
        False, "--repair", help="Queue jobs that fix the differences (with --apply)."
    ),
    apply: bool = typer.Option(
        False, "--apply", help="With --repair: queue the jobs (default is a dry run)."
    ),
    html: Path | None = typer.Option(
        None, "--html", help="Write a self-contained HTML report here."
    ),
    csv: Path | None = typer.Option(None, "--csv", help="Write every difference as CSV here."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Read both sides, map the source, join on the key, classify; optionally repair.

    The flow's recon: block in the project file gives the defaults; options override it.
    Ctrl-C (or erpbridge recon cancel <run>) cancels; erpbridge recon resume <run> goes on.
    """
    loaded = load_or_exit(project)
    hub, plan = _plan_of(loaded, flow)
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    if scope is not None and scope not in ("all", "xref"):
        fail(f"--scope {scope!r}: use all or xref")
    base = recon_options(plan.spec.recon, hub.clock.now())
    options = replace(
        base,
        since=since or base.since,
        fields=[f.strip() for f in fields.split(",") if f.strip()] if fields else base.fields,
        tolerances={**base.tolerances, **_tolerances(tolerance)},
        amount_field=amount or base.amount_field,
        target_scope=scope or base.target_scope,
        target_when=target_when or base.target_when,
        work_dir=work_dir,
    )
    run_id = _reconcile(
        hub,
        plan,
        lambda progress: run_recon(
            hub.store, hub.runtime, plan, options, hub.clock, progress=progress
        ),
        as_json,
    )
    _report_and_repair(
        hub, plan, run_id, repair=repair, apply=apply, html=html, csv=csv, as_json=as_json
    )


@recon_app.command("resume")
def recon_resume(
    run_id: int = typer.Argument(..., help="A cancelled run."),
    project: Path | None = PROJECT_OPTION,
    repair: bool = typer.Option(False, "--repair", help="As for recon run."),
    apply: bool = typer.Option(False, "--apply", help="As for recon run."),
    html: Path | None = typer.Option(None, "--html"),
    csv: Path | None = typer.Option(None, "--csv"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Go on with a cancelled run; a side it had read to its end is not read again."""
    loaded = load_or_exit(project)
    store = open_store(loaded.store_url())
    with store.connect() as conn:
        run = conn.execute(sa.select(recon_runs).where(recon_runs.c.id == run_id)).first()
    if run is None:
        fail(f"no recon run {run_id}")
    if run.state != "cancelled":
        fail(f"recon run {run_id} is {run.state}; only a cancelled run can be resumed")
    hub, plan = _plan_of(loaded, str(run.flow))

    async def start(progress: Progress_) -> ReconResult:
        try:
            return await resume_recon(
                hub.store, hub.runtime, plan, run_id, hub.clock, progress=progress
            )
        except ConfigError as exc:
            fail(exc.describe())

    _reconcile(hub, plan, start, as_json)
    _report_and_repair(
        hub, plan, run_id, repair=repair, apply=apply, html=html, csv=csv, as_json=as_json
    )


@recon_app.command("cancel")
def recon_cancel(
    run_id: int = typer.Argument(..., help="A running run."),
    project: Path | None = PROJECT_OPTION,
) -> None:
    """Ask a running run to stop; it marks itself cancelled within a second or two."""
    loaded = load_or_exit(project)
    state = cancel_recon(open_store(loaded.store_url()), run_id)
    if state is None:
        fail(f"no recon run {run_id}")
    if state != "running":
        fail(f"recon run {run_id} is {state}, not running")
    console.print(f"recon run {run_id}: cancel requested")


def _print_repairs(repairs: list[dict[str, object]], *, applied: bool) -> None:
    table = Table(title="Repairs" + ("" if applied else " (dry run: add --apply to queue them)"))
    for column in ("difference", "kind", "key", "action", "job"):
        table.add_column(column)
    for repair in repairs:
        table.add_row(
            *(str(repair.get(c, "") or "") for c in ("difference", "kind", "key", "action", "job"))
        )
    console.print(table)


@recon_app.command("list")
def recon_list(
    project: Path | None = PROJECT_OPTION,
    flow: str | None = typer.Option(None, "--flow"),
    limit: int = typer.Option(20, "--limit", min=1, max=1000),
    as_json: bool = JSON_OPTION,
) -> None:
    """Recon runs, newest first, with their totals."""
    loaded = load_or_exit(project)
    store = open_store(loaded.store_url())
    query = sa.select(recon_runs).order_by(recon_runs.c.id.desc()).limit(limit)
    if flow:
        query = query.where(recon_runs.c.flow == flow)
    with store.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    if as_json:
        emit_json(rows)
        return
    table = Table(title="Recon runs")
    for column in ("id", "flow", "trigger", "state", "started_at", "match", "differences", "error"):
        table.add_column(column)
    for row in rows:
        totals = row.get("totals") or {}
        diffs = sum(int(k.get("records", 0)) for k in (totals.get("kinds") or {}).values())
        table.add_row(
            str(row["id"]),
            row["flow"],
            str((row.get("params") or {}).get("trigger", "manual")),
            row["state"],
            str(row["started_at"]),
            str(totals.get("match", "")),
            str(diffs),
            str(row.get("error") or ""),
        )
    console.print(table)


@recon_app.command("show")
def recon_show(
    run_id: int = typer.Argument(...),
    project: Path | None = PROJECT_OPTION,
    html: Path | None = typer.Option(None, "--html"),
    csv: Path | None = typer.Option(None, "--csv"),
    as_json: bool = JSON_OPTION,
) -> None:
    """One run: summary and differences (and its reports, again, from the store)."""
    loaded = load_or_exit(project)
    store = open_store(loaded.store_url())
    with store.connect() as conn:
        try:
            report = load_report(conn, run_id)
        except ConfigError as exc:
            fail(exc.describe())
    flow = str(report["run"]["flow"])
    spec = loaded.spec.flows.get(flow)
    source, target = (
        (spec.source.connection, spec.target.connection) if spec else ("source", "target")
    )
    _write_outputs(report, source, target, html, csv)
    if as_json:
        emit_json(report)
        return
    console.print(summary_line(report, source, target), markup=False)
    table = Table(title=f"Differences of run {run_id} (first 50)")
    for column in ("id", "kind", "key", "field", "expected", "actual", "accepted"):
        table.add_column(column, overflow="fold")
    for diff in report["differences"][:50]:
        table.add_row(
            *(
                json.dumps(diff[c], ensure_ascii=False)
                if isinstance(diff[c], dict | list)
                else str(diff[c] if diff[c] is not None else "")
                for c in ("id", "kind", "key", "field", "expected", "actual", "accepted")
            )
        )
    console.print(table)


@recon_app.command("accept")
def recon_accept(
    difference_ids: list[int] = typer.Argument(
        ..., help="Difference ids a person accepts as known."
    ),
    project: Path | None = PROJECT_OPTION,
) -> None:
    """Accept differences as known: they are no longer repaired."""
    from erpbridge.store.audit import append_audit

    loaded = load_or_exit(project)
    store = open_store(loaded.store_url())
    with store.begin() as conn:
        updated = conn.execute(
            recon_differences.update()
            .where(recon_differences.c.id.in_(difference_ids))
            .values(accepted=True)
        ).rowcount
        append_audit(
            conn, "cli", "recon.accept", ",".join(map(str, difference_ids)), {}, datetime.now(UTC)
        )
    console.print(f"accepted {updated}")
