"""What a simulator package exports: ``SIMULATOR = SimulatorSpec(...)``.

The sandbox and the tests know a simulator only through this spec: how to build its ASGI
app, whether it must serve HTTPS, and which settings a connection to it needs (its entry in
the ports file, docs/sandbox.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from starlette.types import ASGIApp

from erpbridge.sims._common.faults import FaultConfig

__all__ = ["AppFactory", "ConnectionEntryFactory", "SimulatorContext", "SimulatorSpec"]


@dataclass(frozen=True, slots=True)
class SimulatorContext:
    """Everything a simulator needs to build its app for one run.

    Attributes:
        data_dir: a directory the simulator owns (its SQLite file lives here); created
            by the caller. Data found there from an earlier run is kept.
        seed: seeds both the generated data and the fault dice, so runs are reproducible.
        faults: the faults to inject this run (``FaultConfig()`` = none).
        base_url: the URL clients reach the simulator at (``https://127.0.0.1:50123``),
            known before the app is built because the server binds its socket first.
            Simulators put it into answers that carry absolute URLs (login results).
    """

    data_dir: Path
    seed: int = 0
    faults: FaultConfig = field(default_factory=FaultConfig)
    base_url: str = "http://127.0.0.1"


class AppFactory(Protocol):
    """Builds a simulator's ASGI app for one run."""

    def __call__(self, context: SimulatorContext) -> ASGIApp:
        """Return the app; may seed ``context.data_dir`` on first use."""
        ...


class ConnectionEntryFactory(Protocol):
    """Builds a simulator's ports-file entry (settings a connection needs)."""

    def __call__(self, base_url: str, ca_file: Path | None) -> Mapping[str, object]:
        """Return JSON-ready settings, e.g. ``{"base_url", "username", "password", "ca_file"}``."""
        ...


@dataclass(frozen=True, slots=True)
class SimulatorSpec:
    """A simulator as the sandbox sees it.

    Attributes:
        name: short system name, the key in the ports file (``salesforce``, ``sap``).
        create_app: builds the ASGI app from a :class:`SimulatorContext`.
        connection_entry: the ports-file entry for a running instance.
        needs_tls: serve HTTPS with a generated certificate (clients that hard-code
            ``https://``, like simple-salesforce). Default False.
        summary: one line for ``erpbridge sandbox --help`` and the docs.
    """

    name: str
    create_app: AppFactory
    connection_entry: ConnectionEntryFactory
    needs_tls: bool = False
    summary: str = ""
