"""``erpbridge demo``: a template project running against the simulators, end to end.

It starts the simulators the template's connections need (real HTTP on 127.0.0.1),
writes their settings into the project's ``.env``, validates the project, creates the
store, checks every connection, then runs the hub — polls, mapping, batched writes,
retries, dead letters — with live progress until the data has flowed, and prints a
summary a person can check, verified through the target system's own API.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import httpx
import sqlalchemy as sa
import typer
from rich.live import Live
from rich.table import Table

from erpbridge.cli._common import console, default_registry, fail, print_config_errors
from erpbridge.cli.demo_activity import ACTIVITIES
from erpbridge.cli.demo_cases import create_cases_needing_parts
from erpbridge.cli.demo_hooks import serving_hooks
from erpbridge.cli.demo_yonbip import SimControl, SimControlError, watch_credit
from erpbridge.config import ConfigErrors, Project, load_project
from erpbridge.config.yamlfile import load_yaml
from erpbridge.engine.hub import Hub
from erpbridge.engine.intake import poll_flow
from erpbridge.engine.plans import build_plans
from erpbridge.engine.runtime import Runtime
from erpbridge.flows.templates import template_files
from erpbridge.sims.sandbox import SIMULATORS, run_sandbox
from erpbridge.spi.connector import Connector
from erpbridge.spi.errors import ConfigError, ConnectorError, ErpBridgeError, RateLimitedError
from erpbridge.spi.records import CheckResult, Record
from erpbridge.store import current_revision, open_store, redact_url
from erpbridge.store.schema import attempts, dead_letters, jobs

__all__ = ["demo", "dotenv_lines"]

_CREDIT_WORDS = re.compile(r"credit|信用", re.IGNORECASE)

#: the demo stops waiting for the data after this long (it normally takes seconds).
DEMO_TIMEOUT_S = 100.0
#: records per flow read back through the target's own API for the summary.
VERIFY_SAMPLE = 50
#: where ``erpbridge run`` listens by default (the --keep hint).
KEEP_HOOKS_URL = "http://127.0.0.1:8080"
#: webhooks a system is sending: (sent so far, still on their way).
Deliveries = Callable[[], Awaitable[tuple[int, int]]]

#: work a template's demo does in its systems between the rounds (demo_activity.py).
Activity = Callable[[Hub], Awaitable[list[str]]]


def dotenv_lines(entries: Mapping[str, Mapping[str, object]]) -> list[str]:
    """``SYSTEM_KEY=value`` lines for every setting of every running simulator."""
    lines = ["# written by erpbridge demo from the sandbox ports file"]
    for system, entry in sorted(entries.items()):
        for key, value in entry.items():
            if value is not None:
                lines.append(f"{system.upper()}_{key.upper()}={value}")
    return lines


def _systems_of(path: Path) -> list[str]:
    """Connection types in the project file that have a simulator."""
    data = load_yaml(path).data or {}
    connections = data.get("connections") or {}
    kinds = {str(c.get("type")) for c in connections.values() if isinstance(c, dict)}
    return sorted(kinds & set(SIMULATORS))


async def _check_all(runtime: Runtime, project: Project) -> dict[str, CheckResult]:
    return {name: await runtime.connector(name).check() for name in project.connections}


def _progress(store: sa.Engine, flows: list[str]) -> tuple[Table, int]:
    table = Table(title="Flows (live)")
    for column in ("flow", "queued", "running/parked", "done", "filtered", "held", "dead letters"):
        table.add_column(column, justify="right" if column != "flow" else "left")
    open_jobs = 0
    with store.connect() as conn:
        counts: dict[tuple[str, str], int] = {}
        for flow, state, outcome, n in conn.execute(
            sa.select(jobs.c.flow, jobs.c.state, jobs.c.outcome, sa.func.count()).group_by(
                jobs.c.flow, jobs.c.state, jobs.c.outcome
            )
        ):
            key = "filtered" if outcome == "filtered" else str(state)
            counts[(str(flow), key)] = counts.get((str(flow), key), 0) + int(str(n))
    for flow in flows:
        queued = counts.get((flow, "queued"), 0)
        busy = counts.get((flow, "running"), 0) + counts.get((flow, "parked"), 0)
        open_jobs += queued + busy
        table.add_row(
            flow,
            str(queued),
            str(busy),
            str(counts.get((flow, "done"), 0)),
            str(counts.get((flow, "filtered"), 0)),
            str(counts.get((flow, "held"), 0)),
            str(counts.get((flow, "dead"), 0)),
        )
    return table, open_jobs


async def _settled(deliveries: Deliveries | None, seen: tuple[int, int]) -> bool:
    """No webhook on its way when ``seen`` was taken, and none sent since."""
    return deliveries is None or (seen[1] == 0 and await deliveries() == seen)


async def _run_until_flowed(
    hub: Hub, between: Activity | None = None, deliveries: Deliveries | None = None
) -> tuple[float, list[str]]:
    """Run intake and workers until every flow has polled and the queue is empty; then do
    the template's work in its systems (``between``, demo_activity.py), poll every flow once
    more (ERP -> CRM flows read what the CRM -> ERP flows and that work just wrote) and wait
    for the queue again. Returns the seconds it took and what ``between`` did.

    Args:
        hub: the hub.
        between: the template's work between the rounds. Default: none.
        deliveries: webhooks a system is sending to the hub: (sent so far, still being
            delivered). The queue counts as empty only while none is on its way and none
            was sent since it was looked at. Default: none expected.
    """
    notes: list[str] = []
    stop = asyncio.Event()
    started = time.monotonic()
    task = asyncio.create_task(hub.run(stop, workers=2, intake=True))
    # Flows fed by webhooks only have nothing to poll.
    polls = [
        name
        for name, plan in hub.plans.items()
        if plan.spec.source.trigger.poll_interval is not None
        or plan.spec.source.trigger.schedule is not None
    ]
    flows = polls if deliveries is None else list(hub.plans)
    try:
        with Live(console=console, refresh_per_second=4) as live:
            for round_ in (1, 2):
                if round_ == 2:
                    if between is not None:
                        notes = await between(hub)
                    for flow in polls:
                        await poll_flow(hub.store, hub.runtime, flow, hub.clock, hub.metrics)
                while time.monotonic() - started < DEMO_TIMEOUT_S:
                    await asyncio.sleep(0.5)
                    # A delivery answered 2xx is a committed job (then counted as open).
                    sent = await deliveries() if deliveries else (0, 0)
                    table, open_jobs = _progress(hub.store, flows)
                    live.update(table)
                    with hub.store.connect() as conn:
                        polled = {
                            r[0] for r in conn.execute(sa.text("select distinct flow from runs"))
                        }
                    if open_jobs == 0 and set(polls) <= polled and await _settled(deliveries, sent):
                        break
    finally:
        stop.set()
        await task
    return time.monotonic() - started, notes


def _summary(hub: Hub) -> list[str]:
    lines = []
    with hub.store.connect() as conn:
        for name, plan in hub.plans.items():
            rows: dict[str, int] = {
                str(outcome): int(str(count))
                for outcome, count in conn.execute(
                    sa.select(jobs.c.outcome, sa.func.count(sa.distinct(jobs.c.source_id)))
                    .where(jobs.c.flow == name, jobs.c.state == "done")
                    .group_by(jobs.c.outcome)
                )
            }
            written = conn.execute(
                sa.select(sa.func.count(sa.distinct(jobs.c.source_id))).where(
                    jobs.c.flow == name,
                    jobs.c.outcome.in_(("created", "updated", "unchanged")),
                )
            ).scalar_one()
            source = f"{plan.source_connection}:{plan.spec.source.object}"
            target = f"{plan.target_connection}:{plan.spec.target.object}"
            extra = _skipped(conn, name) if rows.get("filtered") else ""
            lines.append(f"{written} records {source} → {target}{extra}")
        held = conn.execute(
            sa.select(jobs.c.flow, sa.func.count(), sa.func.min(jobs.c.hold_reason))
            .where(jobs.c.state == "held")
            .group_by(jobs.c.flow)
        ).all()
        for flow, count, reason in held:
            kind = " for credit" if _CREDIT_WORDS.search(str(reason)) else ""
            lines.append(f"{count} held{kind} in {flow} (e.g. {reason}), not sent")
        dead = conn.execute(
            sa.select(dead_letters.c.flow, dead_letters.c.error_message, sa.func.count())
            .where(dead_letters.c.state == "open")
            .group_by(dead_letters.c.flow, dead_letters.c.error_message)
            .order_by(sa.func.count().desc())
            .limit(5)
        ).all()
    for flow, message, count in dead:
        lines.append(f"{count} dead letter(s) in {flow}: {message}")
    return lines


#: how the summary says why records were skipped (the attempt's class, engine/queue.py)
_SKIPPED_BY = {"when": "skipped by when:", "xref": 'skipped by an xref lookup (missing="skip")'}


def _skipped(conn: sa.Connection, flow: str) -> str:
    """``; 12 skipped by when:; 400 skipped by an xref lookup …`` for one flow."""
    counts = conn.execute(
        sa.select(attempts.c.error_class, sa.func.count(sa.distinct(jobs.c.source_id)))
        .select_from(jobs.join(attempts, attempts.c.job_id == jobs.c.id))
        .where(
            jobs.c.flow == flow,
            jobs.c.state == "done",
            jobs.c.outcome == "filtered",
            attempts.c.outcome == "filtered",
        )
        .group_by(attempts.c.error_class)
    ).all()
    by: dict[str, int] = {}
    for reason, n in counts:  # attempts before the reason was kept have none: when:
        by[str(reason or "when")] = by.get(str(reason or "when"), 0) + int(str(n))
    return "".join(f"; {by[k]} {_SKIPPED_BY.get(k, k)}" for k in sorted(by))


async def _verify_in_target(hub: Hub) -> list[str]:
    """Count, through each target's own API, the records erpbridge says it wrote."""
    lines = []
    with hub.store.connect() as conn:
        by_flow = {
            str(flow): [
                str(t)
                for (t,) in conn.execute(
                    sa.select(jobs.c.target_id)
                    .where(jobs.c.flow == flow, jobs.c.target_id.is_not(None))
                    .distinct()
                    .limit(VERIFY_SAMPLE)
                )
            ]
            for flow in hub.plans
        }
    for name, ids in by_flow.items():
        if not ids:
            continue
        plan = hub.plans[name]
        target = hub.runtime.connector(plan.target_connection)
        try:
            found = await _read_back(target, plan.spec.target.object, ids)
        except ConnectorError as exc:
            lines.append(f"{name}: could not read back from {plan.target_connection}: {exc}")
            continue
        lines.append(
            f"{name}: {len(found)} of {len(ids)} sampled records read back from "
            f"{plan.target_connection}:{plan.spec.target.object} through its own API"
        )
    return lines


async def _read_back(target: Connector, object_name: str, ids: list[str]) -> list[Record]:
    """``get()`` the ids, 20 at a time; a throttled read (the flows just used the quota, and
    简道云 allows 30 reads a second) waits and is asked again, a few times at most."""
    found: list[Record] = []
    for start in range(0, len(ids), 20):
        chunk = ids[start : start + 20]
        for attempt in range(1, 6):
            try:
                found += await target.get(object_name, chunk)
                break
            except RateLimitedError as exc:
                if attempt == 5:
                    raise
                await asyncio.sleep(min(5.0, exc.retry_after_s or 1.0))
    return found


async def _run_with_yonbip(
    hub: Hub, entry: Mapping[str, object], *, keep: bool, between: Activity | None = None
) -> tuple[float, list[str]]:
    """jdy-yonbip: the credit watch set in YonBIP, its events subscribed to a webhook
    receiver of this hub (demo_yonbip.py), then the run, waiting for the events too."""
    async with httpx.AsyncClient(timeout=30.0) as http, serving_hooks(hub) as hooks:
        control = SimControl(entry, http)
        try:
            console.print(f"[bold]5.[/] {await watch_credit(hub, control)}")
        except (SimControlError, ErpBridgeError) as exc:  # the run goes on without it
            console.print(f"[bold]5.[/] credit watch not set: {exc}", markup=False)
        try:
            if hooks is None:
                raise SimControlError("no webhook receiver could listen on 127.0.0.1")
            await control.subscribe(f"{hooks}/hooks/bip")
        except SimControlError as exc:
            console.print(f"[bold]5.[/] YonBIP events not subscribed: {exc}", markup=False)
            return await _run_until_flowed(hub, between)
        console.print(f"[bold]5.[/] YonBIP events (事件订阅) subscribed to {hooks}/hooks/bip")
        try:
            return await _run_until_flowed(hub, between, control.deliveries)
        finally:
            # Afterwards they go where `erpbridge run` listens (--keep), or nowhere.
            with contextlib.suppress(SimControlError):
                await control.subscribe(f"{KEEP_HOOKS_URL}/hooks/bip" if keep else "")


def demo(
    template: str = typer.Option(
        "sf-sap", "--template", "-t", help="Template to run (erpbridge templates lists them)."
    ),
    directory: Path | None = typer.Option(
        None, "--dir", help="Project folder (default: a temp folder)."
    ),
    keep: bool = typer.Option(False, "--keep", help="Keep the sandbox running until Ctrl-C."),
) -> None:
    """Run a template project against the simulators: data really flows, then a summary."""
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
            served = entry.get("base_url") or entry.get("gateway_url")
            console.print(f"[bold]2.[/] simulator {name} serving at {served}")
        try:
            project = load_project(workdir / "erpbridge.yaml", registry=default_registry())
            plans = build_plans(project)
        except ConfigErrors as exc:
            print_config_errors(exc.errors)
            fail("the template does not validate (a bug: please report it)")
        console.print(f"[bold]3.[/] project validated: {len(plans)} flows")
        url = project.store_url()
        try:
            store = open_store(url)
        except ConfigError as exc:
            fail(exc.describe())
        console.print(f"[bold]4.[/] store {redact_url(url)} at schema {current_revision(store)}")
        hub = Hub(project, store, Runtime(project, default_registry()), plans)

        async def go() -> tuple[dict[str, CheckResult], float, list[str]]:
            try:
                checks = await _check_all(hub.runtime, project)
                bad = [f"{n}: {r.reason}" for n, r in checks.items() if not r.ok]
                if bad:
                    return checks, 0.0, []
                for name in checks:
                    console.print(f"[bold]5.[/] connection {name}: ok")
                if "requisitions-to-sap" in plans:  # after-sales: cases that name a part
                    made = await create_cases_needing_parts(hub.runtime)
                    console.print(f"[bold]5.[/] {made} service cases needing parts created")
                between = ACTIVITIES.get(template)
                if "yonbip" in entries and "requisitions-from-yonbip" in plans:
                    elapsed, notes = await _run_with_yonbip(
                        hub, entries["yonbip"], keep=keep, between=between
                    )
                else:
                    elapsed, notes = await _run_until_flowed(hub, between)
                return checks, elapsed, notes + await _verify_in_target(hub)
            finally:
                await hub.runtime.aclose()

        checks, elapsed, verified = asyncio.run(go())
        failed = [f"{n}: {r.reason}" for n, r in checks.items() if not r.ok]
        if failed:
            fail("connection check failed: " + "; ".join(failed))
        console.print(f"\n[bold]6.[/] data flowed in {elapsed:.1f}s")
        console.rule("Summary")
        summary = _summary(hub)
        for line in summary + verified:
            console.print("  " + line, markup=False)
        if any(" held" in line for line in summary):
            approve = (
                "信用审批 通过 on the 简道云 销售订单"
                if template.startswith("jdy-")
                else "Credit Approved on the Salesforce order"
            )
            console.print(
                f"\nHeld jobs: erpbridge jobs held -p {workdir}; write one anyway with "
                f"erpbridge jobs release ID -p {workdir}, end it with erpbridge jobs reject ID "
                f"(or approve the record in its system: {approve})."
            )
        console.print(
            f"\nLook further: erpbridge dlq list -p {workdir} · erpbridge runs -p {workdir} · "
            f"erpbridge jobs -p {workdir} · ports file {workdir / 'sandbox.json'}"
        )
        console.print(f"Done in {time.monotonic() - started:.1f}s.")
        if keep:
            console.print(
                f"Sandbox running; try `erpbridge run -p {workdir}` in another shell "
                f"(metrics at {KEEP_HOOKS_URL}/metrics, webhooks at {KEEP_HOOKS_URL}/hooks/"
                "<connection>). Ctrl-C stops."
            )
            if "yonbip" in entries and "requisitions-from-yonbip" in plans:
                console.print(f"YonBIP's events now go to {KEEP_HOOKS_URL}/hooks/bip.")
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
        store.dispose()
    if directory is None and not keep:
        shutil.rmtree(workdir / "sandbox", ignore_errors=True)
