"""SAP S/4HANA simulator: OData V2 services over HTTP Basic auth with CSRF (see README.md).

``SIMULATOR`` is what ``erpbridge sandbox`` starts; :func:`create_app` builds the ASGI app
(seeded on first use, loaded from SQLite afterwards, wrapped in the fault middleware).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from erpbridge.sims._common.faults import FaultMiddleware
from erpbridge.sims._common.persist import DocumentStore
from erpbridge.sims._common.spec import SimulatorContext, SimulatorSpec
from erpbridge.sims.sap.app import SapSimApp
from erpbridge.sims.sap.faults import SAP_FAULTS
from erpbridge.sims.sap.seed import SeedSize, seed_state
from erpbridge.sims.sap.state import SapState

__all__ = [
    "SANDBOX_PASSWORD",
    "SANDBOX_USER",
    "SAP_FAULTS",
    "SIMULATOR",
    "SapSimApp",
    "SeedSize",
    "build_app",
    "create_app",
]

#: environment variable: wall-clock seconds per simulated business day (unset: manual ticks).
DAY_ENV = "ERPBRIDGE_SAP_DAY_S"

#: the sandbox's communication user (fixed, documented; never a real credential).
SANDBOX_USER = "CC_ERPBRIDGE"
SANDBOX_PASSWORD = "Sandbox-S4H-Welcome1"  # noqa: S105 - documented sandbox credential


def build_app(
    state: SapState,
    *,
    username: str = SANDBOX_USER,
    password: str = SANDBOX_PASSWORD,
    max_page_size: int = 1000,
    day_s: float | None = None,
) -> SapSimApp:
    """The simulator app over an existing state (tests use this with a small seed)."""
    return SapSimApp(
        state, username=username, password=password, max_page_size=max_page_size, day_s=day_s
    )


def _day_s_from_env() -> float | None:
    """``ERPBRIDGE_SAP_DAY_S``: seconds per simulated business day in the sandbox."""
    raw = os.environ.get(DAY_ENV, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{DAY_ENV}={raw!r} is not a number of seconds") from None
    if value <= 0:
        raise ValueError(f"{DAY_ENV}={raw!r} must be positive")
    return value


def create_app(context: SimulatorContext, *, size: SeedSize | None = None) -> FaultMiddleware:
    """Open (or seed) ``sap.sqlite`` in ``context.data_dir`` and build the faulted app."""
    store = DocumentStore(Path(context.data_dir) / "sap.sqlite")
    state = SapState(store)
    if store.get_meta("seeded") is None or not state.load():
        seed_state(state, seed=context.seed, size=size)
        store.set_meta("seeded", str(context.seed))
    app = build_app(state, day_s=_day_s_from_env())
    app.on_shutdown = store.close
    return FaultMiddleware(app, context.faults, seed=context.seed, responses=SAP_FAULTS)


def connection_entry(base_url: str, ca_file: Path | None) -> Mapping[str, object]:
    """The ports-file entry: what a ``sap`` connection needs (docs/sandbox.md)."""
    entry: dict[str, object] = {
        "base_url": base_url,
        "username": SANDBOX_USER,
        "password": SANDBOX_PASSWORD,
    }
    if ca_file is not None:
        entry["ca_file"] = str(ca_file)
    return entry


SIMULATOR = SimulatorSpec(
    name="sap",
    create_app=create_app,
    connection_entry=connection_entry,
    needs_tls=False,
    summary="SAP S/4HANA OData V2 (business partner, sales order, product, stock, credit)",
)
