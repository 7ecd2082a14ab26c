"""Yonyou U8 / U8+ OpenAPI (api.yonyouup.com) simulator (see README.md).

``SIMULATOR`` is what ``erpbridge sandbox`` starts as ``yonyou``; :func:`create_app`
builds the ASGI app (seeded on first use, loaded from SQLite afterwards, wrapped in the
fault middleware). The sandbox credentials below are fixed, documented test values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

from starlette.responses import Response

from erpbridge.sims._common.faults import FaultMiddleware, FaultResponses
from erpbridge.sims._common.persist import DocumentStore
from erpbridge.sims._common.spec import SimulatorContext, SimulatorSpec
from erpbridge.sims.yonyou.app import U8SimApp
from erpbridge.sims.yonyou.auth import Apps, TokenBook
from erpbridge.sims.yonyou.seed import SeedSize, seed_state
from erpbridge.sims.yonyou.state import U8State, utc_now
from erpbridge.sims.yonyou.wire import Err, json_response

__all__ = [
    "SANDBOX_APP_KEY",
    "SANDBOX_APP_SECRET",
    "SANDBOX_FROM_ACCOUNT",
    "SANDBOX_TO_ACCOUNT",
    "SIMULATOR",
    "U8_FAULTS",
    "SeedSize",
    "U8SimApp",
    "U8State",
    "build_app",
    "create_app",
]

SANDBOX_FROM_ACCOUNT = "erpbridge_isv"
SANDBOX_APP_KEY = "opa8f3c2d1e0b9a7c6d5"
SANDBOX_APP_SECRET = "u8s-3f9e2c7a1b5d4e8f"  # noqa: S105 - documented sandbox value
SANDBOX_TO_ACCOUNT = "lanhai_u8"


def sandbox_apps() -> Apps:
    """The registered app and the enterprise account that authorised it."""
    return Apps(
        secrets={(SANDBOX_FROM_ACCOUNT, SANDBOX_APP_KEY): SANDBOX_APP_SECRET},
        tenants=frozenset({SANDBOX_TO_ACCOUNT}),
    )


def _error(status: int, errcode: str, errmsg: str) -> Response:
    return json_response({"errcode": errcode, "errmsg": errmsg}, status)


#: U8 OpenAPI fault answers [U: the platform's own shapes are undocumented]: JSON
#: ``errcode``/``errmsg`` with HTTP 500, throttling as HTTP 200 ``40029``, a hang ends in
#: a 504, a lost reply is a 502 after the write took effect.
U8_FAULTS = FaultResponses(
    error=lambda: _error(500, "99999", "系统内部错误（模拟）"),
    throttle=lambda _s: _error(200, Err.RATE_LIMITED, "调用频率超过限制（模拟）"),
    hang=lambda: _error(504, "99998", "网关超时（模拟）"),
    lost_reply=lambda: _error(502, "99997", "网关错误（模拟：请求已处理）"),
)


def build_app(
    state: U8State,
    *,
    clock: Callable[[], datetime] | None = None,
    base_url: str = "http://127.0.0.1",
    token_ttl_s: float = 7200,
    async_writes: bool = False,
) -> U8SimApp:
    """The simulator app over an existing state (tests use this with a small seed)."""
    tokens = TokenBook(sandbox_apps(), clock or state.clock, token_ttl_s)
    return U8SimApp(state, tokens, base_url=base_url, async_writes=async_writes)


def create_app(context: SimulatorContext, *, size: SeedSize | None = None) -> FaultMiddleware:
    """Open (or seed) ``yonyou.sqlite`` in ``context.data_dir`` and build the faulted app."""
    store = DocumentStore(Path(context.data_dir) / "yonyou.sqlite")
    state = U8State(store, clock=utc_now)
    if store.get_meta("seeded") is None or not state.load():
        seed_state(state, seed=context.seed, size=size)
        store.set_meta("seeded", str(context.seed))
    app = build_app(state, base_url=context.base_url)
    app.on_shutdown.append(store.close)
    return FaultMiddleware(app, context.faults, seed=context.seed, responses=U8_FAULTS)


def connection_entry(base_url: str, ca_file: Path | None) -> Mapping[str, object]:
    """The ports-file entry: exactly what a ``yonyou`` connection needs."""
    entry: dict[str, object] = {
        "base_url": base_url.rstrip("/"),
        "from_account": SANDBOX_FROM_ACCOUNT,
        "to_account": SANDBOX_TO_ACCOUNT,
        "app_key": SANDBOX_APP_KEY,
        "app_secret": SANDBOX_APP_SECRET,
    }
    if ca_file is not None:
        entry["ca_file"] = str(ca_file)
    return entry


SIMULATOR = SimulatorSpec(
    name="yonyou",
    create_app=create_app,
    connection_entry=connection_entry,
    needs_tls=False,
    summary="Yonyou U8 / U8+ OpenAPI (客户, 存货, 现存量, 销售订单 with tradeid)",
)
