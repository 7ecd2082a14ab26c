"""Wire calls to the YonBIP open platform: token, one refresh, answer checks.

A token comes from ``GET {token_url}/open-auth/selfAppAuth/getAccessToken`` with the
signed parameters and is kept until a minute before its ``expire``. Every business call
carries it as the ``access_token`` query parameter (httpx URL-encodes it; new-style
tokens contain ``+`` and ``/``). When the gateway answers ``310036`` (invalid or
expired token) the client fetches a new token once and repeats the call (STYLE: nothing
retries inline except a single token refresh). Tokens and the app secret never reach logs
or error messages.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx
import structlog

from erpbridge.connectors._http import map_transport_errors, read_json
from erpbridge.connectors.yonbip.errors import (
    DUPLICATE_CODES,
    OK_CODES,
    SYSTEM,
    TOKEN_INVALID_CODES,
    classify_answer,
    classify_http,
)
from erpbridge.connectors.yonbip.settings import YonBipSettings
from erpbridge.connectors.yonbip.signing import signature
from erpbridge.spi.errors import AuthError, ConnectorError

__all__ = ["Answer", "YonBipClient"]

_log = structlog.get_logger(__name__)
_TOKEN_PATH = "/open-auth/selfAppAuth/getAccessToken"  # noqa: S105 - a path, not a secret
_DATA_CENTER_PATH = "/open-auth/dataCenter/getGatewayAddress"
#: refresh this long before the announced expiry (clock skew, a slow call).
_EXPIRY_MARGIN_S = 60.0


@dataclass(frozen=True, slots=True)
class Answer:
    """A successful envelope: ``code`` (``"200"``, or a duplicate code), message, data."""

    code: str
    message: str
    data: object

    @property
    def is_duplicate(self) -> bool:
        """True for a resubmitCheckKey repeated after the gateway's one-hour cache."""
        return self.code in DUPLICATE_CODES


class YonBipClient:
    """Calls the gateway for one connection.

    Args:
        settings: the connection.
        http: the HTTP client (made by the caller; tests pass an ASGI transport).
        clock: Unix time in seconds (token timestamp and expiry). Default ``time.time``.
    """

    def __init__(
        self,
        settings: YonBipSettings,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.http = http
        self.clock = clock
        self._gateway_url = settings.gateway_url
        self._token_url = settings.token_url
        self._token: str | None = None
        self._expires_at = 0.0
        # Concurrent calls that all find the token stale fetch one new token, not one each.
        self._lock = asyncio.Lock()
        self.token_fetches = 0  # observable in tests and the bench

    def __repr__(self) -> str:
        return f"YonBipClient(app_key={self.settings.app_key!r}, token=***)"

    async def call(
        self,
        method: str,
        api: str,
        *,
        body: Mapping[str, object] | None = None,
        params: Mapping[str, str] | None = None,
        object: str | None = None,
    ) -> Answer:
        """Call ``api`` (``/yonbip/...``) and return the success envelope.

        Raises:
            ConnectorError: classified from the answer's ``code`` or the HTTP status.
        """
        token = await self._valid_token(object)
        answer = await self._send(method, api, token, body, params, object)
        if isinstance(answer, str):  # the token was refused: one new token, one more try
            token = await self._valid_token(object, stale=token)
            answer = await self._send(method, api, token, body, params, object)
            if isinstance(answer, str):
                raise AuthError(
                    f"用友网关拒绝了新取得的 access_token（{answer}）",
                    system=SYSTEM,
                    object=object,
                    status="310036",
                )
        return answer

    async def _send(
        self,
        method: str,
        api: str,
        token: str,
        body: Mapping[str, object] | None,
        params: Mapping[str, str] | None,
        object: str | None,
    ) -> Answer | str:
        gateway = await self._gateway(object)
        query = {**(params or {}), "access_token": token}
        with map_transport_errors(SYSTEM, object):
            response = await self.http.request(
                method, gateway + api, params=query, json=body if method == "POST" else None
            )
        if response.status_code != 200:
            raise classify_http(response, object=object, secrets=(token,))
        envelope = read_json(response, system=SYSTEM, object=object)
        code, message, data = _unpack(envelope, object)
        if code in TOKEN_INVALID_CODES:
            _log.info("yonbip.token_refused", object=object)
            return message
        if code in OK_CODES or code in DUPLICATE_CODES:
            return Answer(code, message, data)
        raise classify_answer(code, message, object=object, raw=envelope)

    # --- token --------------------------------------------------------------------------

    async def _valid_token(self, object: str | None, *, stale: str | None = None) -> str:
        async with self._lock:
            fresh = self._token is not None and self.clock() < self._expires_at
            if fresh and self._token != stale:
                return self._token  # type: ignore[return-value]  # checked just above
            return await self._fetch_token(object)

    async def _fetch_token(self, object: str | None) -> str:
        await self._gateway(object)
        timestamp = str(int(self.clock() * 1000))
        params = {"appKey": self.settings.app_key, "timestamp": timestamp}
        params["signature"] = signature(params, self.settings.app_secret.reveal())
        with map_transport_errors(SYSTEM, object):
            response = await self.http.get(f"{self._token_url}{_TOKEN_PATH}", params=params)
        if response.status_code != 200:
            raise classify_http(response, object=object)
        envelope = read_json(response, system=SYSTEM, object=object)
        code, message, data = _unpack(envelope, object)
        if code not in OK_CODES:
            error = classify_answer(code, message, object=object, raw=envelope)
            if not error.retryable:
                raise AuthError(
                    f"取 access_token 失败：{message}（code {code}）",
                    system=SYSTEM,
                    object=object,
                    status=code,
                ) from error
            raise error
        if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
            raise ConnectorError(
                "取 access_token 的回答没有 data.access_token", system=SYSTEM, object=object
            )
        expire = data.get("expire")
        ttl = float(expire) if isinstance(expire, int | float) and expire > 0 else 7200.0
        self._token = data["access_token"]
        self._expires_at = self.clock() + max(1.0, ttl - _EXPIRY_MARGIN_S)
        self.token_fetches += 1
        _log.info("yonbip.token_fetched", expire_s=ttl)
        return self._token

    async def _gateway(self, object: str | None) -> str:
        if self._gateway_url is not None:
            return self._gateway_url
        with map_transport_errors(SYSTEM, object):
            response = await self.http.get(
                self.settings.data_center_url + _DATA_CENTER_PATH,
                params={"tenantId": self.settings.tenant_id or ""},
            )
        if response.status_code != 200:
            raise classify_http(response, object=object)
        envelope = read_json(response, system=SYSTEM, object=object)
        code, message, data = _unpack(envelope, object)
        if code not in OK_CODES or not isinstance(data, dict):
            raise classify_answer(
                code, message or "数据中心地址查询失败", object=object, raw=envelope
            )
        gateway, token = data.get("gatewayUrl"), data.get("tokenUrl")
        if not isinstance(gateway, str) or not isinstance(token, str):
            raise ConnectorError(
                "数据中心地址查询的回答缺少 gatewayUrl/tokenUrl", system=SYSTEM, object=object
            )
        self._gateway_url, self._token_url = gateway.rstrip("/"), token.rstrip("/")
        return self._gateway_url


def _unpack(envelope: object, object: str | None) -> tuple[str, str, object]:
    if not isinstance(envelope, dict) or "code" not in envelope:
        raise ConnectorError(
            "用友的回答不是 {code, message, data} 信封",
            system=SYSTEM,
            object=object,
            raw=str(envelope)[:500],
        )
    message = envelope.get("message")
    return str(envelope["code"]), "" if message is None else str(message), envelope.get("data")
