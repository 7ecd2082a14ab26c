"""U8 OpenAPI tokens and trade ids (reference §A1, §A5).

- ``GET /system/token?from_account=&app_key=&app_secret=`` →
  ``{"errcode":"0","token":{"id","expiresIn"}}`` (``expiresIn`` [P], 7200 s).
- Business calls carry ``from_account, to_account, app_key, token`` as query parameters;
  ``to_account`` must be an enterprise account that authorised the app.
- ``GET /system/tradeid?from_account=&app_key=&token=`` → ``{"errcode":"0","trade":{"id"}}``.
  Writes carry ``tradeid``. Whether the platform also takes a caller-chosen tradeid is [U];
  the simulator takes both (issued ones, and any 8–64 character ``[A-Za-z0-9_-]`` text),
  and answers a repeated tradeid with the first result (reference §A5, the safe reading).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from erpbridge.sims.yonyou.wire import Err, U8Error

__all__ = ["Apps", "TokenBook"]

TOKEN_TTL_S = 7200
_TRADEID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


@dataclass(frozen=True, slots=True)
class Apps:
    """Registered apps (from_account, app_key) -> app_secret, and authorised tenants."""

    secrets: Mapping[tuple[str, str], str]
    tenants: frozenset[str]


@dataclass(slots=True)
class TokenBook:
    """Issues and checks tokens against a clock."""

    apps: Apps
    clock: Callable[[], datetime]
    ttl_s: float = TOKEN_TTL_S
    tokens: dict[str, tuple[str, datetime]] = field(default_factory=dict)

    def issue(self, params: Mapping[str, str]) -> dict[str, object]:
        """The ``token`` object for good credentials.

        Raises:
            U8Error: missing parameters (20001) or wrong credentials (20003).
        """
        for name in ("from_account", "app_key", "app_secret"):
            if not params.get(name):
                raise U8Error(Err.PARAM, f"缺少参数 {name}")
        key = (params["from_account"], params["app_key"])
        secret = self.apps.secrets.get(key)
        if secret is None or not secrets.compare_digest(secret, params["app_secret"]):
            raise U8Error(Err.APP, "from_account、app_key 或 app_secret 不正确")
        token = secrets.token_hex(16)
        now = self.clock()
        self.tokens = {k: v for k, v in self.tokens.items() if v[1] > now}
        self.tokens[token] = (params["app_key"], now + timedelta(seconds=self.ttl_s))
        return {"id": token, "expiresIn": int(self.ttl_s)}

    def check(self, params: Mapping[str, str], *, needs_tenant: bool = True) -> None:
        """Check a call's credentials.

        Raises:
            U8Error: missing parameters, a bad or expired token, an unknown to_account.
        """
        names = ("from_account", "app_key", "token") + (("to_account",) if needs_tenant else ())
        for name in names:
            if not params.get(name):
                raise U8Error(Err.PARAM, f"缺少参数 {name}")
        entry = self.tokens.get(params["token"])
        if entry is None or entry[1] <= self.clock() or entry[0] != params["app_key"]:
            raise U8Error(Err.TOKEN, "token 无效或已过期，请重新获取")
        if needs_tenant and params["to_account"] not in self.apps.tenants:
            raise U8Error(Err.ACCOUNT, f"企业账号 {params['to_account']} 未授权此应用")

    def expire_all(self) -> None:
        """Make every token stale (tests of the refresh path)."""
        now = self.clock()
        self.tokens = {k: (v[0], now) for k, v in self.tokens.items()}


def valid_tradeid(tradeid: str) -> bool:
    """True for a tradeid the simulator takes (see the module docstring)."""
    return _TRADEID.match(tradeid) is not None
