"""Wire calls to the U8 OpenAPI: token, tradeid, async results, one token refresh.

Every call carries ``from_account, to_account, app_key, token`` (and ``ds_sequence`` when
set) as query parameters. The token comes from ``/system/token`` and is kept until a
minute before ``expiresIn`` (7200 s when absent). An answer that says the token is
invalid or expired gets one new token and one more try. A write whose answer carries a
``url`` instead of a result is asynchronous: the client polls that URL (``result_poll_s``
apart, at most ``result_polls`` times) for the final ``errcode``/``id``. Tokens and the
app secret never reach logs or error messages.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping

import httpx
import structlog

from erpbridge.connectors._http import map_transport_errors, read_json
from erpbridge.connectors.yonyou.errors import (
    SYSTEM,
    classify_answer,
    classify_http,
    is_token_refused,
)
from erpbridge.connectors.yonyou.settings import U8Settings
from erpbridge.spi.errors import AuthError, ConnectorError, TransientError

__all__ = ["U8Client"]

_log = structlog.get_logger(__name__)
_EXPIRY_MARGIN_S = 60.0
_Answer = dict[str, object]


class U8Client:
    """Calls the OpenAPI for one connection.

    Args:
        settings: the connection.
        http: the HTTP client (made by the caller).
        clock: Unix time in seconds (token expiry). Default ``time.time``.
        sleep: waits between polls of an async result. Default ``asyncio.sleep``.
    """

    def __init__(
        self,
        settings: U8Settings,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.http = http
        self.clock = clock
        self.sleep = sleep
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.token_fetches = 0

    def __repr__(self) -> str:
        return f"U8Client(from_account={self.settings.from_account!r}, token=***)"

    async def read(self, path: str, params: Mapping[str, object], *, object: str) -> _Answer:
        """GET ``path`` and return the success answer.

        Raises:
            ConnectorError: classified from ``errcode``/``errmsg`` or the HTTP status.
        """
        return await self._call("GET", path, dict(params), None, object)

    async def write(
        self, path: str, body: Mapping[str, object], tradeid: str, *, object: str
    ) -> _Answer:
        """POST ``path`` with ``tradeid``; follows an async result URL to the final answer."""
        answer = await self._call("POST", path, {"tradeid": tradeid}, dict(body), object)
        url = answer.get("url")
        if isinstance(url, str) and "id" not in answer:
            return await self._poll(url, object)
        return answer

    async def tradeid(self, *, object: str) -> str:
        """A fresh tradeid from ``/system/tradeid`` (for writes without a job key)."""
        token = await self._valid_token(object)
        params = {
            "from_account": self.settings.from_account,
            "app_key": self.settings.app_key,
            "token": token,
        }
        answer = await self._send("GET", "/system/tradeid", params, None, object, token)
        trade = answer.get("trade")
        ident = trade.get("id") if isinstance(trade, dict) else None
        if not isinstance(ident, str):
            raise ConnectorError("tradeid 的回答缺少 trade.id", system=SYSTEM, object=object)
        return ident

    # --- internals ------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        params: dict[str, object],
        body: dict[str, object] | None,
        object: str,
    ) -> _Answer:
        used: str | None = None
        for attempt in (1, 2):
            token = await self._valid_token(object, stale=used)
            used = token
            query = {**self._auth(token), **params}
            try:
                return await self._send(method, path, query, body, object, token)
            except AuthError as exc:
                if attempt == 2 or not is_token_refused(str(exc.status or ""), exc.message):
                    raise
                _log.info("yonyou.token_refused", object=object)
        raise AssertionError("unreachable")  # pragma: no cover

    def _auth(self, token: str) -> dict[str, object]:
        query: dict[str, object] = {
            "from_account": self.settings.from_account,
            "to_account": self.settings.to_account,
            "app_key": self.settings.app_key,
            "token": token,
        }
        if self.settings.ds_sequence is not None:
            query["ds_sequence"] = self.settings.ds_sequence
        return query

    async def _send(
        self,
        method: str,
        url: str,
        query: Mapping[str, object],
        body: Mapping[str, object] | None,
        object: str,
        token: str,
    ) -> _Answer:
        target = url if url.startswith(("http://", "https://")) else self.settings.base_url + url
        with map_transport_errors(SYSTEM, object):
            response = await self.http.request(
                method,
                target,
                params={k: str(v) for k, v in query.items()},
                json=body if method == "POST" else None,
            )
        if response.status_code != 200:
            raise classify_http(response, object=object, secrets=(token,))
        return _checked(read_json(response, system=SYSTEM, object=object), object)

    async def _poll(self, url: str, object: str) -> _Answer:
        for _ in range(self.settings.result_polls):
            await self.sleep(self.settings.result_poll_s)
            with map_transport_errors(SYSTEM, object):
                response = await self.http.get(url)
            if response.status_code != 200:
                raise classify_http(response, object=object)
            answer = _checked(read_json(response, system=SYSTEM, object=object), object)
            if "id" in answer:
                return answer
        raise TransientError(
            f"异步写入的结果在 {self.settings.result_polls} 次查询后仍未就绪",
            system=SYSTEM,
            object=object,
        )

    async def _valid_token(self, object: str, *, stale: str | None = None) -> str:
        async with self._lock:
            token = self._token
            if token is not None and token != stale and self.clock() < self._expires_at:
                return token
            return await self._fetch_token(object)

    async def _fetch_token(self, object: str) -> str:
        params = {
            "from_account": self.settings.from_account,
            "app_key": self.settings.app_key,
            "app_secret": self.settings.app_secret.reveal(),
        }
        secret = params["app_secret"]
        with map_transport_errors(SYSTEM, object):
            response = await self.http.get(self.settings.base_url + "/system/token", params=params)
        if response.status_code != 200:
            raise classify_http(response, object=object, secrets=(secret,))
        body = read_json(response, system=SYSTEM, object=object)
        if not isinstance(body, dict) or str(body.get("errcode")) != "0":
            errcode = str(body.get("errcode")) if isinstance(body, dict) else ""
            errmsg = str(body.get("errmsg") or "") if isinstance(body, dict) else ""
            error = classify_answer(errcode, errmsg.replace(secret, "***"), object=object)
            if error.retryable:
                raise error
            raise AuthError(
                f"取 U8 token 失败：{error.message}（errcode {errcode}）",
                system=SYSTEM,
                object=object,
                status=errcode,
            ) from error
        token = body.get("token")
        if not isinstance(token, dict) or not isinstance(token.get("id"), str):
            raise ConnectorError("token 的回答缺少 token.id", system=SYSTEM, object=object)
        expires = token.get("expiresIn")
        ttl = float(expires) if isinstance(expires, int | float) and expires > 0 else 7200.0
        self._token = token["id"]
        self._expires_at = self.clock() + max(1.0, ttl - _EXPIRY_MARGIN_S)
        self.token_fetches += 1
        _log.info("yonyou.token_fetched", expire_s=ttl)
        return self._token


def _checked(body: object, object: str) -> _Answer:
    if not isinstance(body, dict) or "errcode" not in body:
        raise ConnectorError(
            "U8 的回答不是 {errcode, errmsg, …}", system=SYSTEM, object=object, raw=str(body)[:500]
        )
    errcode = str(body["errcode"])
    if errcode != "0":
        raise classify_answer(errcode, str(body.get("errmsg") or ""), object=object, raw=body)
    return body
