"""YonBIP / YonSuite (用友 BIP) open-platform simulator (see README.md).

``SIMULATOR`` is what ``erpbridge sandbox`` starts; :func:`create_app` builds the ASGI app
(seeded on first use, loaded from SQLite afterwards, wrapped in the fault middleware).
The sandbox app key and secret below are fixed, documented test values, never real ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

from starlette.responses import HTMLResponse, Response

from erpbridge.sims._common.faults import FaultMiddleware, FaultResponses
from erpbridge.sims._common.persist import DocumentStore
from erpbridge.sims._common.spec import SimulatorContext, SimulatorSpec
from erpbridge.sims.yonbip.app import AUTH_PREFIX, GATEWAY_PREFIX, BipSimApp
from erpbridge.sims.yonbip.auth import AppBook, TokenBook, sign
from erpbridge.sims.yonbip.events import EventPublisher
from erpbridge.sims.yonbip.seed import SeedSize, seed_state
from erpbridge.sims.yonbip.state import BipState, utc_now
from erpbridge.sims.yonbip.wire import Code, json_response

__all__ = [
    "DISABLED_APP_KEY",
    "SANDBOX_APP_KEY",
    "SANDBOX_APP_SECRET",
    "SANDBOX_TENANT_ID",
    "SIMULATOR",
    "YONBIP_FAULTS",
    "BipSimApp",
    "BipState",
    "SeedSize",
    "build_app",
    "create_app",
    "sign",
]

#: the sandbox tenant and its self-built app (自建应用).
SANDBOX_TENANT_ID = "k8x2m4q7"
SANDBOX_APP_KEY = "41832a3d2df94989b500da6a22268747"
SANDBOX_APP_SECRET = "e0b6a1f3c9d24c7e8f5a2b4d6c8e0f19"  # noqa: S105 - documented sandbox value
#: an app that exists but is disabled (停用), for tests of refused token requests.
DISABLED_APP_KEY = "5f0c1e2d3b4a49788695a4b3c2d1e0f9"


def sandbox_apps() -> AppBook:
    """The tenant's self-built apps."""
    return AppBook(
        apps={
            SANDBOX_APP_KEY: SANDBOX_APP_SECRET,
            DISABLED_APP_KEY: "c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8",
        },
        disabled=frozenset({DISABLED_APP_KEY}),
    )


#: YonBIP's fault answers [U: the gateway's own 5xx and throttle shapes are undocumented]:
#: a 500 with a JSON envelope, throttling as HTTP 200 ``310046`` without ``Retry-After``
#: (the platform sends none, reference §B6), a hang ends in ``310504``, a lost reply is an
#: nginx-style 502 page.
YONBIP_FAULTS = FaultResponses(
    error=lambda: json_response({"code": "500", "message": "服务器内部错误（模拟）"}, 500),
    throttle=lambda _retry_after_s: json_response(
        {"code": Code.RATE_LIMITED_API, "message": "API调用次数超出限制，请稍后重试（模拟）"}
    ),
    hang=lambda: json_response({"code": Code.GATEWAY_TIMEOUT, "message": "API调用超时（模拟）"}),
    lost_reply=lambda: _html(502, "502 Bad Gateway"),
)


def _html(status: int, title: str) -> Response:
    body = (
        f"<html><head><title>{title}</title></head><body><center><h1>{title}</h1>"
        "</center><hr><center>nginx</center></body></html>"
    )
    return HTMLResponse(body, status_code=status)


def build_app(
    state: BipState,
    *,
    clock: Callable[[], datetime] | None = None,
    base_url: str = "http://127.0.0.1",
    token_ttl_s: float = 7200,
    quota_per_min: int | None = None,
) -> BipSimApp:
    """The simulator app over an existing state (tests use this with a small seed)."""
    tokens = TokenBook(sandbox_apps(), clock or state.clock, token_ttl_s)
    # 事件订阅 belongs to an app: the sandbox app's secret encrypts and signs the events.
    events = EventPublisher(SANDBOX_APP_KEY, SANDBOX_APP_SECRET, SANDBOX_TENANT_ID)
    return BipSimApp(state, tokens, base_url=base_url, quota_per_min=quota_per_min, events=events)


def create_app(context: SimulatorContext, *, size: SeedSize | None = None) -> FaultMiddleware:
    """Open (or seed) ``yonbip.sqlite`` in ``context.data_dir`` and build the faulted app."""
    store = DocumentStore(Path(context.data_dir) / "yonbip.sqlite")
    state = BipState(store, clock=utc_now)
    if store.get_meta("seeded") is None or not state.load():
        seed_state(state, seed=context.seed, size=size)
        store.set_meta("seeded", str(context.seed))
    app = build_app(state, base_url=context.base_url)
    app.on_shutdown.append(store.close)
    return FaultMiddleware(app, context.faults, seed=context.seed, responses=YONBIP_FAULTS)


def connection_entry(base_url: str, ca_file: Path | None) -> Mapping[str, object]:
    """The ports-file entry: exactly what a ``yonbip`` connection needs."""
    root = base_url.rstrip("/")
    entry: dict[str, object] = {
        "gateway_url": root + GATEWAY_PREFIX,
        "token_url": root + AUTH_PREFIX,
        "app_key": SANDBOX_APP_KEY,
        "app_secret": SANDBOX_APP_SECRET,
    }
    if ca_file is not None:
        entry["ca_file"] = str(ca_file)
    return entry


SIMULATOR = SimulatorSpec(
    name="yonbip",
    create_app=create_app,
    connection_entry=connection_entry,
    needs_tls=False,
    summary="YonBIP / YonSuite open API (客户 merchant, 物料, 销售订单 voucherorder, 现存量, "
    "请购单 applyorder, 事件订阅; credit as a labelled stand-in)",
)
