"""Jiandaoyun (简道云) simulator: Open API v5 with Bearer keys and 数据推送 (see README.md).

``SIMULATOR`` is what ``erpbridge sandbox`` starts; :func:`create_app` builds the ASGI app
(seeded on first use, loaded from SQLite afterwards, wrapped in the fault middleware);
:func:`build_app` builds it over a given state (tests).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from erpbridge.sims._common.faults import FaultMiddleware, FaultResponses
from erpbridge.sims._common.persist import DocumentStore
from erpbridge.sims._common.spec import SimulatorContext, SimulatorSpec
from erpbridge.sims.jiandaoyun.app import JdySimApp
from erpbridge.sims.jiandaoyun.errors import RATE_LIMITED, error_response
from erpbridge.sims.jiandaoyun.push import PushConfig, Pusher, sign
from erpbridge.sims.jiandaoyun.ratelimit import RateLimiter
from erpbridge.sims.jiandaoyun.seed import SeedSize, seed_state
from erpbridge.sims.jiandaoyun.state import JdyState
from erpbridge.sims.jiandaoyun.widgets import APP

__all__ = [
    "JDY_FAULTS",
    "PUSH_URL_ENV",
    "RATE_LIMITS_ENV",
    "SANDBOX_API_KEY",
    "SANDBOX_PUSH_SECRET",
    "SIMULATOR",
    "JdySimApp",
    "JdyState",
    "PushConfig",
    "Pusher",
    "RateLimiter",
    "SeedSize",
    "build_app",
    "create_app",
    "seed_state",
    "sign",
]

#: the sandbox's API key and push secret (fixed, documented; never real credentials).
SANDBOX_API_KEY = "jdy-sandbox-0f3c9a5e7b2d4c18a6e1f0b9d8c7a6e5"
SANDBOX_PUSH_SECRET = "jdy-sandbox-push-5d2a8c1e"  # noqa: S105 - sandbox value
#: when set, the sandbox pushes to this URL from the start (else: ``POST /sim/push``).
PUSH_URL_ENV = "ERPBRIDGE_JIANDAOYUN_PUSH_URL"
#: ``off`` turns the documented request-rate limits off (benchmarks of the connector itself).
RATE_LIMITS_ENV = "ERPBRIDGE_JIANDAOYUN_RATE_LIMITS"

#: Jiandaoyun's own fault answers: its gateway's 502 and 429 (documented statuses),
#: and the 8303 JSON body when throttled.
JDY_FAULTS = FaultResponses(
    error=lambda: error_response(0, "网关异常 (simulated)", status=502),
    throttle=lambda retry_after_s: error_response(RATE_LIMITED, "超出请求频率限制"),
    hang=lambda: error_response(0, "网关超时 (simulated)", status=504),
    lost_reply=lambda: error_response(
        0, "网关异常 (simulated: the request was handled)", status=502
    ),
)


def build_app(
    state: JdyState,
    *,
    api_key: str = SANDBOX_API_KEY,
    pusher: Pusher | None = None,
    limiter: RateLimiter | None = None,
) -> JdySimApp:
    """The simulator app over an existing state (tests use this with a small seed)."""
    return JdySimApp(state, api_keys={api_key: None}, pusher=pusher, limiter=limiter)


def create_app(context: SimulatorContext, *, size: SeedSize | None = None) -> FaultMiddleware:
    """Open (or seed) ``jiandaoyun.sqlite`` in ``context.data_dir`` and build the faulted app."""
    store = DocumentStore(Path(context.data_dir) / "jiandaoyun.sqlite")
    state = JdyState(APP, store)
    if store.get_meta("seeded") is None or not state.load():
        seed_state(state, seed=context.seed, size=size)
        store.set_meta("seeded", str(context.seed))
    push = PushConfig(url=os.environ.get(PUSH_URL_ENV, ""), secret=SANDBOX_PUSH_SECRET)
    limits_on = os.environ.get(RATE_LIMITS_ENV, "on").strip().lower() not in ("off", "0", "false")
    app = build_app(state, pusher=Pusher(push), limiter=RateLimiter(enabled=limits_on))
    app.on_shutdown = store.close
    return FaultMiddleware(app, context.faults, seed=context.seed, responses=JDY_FAULTS)


def connection_entry(base_url: str, ca_file: Path | None) -> Mapping[str, object]:
    """The ports-file entry: what a ``jiandaoyun`` connection needs (docs/sandbox.md).

    ``push_secret`` verifies 数据推送 deliveries. The push *target* is not a connection
    setting (the real product sets it in the form designer): the sandbox takes it from
    ``ERPBRIDGE_JIANDAOYUN_PUSH_URL`` or ``POST {base_url}/sim/push`` (README.md).
    """
    entry: dict[str, object] = {
        "base_url": base_url,
        "api_key": SANDBOX_API_KEY,
        "app_id": APP.app_id,
        "push_secret": SANDBOX_PUSH_SECRET,
    }
    if ca_file is not None:
        entry["ca_file"] = str(ca_file)
    return entry


SIMULATOR = SimulatorSpec(
    name="jiandaoyun",
    create_app=create_app,
    connection_entry=connection_entry,
    needs_tls=False,
    summary="Jiandaoyun 简道云 Open API v5 (客户, 联系人, 销售订单, 售后工单, 库存) with 数据推送",
)
