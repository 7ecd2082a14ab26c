"""The U8 OpenAPI simulator as an ASGI app (api.yonyouup.com paths, reference §A2).

``/system/token``, ``/system/tradeid``, ``/system/result`` (async write results) and the
``/api/...`` business endpoints of records.py. Writes need ``tradeid``: a repeated tradeid
answers the first successful result without writing again. With ``async_writes`` the
write answers ``{"errcode":"0","url":…}`` and the final result is read from that URL
(the async pattern of reference §A2); otherwise the final result comes at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from urllib.parse import urlencode

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from erpbridge.sims.yonyou.auth import TokenBook, valid_tradeid
from erpbridge.sims.yonyou.records import Records
from erpbridge.sims.yonyou.state import U8State
from erpbridge.sims.yonyou.wire import Err, U8Error, json_response, ok

__all__ = ["U8SimApp"]

_log = structlog.get_logger(__name__)
MAX_BODY_BYTES = 10 * 1024 * 1024

_Read = Callable[[Mapping[str, str]], object]
_Write = Callable[[Mapping[str, object]], object]


class U8SimApp:
    """The ASGI app (wrap it in the shared ``FaultMiddleware`` to inject faults).

    Args:
        state: the records.
        tokens: apps, tenants and issued tokens.
        base_url: where clients reach this app (for async result URLs).
        async_writes: answer writes with a result URL instead of the result. Default False.
    """

    def __init__(
        self,
        state: U8State,
        tokens: TokenBook,
        *,
        base_url: str = "http://127.0.0.1",
        async_writes: bool = False,
    ) -> None:
        self.state = state
        self.tokens = tokens
        self.base_url = base_url.rstrip("/")
        self.async_writes = async_writes
        self.on_shutdown: list[Callable[[], object]] = []
        self._pending: dict[str, object] = {}  # async results by tradeid
        r = Records(state)
        self.reads: dict[str, _Read] = {
            "/api/customer/get": r.customer_get,
            "/api/customer/batch_get": r.customer_list,
            "/api/inventory/get": r.inventory_get,
            "/api/inventory/batch_get": r.inventory_list,
            "/api/currentstock/batch_get": r.stock_list,
            "/api/saleorder/get": r.order_get,
            "/api/saleorderlist/batch_get": r.order_list,
        }
        self.writes: dict[str, _Write] = {
            "/api/customer/add": lambda b: r.customer_save(b, is_new=True),
            "/api/customer/edit": lambda b: r.customer_save(b, is_new=False),
            "/api/saleorder/add": r.order_add,
            "/api/saleorder/verify": lambda b: r.order_state(b, "verify"),
            "/api/saleorder/unverify": lambda b: r.order_state(b, "unverify"),
            "/api/saleorder/close": lambda b: r.order_state(b, "close"),
            "/api/saleorder/open": lambda b: r.order_state(b, "open"),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry: lifespan events, then one HTTP request."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    for hook in self.on_shutdown:
                        hook()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        try:
            response = await self._handle(request)
        except U8Error as exc:
            response = json_response(exc.body(), exc.status)
        except Exception:  # noqa: BLE001 - process edge: never a traceback or a bare 500
            _log.exception("u8_sim.unexpected_error", path=request.url.path)
            response = json_response({"errcode": "99999", "errmsg": "系统内部错误"}, 500)
        await response(scope, receive, send)

    async def _handle(self, request: Request) -> Response:
        path = request.url.path
        params = dict(request.query_params)
        if path == "/system/token":
            return json_response(ok(token=self.tokens.issue(params)))
        if path == "/system/result":
            return json_response(self._result(params))
        if path == "/system/tradeid":
            self.tokens.check(params, needs_tenant=False)
            tradeid = self.state.next_code("tradeid", 12) + "T" + params["app_key"][:8]
            self.state.put_trade(tradeid, {"issued": True, "result": None})
            return json_response(ok(trade={"id": tradeid}))
        if path in self.reads:
            if request.method != "GET":
                raise U8Error(Err.PARAM, f"{path} 只支持 GET", status=405)
            self.tokens.check(params)
            return json_response(self.reads[path](params))
        if path in self.writes:
            if request.method != "POST":
                raise U8Error(Err.PARAM, f"{path} 只支持 POST", status=405)
            self.tokens.check(params)
            return json_response(await self._write(path, request, params))
        raise U8Error(Err.PARAM, f"接口 {path} 不存在", status=404)

    async def _write(self, path: str, request: Request, params: Mapping[str, str]) -> object:
        tradeid = params.get("tradeid", "")
        if not tradeid:
            raise U8Error(Err.TRADEID, "写操作缺少参数 tradeid")
        known = self.state.trades.get(tradeid)
        if known is None and not valid_tradeid(tradeid):
            raise U8Error(Err.TRADEID, f"tradeid {tradeid!r} 无效")
        result = known.get("result") if known else None
        if result is None:
            body = await _body(request)
            try:
                with self.state.batch():
                    answer = self.writes[path](body)
            except U8Error as exc:
                answer = exc.body()  # refusals are not remembered: fix and resend
            else:
                self.state.put_trade(tradeid, {"issued": True, "result": answer})
            result = answer
        if isinstance(result, dict):
            result = {**result, "tradeid": tradeid}
        if self.async_writes:
            self._pending[tradeid] = result
            query = urlencode({"tradeid": tradeid, "from_account": params["from_account"]})
            return ok(url=f"{self.base_url}/system/result?{query}")
        return result

    def _result(self, params: Mapping[str, str]) -> object:
        tradeid = params.get("tradeid", "")
        if tradeid not in self._pending:
            raise U8Error(Err.TRADEID, f"tradeid {tradeid!r} 没有待取的结果")
        return self._pending[tradeid]


async def _body(request: Request) -> Mapping[str, object]:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise U8Error(Err.PARAM, "请求体过大", status=413)
    try:
        body = json.loads(raw.decode("utf-8-sig")) if raw.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise U8Error(Err.PARAM, f"请求体不是有效的JSON（{type(exc).__name__}）") from None
    if not isinstance(body, dict):
        raise U8Error(Err.PARAM, "请求体应为JSON对象")
    return body
