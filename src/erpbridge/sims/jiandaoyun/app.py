"""The Jiandaoyun simulator as an ASGI app: Bearer API keys, rate limits, the v5 endpoints.

Front door copied from the developer guide (reference §1, §5): every endpoint is a POST
under ``/api/v5/`` with a UTF-8 JSON body and ``Authorization: Bearer <APIKEY>``; every
error is HTTP 400 with ``{"code", "msg"}``. A missing or unknown key is answered 400 with
code 8301 (the real code is not public; see errors.py).

Simulator controls (not part of Jiandaoyun, need a valid key):
``POST /sim/push`` ``{"url", "secret"?, "events"?}`` sets the data-push target of every form
(表单设置 → 数据推送; a missing ``secret`` keeps the current one, ``""`` turns signing
off); ``GET /sim/push`` shows the target (never the secret) and the last deliveries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from erpbridge.sims.jiandaoyun.errors import BAD_KEY, INVALID_REQUEST, JdyError, error_response
from erpbridge.sims.jiandaoyun.handlers import HANDLERS, Call
from erpbridge.sims.jiandaoyun.push import ALL_EVENTS, PushConfig, Pusher
from erpbridge.sims.jiandaoyun.ratelimit import RateLimiter
from erpbridge.sims.jiandaoyun.state import JdyState

__all__ = ["API_PREFIX", "JdySimApp"]

_log = structlog.get_logger(__name__)

API_PREFIX = "/api/v5/"
#: bodies larger than this are refused (the product's gateway has a limit too).
MAX_BODY_BYTES = 8 * 1024 * 1024


class JdySimApp:
    """The ASGI app (wrap it in the shared ``FaultMiddleware`` to inject faults).

    Args:
        state: the records (loaded or seeded by the caller).
        api_keys: valid keys -> the app ids each may use (None = every app).
        pusher: the data push; also added to the state's listeners. Default: push off.
        limiter: request-rate limits. Default: the documented limits on real time.
    """

    def __init__(
        self,
        state: JdyState,
        *,
        api_keys: Mapping[str, frozenset[str] | None],
        pusher: Pusher | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.state = state
        self.pusher = pusher or Pusher()
        self.limiter = limiter or RateLimiter()
        state.listeners.append(self.pusher)
        # Keys are compared by digest so the key itself is not kept as a dict key in logs.
        self._keys = {_digest(k): apps for k, apps in api_keys.items()}
        #: called on ASGI lifespan shutdown (create_app closes the SQLite store here).
        self.on_shutdown: Callable[[], None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI call."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        try:
            response = await self._answer(request)
        except JdyError as exc:
            response = error_response(exc.code, exc.msg, status=exc.status)
        except Exception as exc:  # noqa: BLE001 - process edge: never leak a traceback
            _log.exception("jdy_sim.request_failed", path=request.url.path)
            response = error_response(0, f"服务器内部错误 ({type(exc).__name__})", status=500)
        await response(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.pusher.drain()
                if self.on_shutdown is not None:
                    self.on_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _answer(self, request: Request) -> Response:
        path = request.url.path
        is_api = path.startswith(API_PREFIX)
        if not is_api and not path.startswith("/sim/"):
            return error_response(INVALID_REQUEST, f"接口不存在: {path}", status=404)
        key_id, allowed = self._authenticate(request)
        if path.startswith("/sim/"):
            return await self._control(request)
        endpoint = path[len(API_PREFIX) :].strip("/")
        handler = HANDLERS.get(endpoint)
        if handler is None:
            return error_response(INVALID_REQUEST, f"接口不存在: {path}", status=404)
        if request.method != "POST":
            return error_response(INVALID_REQUEST, "接口只支持 POST 请求", status=405)
        self.limiter.check(key_id, endpoint)
        body = await _json_body(request)
        return _json(handler(Call(self.state, body, allowed)))

    def _authenticate(self, request: Request) -> tuple[str, frozenset[str] | None]:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise JdyError(BAD_KEY, "缺少 API Key，请在请求头设置 Authorization: Bearer <APIKEY>")
        digest = _digest(token)
        for known, apps in self._keys.items():
            if hmac.compare_digest(known, digest):
                return known[:12], apps
        raise JdyError(BAD_KEY, "API Key 无效或已停用")

    async def _control(self, request: Request) -> Response:
        if request.url.path != "/sim/push":
            return error_response(INVALID_REQUEST, f"接口不存在: {request.url.path}", status=404)
        if request.method == "GET":
            config = self.pusher.config
            return _json(
                {
                    "url": config.url,
                    "has_secret": bool(config.secret),
                    "events": sorted(config.events),
                    "deliveries": [
                        {
                            "deliver_id": d.deliver_id,
                            "op": d.op,
                            "data_id": d.data_id,
                            "attempts": d.attempts,
                            "status": d.status,
                            "delivered": d.delivered,
                        }
                        for d in self.pusher.deliveries[-100:]
                    ],
                }
            )
        if request.method != "POST":
            return error_response(INVALID_REQUEST, "只支持 GET 或 POST", status=405)
        body = await _json_body(request)
        self.pusher.configure(_push_config(body, self.pusher.config))
        return _json({"status": "success"})


def _push_config(body: Mapping[str, object], current: PushConfig) -> PushConfig:
    """New push settings; a ``secret`` left out keeps the current one."""
    url, secret = body.get("url", ""), body.get("secret", current.secret)
    events = body.get("events", sorted(ALL_EVENTS))
    if not isinstance(url, str) or (url and not url.startswith(("http://", "https://"))):
        raise JdyError(INVALID_REQUEST, "url 必须是 http:// 或 https:// 地址")
    if not isinstance(secret, str):
        raise JdyError(INVALID_REQUEST, "secret 必须是字符串")
    if not isinstance(events, list) or not set(events) <= ALL_EVENTS:
        raise JdyError(INVALID_REQUEST, f"events 只能包含 {sorted(ALL_EVENTS)}")
    return PushConfig(url=url, secret=secret, events=frozenset(events))


async def _json_body(request: Request) -> Mapping[str, object]:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise JdyError(INVALID_REQUEST, "请求体过大")
    try:
        body = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JdyError(INVALID_REQUEST, f"请求体不是合法的 UTF-8 JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise JdyError(INVALID_REQUEST, "请求体必须是 JSON 对象")
    return body


def _json(answer: object) -> Response:
    return JSONResponse(answer, media_type="application/json;charset=utf-8")


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
