"""Oracle Fusion Cloud simulator: ADF REST resources over HTTP Basic auth (see README.md).

``SIMULATOR`` is what ``erpbridge sandbox`` starts; :func:`create_app` builds the ASGI app
(seeded on first use, loaded from SQLite afterwards, wrapped in the fault middleware).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from starlette.responses import Response

from erpbridge.sims._common.faults import FaultMiddleware, FaultResponses
from erpbridge.sims._common.persist import DocumentStore
from erpbridge.sims._common.spec import SimulatorContext, SimulatorSpec
from erpbridge.sims.oracle.app import OracleSimApp
from erpbridge.sims.oracle.errors import ERROR_MEDIA_TYPE
from erpbridge.sims.oracle.seed import SeedSize, seed_state
from erpbridge.sims.oracle.state import OracleState

__all__ = [
    "API_VERSION",
    "ORACLE_FAULTS",
    "SANDBOX_PASSWORD",
    "SANDBOX_USER",
    "SIMULATOR",
    "OracleSimApp",
    "OracleState",
    "SeedSize",
    "build_app",
    "create_app",
]

#: the sandbox's integration user (fixed, documented; never a real credential).
SANDBOX_USER = "erpbridge.integration"
SANDBOX_PASSWORD = "Sandbox-Fusion-Welcome1"  # noqa: S105 - documented sandbox credential
API_VERSION = "11.13.18.05"


def _fault(
    status: int, title: str, detail: str, headers: Mapping[str, str] | None = None
) -> Response:
    body = {"title": title, "status": str(status), "o:errorDetails": [{"detail": detail}]}
    return Response(
        json.dumps(body),
        status_code=status,
        media_type=ERROR_MEDIA_TYPE,
        headers=dict(headers or {}),
    )


#: Fusion's own fault answers (pods throttle with 429 and answer 503/504 under load, §5).
ORACLE_FAULTS = FaultResponses(
    error=lambda: _fault(500, "Internal Server Error", "simulated server error"),
    throttle=lambda retry_after_s: _fault(
        429, "Too Many Requests", "simulated throttling", {"Retry-After": f"{retry_after_s:g}"}
    ),
    hang=lambda: _fault(504, "Gateway Timeout", "simulated timeout"),
    lost_reply=lambda: _fault(502, "Bad Gateway", "simulated: the request was handled"),
)


def build_app(
    state: OracleState,
    *,
    username: str = SANDBOX_USER,
    password: str = SANDBOX_PASSWORD,
    child_limit: int | None = None,
    auto_accounts: bool = True,
) -> OracleSimApp:
    """The simulator app over an existing state (tests use this with a small seed)."""
    return OracleSimApp(
        state,
        username=username,
        password=password,
        child_limit=child_limit,
        auto_accounts=auto_accounts,
    )


def create_app(context: SimulatorContext, *, size: SeedSize | None = None) -> FaultMiddleware:
    """Open (or seed) ``oracle.sqlite`` in ``context.data_dir`` and build the faulted app."""
    store = DocumentStore(Path(context.data_dir) / "oracle.sqlite")
    state = OracleState(store)
    if store.get_meta("seeded") is None or not state.load():
        seed_state(state, seed=context.seed, size=size)
        store.set_meta("seeded", str(context.seed))
    app = build_app(state)
    app.on_shutdown = store.close
    return FaultMiddleware(app, context.faults, seed=context.seed, responses=ORACLE_FAULTS)


def connection_entry(base_url: str, ca_file: Path | None) -> Mapping[str, object]:
    """The ports-file entry: what an ``oracle`` connection needs (docs/sandbox.md)."""
    entry: dict[str, object] = {
        "base_url": base_url,
        "username": SANDBOX_USER,
        "password": SANDBOX_PASSWORD,
        "api_version": API_VERSION,
    }
    if ca_file is not None:
        entry["ca_file"] = str(ca_file)
    return entry


SIMULATOR = SimulatorSpec(
    name="oracle",
    create_app=create_app,
    connection_entry=connection_entry,
    needs_tls=False,
    summary="Oracle Fusion Cloud REST (order hub, parties, customer accounts, items, on-hand, "
    "requisitions, credit)",
)
