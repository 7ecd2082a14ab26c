"""Authentication: one ``Authenticator`` per connection, applied to every request.

Basic, bearer and API-key headers are static. OAuth 2.0 client credentials fetch a token
from the token endpoint, cache it until 30 s before ``expires_in`` runs out, and are
refreshed once when the API answers 401 (the only inline retry, STYLE.md).
"""

from __future__ import annotations

import asyncio
import base64
import time

import httpx

from erpbridge.connectors._http import body_excerpt, map_transport_errors
from erpbridge.connectors.rest.errors import SYSTEM
from erpbridge.connectors.rest.settings import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    NoAuth,
    OAuth2Auth,
)
from erpbridge.spi.errors import AuthError, ConnectorError, TransientError

__all__ = ["Authenticator"]

#: refresh an OAuth token this long before the server says it expires.
_EARLY_S = 30.0


class Authenticator:
    """Adds credentials to requests; knows whether a 401 is worth one refresh."""

    def __init__(
        self,
        auth: NoAuth | BasicAuth | BearerAuth | ApiKeyAuth | OAuth2Auth,
        http: httpx.AsyncClient,
        base_url: str,
    ) -> None:
        self._auth = auth
        self._http = http
        self._base_url = base_url
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    @property
    def can_refresh(self) -> bool:
        """True for OAuth: a 401 may mean the token expired early."""
        return isinstance(self._auth, OAuth2Auth)

    async def headers(self) -> dict[str, str]:
        """The credential headers for the next request.

        Raises:
            AuthError: the token endpoint refused the client.
            TransientError: the token endpoint failed or was unreachable.
        """
        auth = self._auth
        if isinstance(auth, BasicAuth):
            pair = f"{auth.username}:{auth.password.reveal()}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        if isinstance(auth, BearerAuth):
            return {"Authorization": f"Bearer {auth.token.reveal()}"}
        if isinstance(auth, ApiKeyAuth):
            return {auth.header: auth.key.reveal()}
        if isinstance(auth, OAuth2Auth):
            return {"Authorization": f"Bearer {await self._oauth_token(auth)}"}
        return {}

    def forget_token(self) -> None:
        """Drop the cached OAuth token (after a 401) so the next call fetches a new one."""
        self._token = None

    async def _oauth_token(self, auth: OAuth2Auth) -> str:
        async with self._lock:
            if self._token is not None and time.monotonic() < self._expires_at:
                return self._token
            data = {"grant_type": "client_credentials"}
            headers = {"Accept": "application/json"}
            secret = auth.client_secret.reveal()
            if auth.client_auth == "basic":
                pair = f"{auth.client_id}:{secret}".encode()
                headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
            else:
                data.update(client_id=auth.client_id, client_secret=secret)
            if auth.scope:
                data["scope"] = auth.scope
            url = auth.token_url
            if not url.startswith(("http://", "https://")):
                url = self._base_url + "/" + url.lstrip("/")
            with map_transport_errors(SYSTEM):
                response = await self._http.post(url, data=data, headers=headers)
            self._token, lifetime = _parse_token(response)
            self._expires_at = time.monotonic() + max(0.0, lifetime - _EARLY_S)
            return self._token


def _parse_token(response: httpx.Response) -> tuple[str, float]:
    if response.status_code in (400, 401, 403):
        # RFC 6749 §5.2: invalid_client / unauthorized_client / invalid_scope.
        raise AuthError(
            f"token endpoint refused the client: HTTP {response.status_code}: "
            f"{body_excerpt(response)}",
            system=SYSTEM,
            status=response.status_code,
        )
    if response.status_code != 200:
        raise TransientError(
            f"token endpoint answered HTTP {response.status_code}: {body_excerpt(response)}",
            system=SYSTEM,
            status=response.status_code,
        )
    try:
        body = response.json()
        token = str(body["access_token"])
        lifetime = float(body.get("expires_in", 3600))
    except (ValueError, KeyError, TypeError) as exc:
        raise ConnectorError(
            f"token endpoint answer has no access_token: {body_excerpt(response)}",
            system=SYSTEM,
        ) from exc
    return token, lifetime
