"""``erpbridge run | serve | worker | sync``: the hub's processes and the manual trigger."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from datetime import datetime
from pathlib import Path

import typer
import uvicorn

from erpbridge.api.app import create_app
from erpbridge.cli._common import (
    PROJECT_OPTION,
    console,
    default_registry,
    fail,
    load_or_exit,
    print_config_errors,
)
from erpbridge.config import ConfigErrors, Project
from erpbridge.engine.hold_recheck import recheck_held
from erpbridge.engine.hub import Hub
from erpbridge.engine.intake import sync_flow
from erpbridge.engine.jobs import Trigger
from erpbridge.engine.plans import build_plans
from erpbridge.engine.runtime import Runtime
from erpbridge.log import get_logger
from erpbridge.spi.errors import ConfigError, ErpBridgeError
from erpbridge.store import open_store, redact_url

__all__ = ["open_hub", "run_cmd", "serve_cmd", "sync_cmd", "worker_cmd"]

log = get_logger("cli.engine")

HOST_OPTION = typer.Option("127.0.0.1", "--host", help="Address to listen on.")
PORT_OPTION = typer.Option(8080, "--port", help="Port to listen on (0: any free port).")
WORKERS_OPTION = typer.Option(
    1, "--workers", "-w", min=1, max=64, help="Worker loops in this process."
)


def open_hub(project: Project) -> Hub:
    """Store (migrated), runtime and compiled flows of ``project``; exits 1 on any problem."""
    url = project.store_url()
    try:
        store = open_store(url)
    except ConfigError as exc:
        fail(exc.describe())
    try:
        plans = build_plans(project)
    except ConfigErrors as exc:
        print_config_errors(exc.errors)
        fail("the project's mappings do not compile")
    runtime = Runtime(project, default_registry())
    log.info("hub.opened", store=redact_url(url), flows=len(plans))
    return Hub(project, store, runtime, plans)


async def _serve_until(
    hub: Hub, stop: asyncio.Event, host: str, port: int, *, workers: int, intake: bool, api: bool
) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(hub.run(stop, workers=workers, intake=intake))]
    server = None
    if api:
        config = uvicorn.Config(
            create_app(hub), host=host, port=port, log_level="warning", lifespan="off"
        )
        server = uvicorn.Server(config)
        # Our handlers stop workers and server together; uvicorn must not take the signals.
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        tasks.append(asyncio.create_task(server.serve()))
        while not server.started and not tasks[-1].done():  # noqa: ASYNC110 - uvicorn exposes a flag only
            await asyncio.sleep(0.05)
        if server.started:
            bound = [s.getsockname() for srv in server.servers for s in srv.sockets]
            for address in bound:
                console.print(
                    f"listening on http://{address[0]}:{address[1]} "
                    "(webhooks at /hooks/<connection>, /metrics)"
                )
    await stop.wait()
    if server is not None:
        server.should_exit = True
    await asyncio.gather(*tasks, return_exceptions=True)
    await hub.runtime.aclose()


def _run(
    project: Path | None, host: str, port: int, *, workers: int, intake: bool, api: bool
) -> None:
    hub = open_hub(load_or_exit(project))
    if not hub.plans:
        fail("no enabled flows to run")
    console.print(
        f"erpbridge: {len(hub.plans)} flows, {'intake, ' if intake else ''}{workers} "
        "worker(s); Ctrl-C or SIGTERM stops"
    )
    asyncio.run(
        _serve_until(hub, asyncio.Event(), host, port, workers=workers, intake=intake, api=api)
    )
    console.print("stopped")


def run_cmd(
    project: Path | None = PROJECT_OPTION,
    host: str = HOST_OPTION,
    port: int = PORT_OPTION,
    workers: int = WORKERS_OPTION,
) -> None:
    """Run everything in one process: scheduler, webhook receiver, metrics and workers."""
    _run(project, host, port, workers=workers, intake=True, api=True)


def serve_cmd(
    project: Path | None = PROJECT_OPTION,
    host: str = HOST_OPTION,
    port: int = PORT_OPTION,
) -> None:
    """Run intake only: scheduler (polls, cron), webhook receiver, health and metrics."""
    _run(project, host, port, workers=0, intake=True, api=True)


def worker_cmd(
    project: Path | None = PROJECT_OPTION,
    workers: int = WORKERS_OPTION,
) -> None:
    """Run workers only (scale out on a PostgreSQL store: start as many as you need)."""
    _run(project, "127.0.0.1", 0, workers=workers, intake=False, api=False)


def sync_cmd(
    flow: str = typer.Argument(..., help="Flow to sync."),
    project: Path | None = PROJECT_OPTION,
    since: datetime | None = typer.Option(
        None, "--since", help="Only records changed since (ISO 8601, UTC if no zone)."
    ),
    ids: str | None = typer.Option(None, "--ids", help="Comma-separated source record ids."),
    wait: bool = typer.Option(False, "--wait", help="Also work the queued jobs before returning."),
    force: bool = typer.Option(
        False, "--force", help="Write even records whose payload equals the last one written."
    ),
    recheck: bool = typer.Option(
        False,
        "--recheck",
        help="Instead of reading the source, check the flow's held jobs again now "
        "(credit may have freed up); those that pass are queued.",
    ),
) -> None:
    """Queue a flow's records now: by id, changed since a time, or all (a full resync)."""
    loaded = load_or_exit(project)
    if flow not in loaded.spec.flows:
        fail(f"unknown flow {flow!r} (flows: {', '.join(loaded.spec.flows) or 'none'})")
    if recheck and loaded.spec.flows[flow].hold is None:
        fail(f"flow {flow!r} has no hold: to recheck")
    hub = open_hub(loaded)
    if since is not None and since.tzinfo is None:
        from datetime import UTC

        since = since.replace(tzinfo=UTC)
    id_list = [i.strip() for i in ids.split(",") if i.strip()] if ids else None

    async def go() -> None:
        try:
            if recheck:
                checked = await recheck_held(
                    hub.store, hub.runtime, hub.plans, hub.clock, flows=[flow], due_only=False
                )
                console.print(
                    f"{flow}: {checked.released} released, {checked.held} still held"
                    + (f", {checked.failed} not checked (reads failed)" if checked.failed else "")
                )
            else:
                trigger = Trigger.RESYNC if force else Trigger.MANUAL
                result = await sync_flow(
                    hub.store,
                    hub.runtime,
                    flow,
                    hub.clock,
                    ids=id_list,
                    since=since,
                    trigger=trigger,
                )
                known = result.duplicates + result.stale
                skipped = f", {result.filtered} skipped (when: false)" if result.filtered else ""
                console.print(f"{flow}: {result.queued} queued, {known} already known{skipped}")
            if wait:
                from erpbridge.engine.worker import Worker

                worker = Worker(
                    hub.store, hub.runtime, hub.plans, clock=hub.clock, metrics=hub.metrics
                )
                worked = 0
                while (n := await worker.run_once()) > 0:
                    worked += n
                console.print(f"worked {worked} jobs")
        finally:
            await hub.runtime.aclose()

    try:
        asyncio.run(go())
    except ErpBridgeError as exc:
        fail(str(exc))
