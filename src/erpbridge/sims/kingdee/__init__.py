"""Kingdee K/3 Cloud (金蝶云星空) simulator: the WebAPI of DynamicFormService (see README.md).

``SIMULATOR`` is what ``erpbridge sandbox`` starts; :func:`create_app` builds the ASGI app
(seeded on first use, loaded from SQLite afterwards, wrapped in the fault middleware).
The sandbox credentials below are fixed, documented test values, never real ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

from erpbridge.sims._common.faults import FaultMiddleware
from erpbridge.sims._common.persist import DocumentStore
from erpbridge.sims._common.spec import SimulatorContext, SimulatorSpec
from erpbridge.sims.kingdee.app import KingdeeSimApp
from erpbridge.sims.kingdee.auth import Credentials, SessionBook
from erpbridge.sims.kingdee.faults import KINGDEE_FAULTS
from erpbridge.sims.kingdee.seed import SeedSize, seed_state
from erpbridge.sims.kingdee.state import KingdeeState, utc_now

__all__ = [
    "KINGDEE_FAULTS",
    "SANDBOX_ACCT_ID",
    "SANDBOX_APP_ID",
    "SANDBOX_APP_SECRET",
    "SANDBOX_PASSWORD",
    "SANDBOX_USER",
    "SIMULATOR",
    "KingdeeSimApp",
    "KingdeeState",
    "SeedSize",
    "build_app",
    "create_app",
    "sandbox_credentials",
]

#: the sandbox data centre (账套ID), integration user and third-party app (第三方系统登录授权).
SANDBOX_ACCT_ID = "66f1a2b3c4d5e6"
SANDBOX_USER = "erpbridge"
SANDBOX_PASSWORD = "Kd-Sandbox-888"  # noqa: S105 - documented sandbox credential
SANDBOX_APP_ID = "300001_ZXJwYnJpZGdlLXNhbmRib3gtYXBwLTAx"
SANDBOX_APP_SECRET = "b7e4c2a9d1f64e0c8a3b5d7f9e1c2a4b"  # noqa: S105 - documented sandbox value
#: a user that exists but is disabled (禁用), for tests of refused logins.
DISABLED_USER = "former_employee"

#: how long an idle session lives, in seconds (K/3 Cloud's default is 20 minutes [UNSURE]).
SESSION_TTL_S = 20 * 60


def sandbox_credentials() -> Credentials:
    """The tenant's data centre, users and apps."""
    return Credentials(
        acct_ids=frozenset({SANDBOX_ACCT_ID}),
        users={
            SANDBOX_USER: SANDBOX_PASSWORD,
            "demo": "Kd-Demo-888",
            DISABLED_USER: "Kd-Gone-888",
        },
        disabled_users=frozenset({DISABLED_USER}),
        apps={SANDBOX_APP_ID: SANDBOX_APP_SECRET},
    )


def build_app(
    state: KingdeeState,
    *,
    clock: Callable[[], datetime] | None = None,
    session_ttl_s: float = SESSION_TTL_S,
) -> KingdeeSimApp:
    """The simulator app over an existing state (tests use this with a small seed)."""
    sessions = SessionBook(sandbox_credentials(), clock or state.clock, session_ttl_s)
    return KingdeeSimApp(state, sessions)


def create_app(context: SimulatorContext, *, size: SeedSize | None = None) -> FaultMiddleware:
    """Open (or seed) ``kingdee.sqlite`` in ``context.data_dir`` and build the faulted app."""
    store = DocumentStore(Path(context.data_dir) / "kingdee.sqlite")
    state = KingdeeState(store, clock=utc_now)
    if store.get_meta("seeded") is None or not state.load():
        seed_state(state, seed=context.seed, size=size)
        store.set_meta("seeded", str(context.seed))
    app = build_app(state)
    app.on_shutdown.append(store.close)
    return FaultMiddleware(app, context.faults, seed=context.seed, responses=KINGDEE_FAULTS)


def connection_entry(base_url: str, ca_file: Path | None) -> Mapping[str, object]:
    """The ports-file entry: exactly what a ``kingdee`` connection needs."""
    entry: dict[str, object] = {
        "base_url": base_url.rstrip("/") + "/k3cloud/",
        "acct_id": SANDBOX_ACCT_ID,
        "username": SANDBOX_USER,
        "app_id": SANDBOX_APP_ID,
        "app_secret": SANDBOX_APP_SECRET,
        "password": SANDBOX_PASSWORD,
        "lcid": 2052,
    }
    if ca_file is not None:
        entry["ca_file"] = str(ca_file)
    return entry


SIMULATOR = SimulatorSpec(
    name="kingdee",
    create_app=create_app,
    connection_entry=connection_entry,
    needs_tls=False,
    summary="Kingdee K/3 Cloud WebAPI (客户, 物料, 销售订单, 即时库存, 信用, 采购申请)",
)
