"""The YonBIP open-platform simulator as an ASGI app (reference §B).

Paths (``{tokenUrl}`` = ``/iuap-api-auth``, ``{gatewayUrl}`` = ``/iuap-api-gateway``):

- ``GET /open-auth/dataCenter/getGatewayAddress?tenantId=``: the tenant's two URLs.
- ``GET {tokenUrl}/open-auth/selfAppAuth/getAccessToken`` (and ``…/base/v1/…``): token.
- ``{gatewayUrl}/yonbip/...?access_token=``: the business APIs of merchant.py,
  orders.py, products.py, credit.py (a stand-in) and applyorder.py.

Answers are HTTP 200 with ``code`` for business and token errors; an unregistered path is
HTTP 404 ``310404``, a wrong method HTTP 405 ``310405`` (reference §B2).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from erpbridge.sims.yonbip.applyorder import APPLY_API, ApplyOrderApi
from erpbridge.sims.yonbip.auth import TokenBook
from erpbridge.sims.yonbip.credit import CREDIT_API, CreditApi, set_credit_limit
from erpbridge.sims.yonbip.events import EventPublisher
from erpbridge.sims.yonbip.merchant import MerchantApi
from erpbridge.sims.yonbip.orders import OrderApi
from erpbridge.sims.yonbip.products import ProductApi
from erpbridge.sims.yonbip.state import BipState
from erpbridge.sims.yonbip.wire import ApiError, Code, envelope, json_response

__all__ = ["AUTH_PREFIX", "GATEWAY_PREFIX", "BipSimApp"]

_log = structlog.get_logger(__name__)

AUTH_PREFIX = "/iuap-api-auth"
GATEWAY_PREFIX = "/iuap-api-gateway"
_TOKEN_PATHS = (
    "/open-auth/selfAppAuth/getAccessToken",
    "/open-auth/selfAppAuth/base/v1/getAccessToken",
)
_DATA_CENTER = "/open-auth/dataCenter/getGatewayAddress"
MAX_BODY_BYTES = 10 * 1024 * 1024

_Answer = tuple[str, str, object] | object


@dataclass(frozen=True, slots=True)
class _Route:
    method: str
    handler: Callable[[Mapping[str, object], Mapping[str, str], str], _Answer]


@dataclass(slots=True)
class _Quota:
    """Calls per API and minute (the platform's free-call quota, reference §B6)."""

    per_min: int | None
    window: dict[str, tuple[int, int]] = field(default_factory=dict)

    def spend(self, api: str, minute: int) -> bool:
        if self.per_min is None:
            return True
        start, used = self.window.get(api, (minute, 0))
        if start != minute:
            start, used = minute, 0
        self.window[api] = (start, used + 1)
        return used < self.per_min


class BipSimApp:
    """The ASGI app (wrap it in the shared ``FaultMiddleware`` to inject faults).

    Args:
        state: the records.
        tokens: the app book and issued tokens.
        base_url: where clients reach this app (for the data-centre answer).
        quota_per_min: calls per API and minute before ``310046``; None = unlimited
            (the default, so benchmarks measure the simulator, not the quota).
        events: the event subscription (events.py); None publishes nothing.
    """

    def __init__(
        self,
        state: BipState,
        tokens: TokenBook,
        *,
        base_url: str = "http://127.0.0.1",
        quota_per_min: int | None = None,
        events: EventPublisher | None = None,
    ) -> None:
        self.state = state
        self.tokens = tokens
        self.base_url = base_url.rstrip("/")
        self.on_shutdown: list[Callable[[], object]] = []
        self._quota = _Quota(quota_per_min)
        merchants, orders, products = MerchantApi(state), OrderApi(state), ProductApi(state)
        credit = CreditApi(state)
        self._orders = orders
        self.events = events
        applies = ApplyOrderApi(state, events or (lambda _type, _row: None))
        self.routes: dict[str, _Route] = {
            "/yonbip/digitalModel/merchant/newlist": _Route(
                "POST", lambda b, q, a: merchants.newlist(b)
            ),
            "/yonbip/digitalModel/merchant/newBatchDetail": _Route(
                "POST", lambda b, q, a: merchants.batch_detail(b)
            ),
            "/yonbip/digitalModel/merchant/idempotent/newinsert": _Route(
                "POST", lambda b, q, a: merchants.newinsert(b, a)
            ),
            "/yonbip/digitalModel/batch/merchant/save": _Route(
                "POST", lambda b, q, a: merchants.batch_save(b)
            ),
            "/yonbip/digitalModel/product/listproductbycondition": _Route(
                "POST", lambda b, q, a: products.list_page(b)
            ),
            "/yonbip/scm/stock/QueryCurrentStocksByCondition": _Route(
                "POST", lambda b, q, a: products.current_stock(b)
            ),
            "/yonbip/sd/voucherorder/list": _Route("POST", lambda b, q, a: orders.list_page(b)),
            "/yonbip/sd/voucherorder/detail": _Route("GET", lambda b, q, a: orders.detail(q)),
            "/yonbip/sd/voucherorder/singleSave": _Route(
                "POST", lambda b, q, a: orders.single_save(b, a)
            ),
            "/yonbip/sd/voucherorder/batchaudit": _Route(
                "POST", lambda b, q, a: orders.audit(b, audit=True)
            ),
            "/yonbip/sd/voucherorder/batchunaudit": _Route(
                "POST", lambda b, q, a: orders.audit(b, audit=False)
            ),
            "/yonbip/sd/voucherorder/delete": _Route("POST", lambda b, q, a: orders.delete(b)),
            # STAND-IN, not a Yonyou API (reference §B3: no credit API found): credit.py.
            CREDIT_API: _Route("POST", lambda b, q, a: credit.list_page(b)),
            f"{APPLY_API}/singleSave_v1": _Route("POST", lambda b, q, a: applies.single_save(b, a)),
            f"{APPLY_API}/detail": _Route("GET", lambda b, q, a: applies.detail(q)),
            f"{APPLY_API}/list": _Route("POST", lambda b, q, a: applies.list_page(b)),
            f"{APPLY_API}/batchaudit": _Route(
                "POST", lambda b, q, a: applies.change_status(b, to=1)
            ),
            f"{APPLY_API}/close": _Route("POST", lambda b, q, a: applies.change_status(b, to=2)),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry: lifespan events, then one HTTP request."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        try:
            response = await self._handle(request)
        except ApiError as exc:
            response = json_response(exc.body(), exc.status)
        except Exception:  # noqa: BLE001 - process edge: never a traceback or a bare 500
            _log.exception("yonbip_sim.unexpected_error", path=request.url.path)
            response = json_response({"code": "500", "message": "服务器内部错误"}, 500)
        await response(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.events is not None:
                    await self.events.drain()
                for hook in self.on_shutdown:
                    hook()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _handle(self, request: Request) -> Response:
        path = request.url.path
        params = dict(request.query_params)
        if path == _DATA_CENTER:
            return json_response(self._data_center(params))
        if path.startswith(AUTH_PREFIX) and path[len(AUTH_PREFIX) :] in _TOKEN_PATHS:
            if request.method != "GET":
                raise ApiError(Code.WRONG_METHOD, "请求方法不支持", status=405)
            data = self.tokens.issue(params)
            return json_response(envelope(data, code=Code.AUTH_OK, message="成功！"))
        if path.startswith("/sim/"):
            return await self._control(request)
        if not path.startswith(GATEWAY_PREFIX):
            raise ApiError(Code.UNKNOWN_PATH, f"网关上没有注册此API[{path}]", status=404)
        api = path[len(GATEWAY_PREFIX) :]
        route = self.routes.get(api)
        if route is None:
            raise ApiError(Code.UNKNOWN_PATH, f"网关上没有注册此API[{api}]", status=404)
        if request.method != route.method:
            raise ApiError(Code.WRONG_METHOD, f"API[{api}]不支持{request.method}请求", status=405)
        self.tokens.check(params.get("access_token"))
        if not self._quota.spend(api, int(self.state.clock().timestamp() // 60)):
            raise ApiError(Code.RATE_LIMITED_API, "API调用次数超出限制，请稍后重试")
        body = await _body(request) if route.method == "POST" else {}
        answer = route.handler(body, params, api)
        if isinstance(answer, tuple):
            code, message, data = answer
            return json_response(envelope(data, code=code, message=message))
        return json_response(envelope(answer))

    async def _control(self, request: Request) -> Response:
        """Simulator controls (not YonBIP APIs): what a person does in YonBIP's own UI.

        ``POST /sim/credit`` ``{"customer", "creditLimit", "currency"?}`` sets a credit
        limit (the stand-in projection of credit.py); ``POST /sim/deliver``
        ``{"id"|"code"}`` marks an audited order delivered (发货); ``POST /sim/events``
        ``{"url"}`` subscribes a callback to the events (events.py; without ``url`` it
        lists the deliveries). All need a token.
        """
        controls: dict[str, Callable[[Mapping[str, object]], object]] = {
            "/sim/credit": lambda b: set_credit_limit(self.state, b),
            "/sim/deliver": self._orders.deliver,
            "/sim/events": self._subscribe,
        }
        control = controls.get(request.url.path)
        if control is None:
            raise ApiError(
                Code.UNKNOWN_PATH, f"没有此模拟器控制接口[{request.url.path}]", status=404
            )
        if request.method != "POST":
            raise ApiError(Code.WRONG_METHOD, "模拟器控制接口只支持 POST", status=405)
        self.tokens.check(request.query_params.get("access_token"))
        body = await _body(request)
        with self.state.batch():
            return json_response(envelope(control(body)))

    def _subscribe(self, body: Mapping[str, object]) -> object:
        """事件订阅: set the callback URL (``""`` stops); answers the deliveries so far."""
        if self.events is None:
            raise ApiError(Code.BUSINESS, "此模拟器没有事件订阅")
        url = body.get("url")
        if url is not None:
            if not isinstance(url, str) or (url and not url.startswith(("http://", "https://"))):
                raise ApiError(Code.BUSINESS, "url 应为 http(s) 地址或空串")
            self.events.url = url
        return {
            "url": self.events.url,
            "deliveries": [
                {
                    "eventId": d.event_id,
                    "type": d.type,
                    "id": d.record_id,
                    "attempts": d.attempts,
                    "status": d.status,
                    "delivered": d.delivered,
                }
                for d in self.events.deliveries[-100:]
            ],
        }

    def _data_center(self, params: Mapping[str, str]) -> object:
        if not params.get("tenantId"):
            raise ApiError(Code.PARAM_ERROR, "参数[tenantId]不能为空")
        return {
            "code": Code.AUTH_OK,
            "message": "成功！",
            "data": {
                "gatewayUrl": self.base_url + GATEWAY_PREFIX,
                "tokenUrl": self.base_url + AUTH_PREFIX,
            },
        }


async def _body(request: Request) -> Mapping[str, object]:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(Code.PARAM_ERROR, "请求体过大", status=413)
    if not raw.strip():
        raise ApiError(Code.PARAM_ERROR, "请求体不能为空")
    try:
        body = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(Code.PARAM_ERROR, f"请求体不是有效的JSON（{type(exc).__name__}）") from None
    if not isinstance(body, dict):
        raise ApiError(Code.PARAM_ERROR, "请求体应为JSON对象")
    return body
