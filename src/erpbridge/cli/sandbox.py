"""``erpbridge sandbox``: serve the system simulators on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from erpbridge.sims.sandbox import SIMULATORS, parse_faults, run_sandbox
from erpbridge.spi.errors import ConfigError

__all__ = ["sandbox_cmd"]


def sandbox_cmd(
    ports_file: Annotated[
        Path, typer.Option("--ports-file", help="Where to write the ports file (JSON).")
    ] = Path("sandbox.json"),
    data_dir: Annotated[
        Path,
        typer.Option(
            "--data-dir", help="Simulator data (SQLite, certificates); kept across restarts."
        ),
    ] = Path(".erpbridge/sandbox"),
    only: Annotated[
        str,
        typer.Option(
            "--only",
            help=f"Comma-separated simulators to start (known: {', '.join(SIMULATORS)}).",
        ),
    ] = "",
    seed: Annotated[int, typer.Option("--seed", help="Seed for data and fault dice.")] = 0,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            "--fault",
            help="name=value, repeatable: latency_ms, error_rate, throttle_rate, "
            "retry_after_s, hang_rate, hang_s, lost_reply_rate, path_prefix; "
            "prefix with a simulator (sap:throttle_rate=0.2) to fault only that one.",
        ),
    ] = None,
) -> None:
    """Serve the system simulators on 127.0.0.1 and write their ports file; Ctrl-C stops."""
    names = [n.strip() for n in only.split(",") if n.strip()] or None
    try:
        faults = parse_faults(fault or [], names or SIMULATORS)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--fault") from exc
    stop = threading.Event()

    def _on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_term)
    try:
        with run_sandbox(
            data_dir, only=names, seed=seed, faults=faults, ports_file=ports_file
        ) as running:
            for name, sim in running.items():
                typer.echo(f"{name:<12} {sim.base_url}")
            typer.echo(f"ports file: {ports_file}  (Ctrl-C stops)")
            try:
                while not stop.wait(0.5):
                    pass
            except KeyboardInterrupt:
                typer.echo("stopping")
    except ConfigError as exc:
        if exc.field == "only":
            raise typer.BadParameter(exc.reason, param_hint="--only") from exc
        typer.echo(f"erpbridge sandbox: {exc}", err=True)
        raise typer.Exit(2) from exc


if __name__ == "__main__":  # ``python -m erpbridge.cli.sandbox``: the command on its own
    typer.run(sandbox_cmd)
