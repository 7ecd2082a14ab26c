"""Self-built app authentication (自建应用): signed token requests and access tokens.

``GET {tokenUrl}/open-auth/selfAppAuth/getAccessToken?appKey=&timestamp=&signature=``
(newer path ``…/selfAppAuth/base/v1/getAccessToken``, same parameters), reference §B1:
``signature = URLEncode(Base64(HmacSHA256(appSecret, "appKey" + appKey + "timestamp" +
timestamp)))`` — parameter names and values sorted by name, ``signature`` left out.

The document says the signature is URL-encoded *before* it goes into the query string.
Clients that build the URL by hand put that text in as is (the server decodes it once and
sees the base64); clients that pass it to an HTTP library as a parameter value get it
encoded twice (the server then sees the URL-encoded base64). Both readings are accepted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import quote

from erpbridge.sims.yonbip.wire import ApiError, Code

__all__ = ["AppBook", "TokenBook", "sign"]

#: access tokens live two hours (reference §B1, ``"expire": 7200``).
TOKEN_TTL_S = 7200


def sign(app_key: str, timestamp: str, app_secret: str) -> str:
    """The base64 HmacSHA256 signature (before URL encoding)."""
    message = f"appKey{app_key}timestamp{timestamp}".encode()
    digest = hmac.new(app_secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True, slots=True)
class AppBook:
    """The tenant's self-built apps: appKey -> appSecret, plus disabled keys."""

    apps: Mapping[str, str]
    disabled: frozenset[str] = frozenset()


@dataclass(slots=True)
class _Token:
    app_key: str
    expires_at: datetime


@dataclass(slots=True)
class TokenBook:
    """Issues and checks access tokens against a clock."""

    apps: AppBook
    clock: Callable[[], datetime]
    ttl_s: float = TOKEN_TTL_S
    tokens: dict[str, _Token] = field(default_factory=dict)

    def issue(self, params: Mapping[str, str]) -> dict[str, object]:
        """Check a token request and answer its ``data`` (``access_token``, ``expire``).

        Raises:
            ApiError: missing parameters, unknown or disabled app, bad signature.
        """
        app_key = params.get("appKey", "")
        timestamp = params.get("timestamp", "")
        signature = params.get("signature", "")
        for name, value in (("appKey", app_key), ("timestamp", timestamp)):
            if not value:
                raise ApiError(Code.PARAM_ERROR, f"参数[{name}]不能为空")
        if not signature:
            raise ApiError(Code.PARAM_ERROR, "参数[signature]不能为空")
        if not timestamp.isdigit():
            raise ApiError(Code.PARAM_ERROR, "参数[timestamp]应为毫秒时间戳")
        secret = self.apps.apps.get(app_key)
        if secret is None or app_key in self.apps.disabled:
            raise ApiError(Code.APP_UNKNOWN, "应用不存在或appKey已停用")
        expected = sign(app_key, timestamp, secret)
        # [U] whether the gateway also refuses stale timestamps is undocumented: not checked.
        if not any(
            hmac.compare_digest(signature, good) for good in (expected, quote(expected, safe=""))
        ):
            raise ApiError(Code.SIGNATURE_INVALID, "签名验证失败，请检查appSecret及签名算法")
        token = _new_token()
        self.tokens[token] = _Token(app_key, self._expiry())
        self._forget_expired()
        return {"access_token": token, "expire": int(self.ttl_s)}

    def check(self, token: str | None) -> str:
        """The app key behind a live token.

        Raises:
            ApiError: 310001 without a token, 310036 for an unknown or expired one.
        """
        if not token:
            raise ApiError(Code.TOKEN_MISSING, "access_token不能为空")
        entry = self.tokens.get(token)
        if entry is None or entry.expires_at <= self.clock():
            raise ApiError(Code.TOKEN_INVALID, "非法token")
        return entry.app_key

    def expire_all(self) -> None:
        """Make every issued token stale at once (tests of the refresh path)."""
        now = self.clock()
        for entry in self.tokens.values():
            entry.expires_at = now

    def _expiry(self) -> datetime:
        return self.clock() + timedelta(seconds=self.ttl_s)

    def _forget_expired(self) -> None:
        now = self.clock()
        for key in [k for k, v in self.tokens.items() if v.expires_at <= now]:
            del self.tokens[key]


def _new_token() -> str:
    # New-style tokens carry characters that must be URL-encoded (reference §B1): '+', '/'
    # and '=' of standard base64 check that clients encode the access_token parameter.
    raw = base64.b64encode(secrets.token_bytes(33)).decode("ascii")
    return raw[:20] + "+" + raw[20:40] + "/" + raw[40:] + "=="
