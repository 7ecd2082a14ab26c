"""The wire side: one request with credentials, one token refresh on 401, error mapping."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from erpbridge.connectors._http import map_transport_errors, read_json
from erpbridge.connectors.rest.auth import Authenticator
from erpbridge.connectors.rest.errors import SYSTEM, classify_response
from erpbridge.connectors.rest.settings import RestSettings

__all__ = ["RestClient", "dig"]


class RestClient:
    """Requests against ``base_url`` with the connection's credentials and headers."""

    def __init__(self, settings: RestSettings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http
        self.auth = Authenticator(settings.auth, http, settings.base_url)

    def url(self, path: str) -> str:
        """An absolute URL for ``path`` (absolute URLs, e.g. from Link headers, stay)."""
        if path.startswith(("http://", "https://")):
            return path
        return self.settings.base_url + "/" + path.lstrip("/")

    async def send(
        self,
        method: str,
        path: str,
        *,
        object: str | None = None,
        params: Mapping[str, str | int] | None = None,
        json: object = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One call; a 401 under OAuth refreshes the token once and repeats the call.

        Returns the response whatever its status (callers classify non-2xx answers).

        Raises:
            TransientError: transport failures (timeouts, refused connections).
            AuthError: the token endpoint refused the client.
        """
        for attempt in (1, 2):
            merged = {"Accept": "application/json", **self.settings.headers, **(headers or {})}
            merged.update(await self.auth.headers())
            with map_transport_errors(SYSTEM, object):
                response = await self.http.request(
                    method, self.url(path), params=params, json=json, headers=merged
                )
            if response.status_code == 401 and self.auth.can_refresh and attempt == 1:
                self.auth.forget_token()
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def get_json(
        self,
        path: str,
        *,
        object: str | None = None,
        params: Mapping[str, str | int] | None = None,
    ) -> tuple[object, httpx.Response]:
        """GET ``path`` and its JSON body.

        Raises:
            ConnectorError: a non-2xx answer (classified) or a body that is not JSON.
        """
        response = await self.send("GET", path, object=object, params=params)
        if not response.is_success:
            raise classify_response(response, object=object, doing=f"GET {path}")
        return read_json(response, system=SYSTEM, object=object), response


def dig(body: object, path: str) -> object:
    """The value at a dotted ``path`` in ``body`` (``""`` = the body); None when absent."""
    value = body
    for part in path.split(".") if path else ():
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value
