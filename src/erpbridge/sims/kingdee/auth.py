"""Who is calling: the SDK's signed headers, the legacy login services, sessions.

Signed headers (reference §1.2, read from ``WebApiClient.BuildHeader`` of SDK 8.2.0):
``X-Kd-Appdata`` is base64 of ``acct,user,lcid,org``; ``X-Kd-Signature`` is
``base64(hex(HMAC-SHA256(AppSecret, AppId + appdata)))``; ``X-Api-Signature`` signs
``POST\\n<quoted path>\\n\\nx-api-nonce:<n>\\nx-api-timestamp:<ts>\\n`` with the client
secret decoded from the AppId's suffix. Both are checked. The timestamp window and
nonce reuse are not enforced, as observed on a live server.

Sessions: a live ``kdservice-sessionid`` (header or cookie) is trusted without looking at
credentials; a stale one with valid signed headers is replaced quietly with a new cookie.
Sessions expire after ``session_ttl_s`` of idleness (K/3 Cloud's default is 20 minutes
[UNSURE]); the legacy login clients must then log in again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

__all__ = [
    "AuthRefusedError",
    "Credentials",
    "Session",
    "SessionBook",
    "app_secret_digest",
    "client_secret_of",
]

#: the built-in XOR key of the SDK (ROT13 of ``0054s397p6234378o09pn7q3r5qropr7``).
_XOR_KEY = b"0054f397c6234378b09ca7d3e5debce7"
LCIDS = (2052, 1033, 3076)


class AuthRefusedError(Exception):
    """Authentication refused; ``http_status`` set when the server answers non-200."""

    def __init__(self, message: str, http_status: int | None = None) -> None:
        self.message = message
        self.http_status = http_status
        super().__init__(message)


def app_secret_digest(key: str, message: str) -> str:
    """The SDK's HMAC: base64 of the *hex* HMAC-SHA256 (not of the raw digest)."""
    digest = hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()
    return base64.b64encode(digest.encode()).decode()


def client_secret_of(app_id: str) -> str:
    """The client secret hidden in an AppId ``<clientId>_<32 base64 chars>`` ('' if none)."""
    parts = app_id.split("_")
    if len(parts) != 2 or len(parts[1]) != 32:
        return ""
    try:
        raw = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        return ""
    return base64.b64encode(bytes(b ^ k for b, k in zip(raw, _XOR_KEY, strict=False))).decode()


@dataclass(frozen=True, slots=True)
class Credentials:
    """The tenant's accounts: data centres, users (with passwords) and apps."""

    acct_ids: frozenset[str]
    users: Mapping[str, str]  # user name -> password
    disabled_users: frozenset[str]
    apps: Mapping[str, str]  # app id -> app secret


@dataclass(slots=True)
class Session:
    """A logged-in context."""

    acct_id: str
    user: str
    lcid: int
    org_num: str
    last_seen: datetime


class SessionBook:
    """Live sessions by id, with idle expiry on an injected clock."""

    def __init__(
        self, credentials: Credentials, clock: Callable[[], datetime], session_ttl_s: float
    ) -> None:
        self.credentials = credentials
        self.clock = clock
        self.session_ttl_s = session_ttl_s
        self._sessions: dict[str, Session] = {}

    def lookup(self, session_id: str | None) -> Session | None:
        """The live session with this id (and touch it), or None."""
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        now = self.clock()
        if (now - session.last_seen).total_seconds() > self.session_ttl_s:
            del self._sessions[session_id]
            return None
        session.last_seen = now
        return session

    def open(self, acct_id: str, user: str, lcid: int, org_num: str = "0") -> str:
        """A new session id for a verified caller."""
        session_id = secrets.token_hex(16)
        self._sessions[session_id] = Session(acct_id, user, lcid, org_num, self.clock())
        return session_id

    def close(self, session_id: str | None) -> None:
        """Forget a session (Logout)."""
        if session_id:
            self._sessions.pop(session_id, None)

    def expire_all(self) -> None:
        """Drop every session (simulator control: a server restart or timeout)."""
        self._sessions.clear()

    # --- checks ---------------------------------------------------------------------

    def check_user(self, acct_id: str, user: str, lcid: int) -> None:
        """Raise AuthRefusedError unless the data centre, user and language are valid."""
        if acct_id not in self.credentials.acct_ids:
            raise AuthRefusedError("Fail to verify thirty passport", http_status=500)
        if user not in self.credentials.users or user in self.credentials.disabled_users:
            raise AuthRefusedError("会话信息已丢失，请重新登录")
        if lcid not in LCIDS:
            raise AuthRefusedError("会话信息已丢失，请重新登录")

    def verify_signed(self, headers: Mapping[str, str], path: str) -> tuple[str, str, int, str]:
        """Check the SDK's signed headers; returns (acct, user, lcid, org).

        Raises:
            AuthRefusedError: missing or wrong signature, unknown app, user or data centre.
        """
        app_id = headers.get("x-kd-appkey", "")
        app_data_b64 = headers.get("x-kd-appdata", "")
        signature = headers.get("x-kd-signature", "")
        lost = AuthRefusedError("会话信息已丢失，请重新登录")
        try:
            app_data = base64.b64decode(app_data_b64, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise lost from None
        parts = app_data.split(",")
        if len(parts) != 4 or not parts[2].strip().isdigit():
            raise lost
        acct_id, user, lcid_text, org_num = parts
        if acct_id not in self.credentials.acct_ids:
            raise AuthRefusedError("Fail to verify thirty passport", http_status=500)
        secret = self.credentials.apps.get(app_id)
        if secret is None:
            raise lost
        expected = app_secret_digest(secret, app_id + app_data)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise lost
        if "x-api-signature" in headers:
            nonce = headers.get("x-api-nonce", "")
            stamp = headers.get("x-api-timestamp", "")
            sign = f"POST\n{quote(path, encoding='utf-8').replace('/', '%2F')}\n\n"
            sign += f"x-api-nonce:{nonce}\nx-api-timestamp:{stamp}\n"
            api_expected = app_secret_digest(client_secret_of(app_id), sign)
            if not hmac.compare_digest(api_expected.encode(), headers["x-api-signature"].encode()):
                raise lost
        self.check_user(acct_id, user, int(lcid_text))
        return acct_id, user, int(lcid_text), org_num

    def verify_password(self, acct_id: str, user: str, password: str, lcid: int) -> None:
        """ValidateUser: raise AuthRefusedError with Kingdee's login message when refused."""
        if acct_id not in self.credentials.acct_ids:
            raise AuthRefusedError("数据中心不存在，请检查账套ID！")
        known = self.credentials.users.get(user)
        if known is None or not hmac.compare_digest(known.encode(), password.encode()):
            raise AuthRefusedError("用户名或密码错误！")
        if user in self.credentials.disabled_users:
            raise AuthRefusedError("该用户已被禁用！")
        if lcid not in LCIDS:
            raise AuthRefusedError(f"不支持的语言代码 {lcid}")

    def verify_app_secret(
        self, acct_id: str, user: str, app_id: str, app_secret: str, lcid: int
    ) -> None:
        """LoginByAppSecret: raise AuthRefusedError with Kingdee's login message when refused."""
        if acct_id not in self.credentials.acct_ids:
            raise AuthRefusedError("数据中心不存在，请检查账套ID！")
        known = self.credentials.apps.get(app_id)
        if known is None or not hmac.compare_digest(known.encode(), app_secret.encode()):
            raise AuthRefusedError("第三方系统登录授权验证失败：应用ID或应用密钥不正确！")
        if user not in self.credentials.users or user in self.credentials.disabled_users:
            raise AuthRefusedError("用户不存在或已被禁用！")
        if lcid not in LCIDS:
            raise AuthRefusedError(f"不支持的语言代码 {lcid}")
