"""Wire calls to SAP Gateway: Basic auth, session cookies, the CSRF token, JSON answers.

Reference §1: a safe request with ``X-CSRF-Token: Fetch`` returns a token bound to the
session cookie; modifying requests send both. A 403 with ``x-csrf-token: Required`` means
the token or session expired: fetch a new token and retry once (the only inline retry a
connector makes, STYLE.md). Cookies are kept here, not in the shared ``httpx`` client, so
two connections never mix sessions. Nothing here logs a header, a cookie or a token.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from http.cookies import CookieError, SimpleCookie

import httpx
import structlog

from erpbridge.connectors._http import loads_json
from erpbridge.connectors.sap.errors import classify_response, malformed_answer, map_errors
from erpbridge.connectors.sap.settings import SapSettings

__all__ = ["SapClient"]

_log = structlog.get_logger(__name__)
_MODIFYING = {"POST", "PUT", "PATCH", "MERGE", "DELETE"}


class SapClient:
    """HTTP calls to one SAP system, sharing one session and CSRF token.

    Args:
        settings: the connection.
        http: the caller's ``httpx.AsyncClient`` (pooled; its transport may be a
            simulator's ASGI app in tests).
    """

    def __init__(self, settings: SapSettings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http
        credentials = f"{settings.username}:{settings.password.reveal()}".encode()
        self._authorization = "Basic " + base64.b64encode(credentials).decode()
        self._cookies: dict[str, str] = {}
        self._csrf_token: str | None = None

    def __repr__(self) -> str:
        return f"SapClient({self.settings.base_url!r}, user={self.settings.username!r})"

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": self._authorization, "Accept": "application/json"}
        if self._cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self._cookies.items())
        headers.update(extra or {})
        return headers

    def _params(self, params: Mapping[str, str] | None) -> dict[str, str]:
        merged = dict(params or {})
        if self.settings.sap_client:
            merged["sap-client"] = self.settings.sap_client
        return merged

    def _keep_cookies(self, response: httpx.Response) -> None:
        for header in response.headers.get_list("set-cookie"):
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(header)
            except CookieError:
                continue  # a cookie we cannot parse is not one Gateway needs
            for name, morsel in jar.items():
                self._cookies[name] = morsel.value

    async def _send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        content: bytes | None,
        object: str | None,
    ) -> httpx.Response:
        # httpx replaces a URL's own query with ``params``: a __next link keeps its own.
        merged = self._params(params) if "?" not in url else dict(params or {})
        with map_errors(object):
            response = await self.http.request(
                method,
                url,
                params=merged or None,
                headers=self._headers(headers),
                content=content,
                timeout=self.settings.limits.timeout_s,
            )
        self._keep_cookies(response)
        return response

    async def fetch_token(self, service: str) -> str:
        """Fetch a CSRF token (and a session) with a HEAD on the service root.

        Raises:
            ConnectorError: the system refused (401: credentials) or was unreachable.
        """
        response = await self._send(
            "HEAD",
            self.settings.service_root(service),
            params=None,
            headers={"X-CSRF-Token": "Fetch"},
            content=None,
            object=None,
        )
        if response.status_code >= 400:
            # HEAD has no body; ask again with GET so the error carries SAP's text.
            response = await self._send(
                "GET",
                self.settings.service_root(service),
                params=None,
                headers={"X-CSRF-Token": "Fetch"},
                content=None,
                object=None,
            )
            if response.status_code >= 400:
                raise classify_response(response)
        token = response.headers.get("x-csrf-token")
        if not token or token.lower() == "required":
            raise malformed_answer(response, "no CSRF token in the answer to a token fetch")
        self._csrf_token = str(token)
        _log.debug("sap.csrf_fetched", service=service)
        return str(token)

    async def request(
        self,
        method: str,
        service: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        object: str | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> httpx.Response:
        """Send one request; modifying ones carry the CSRF token (refreshed once on 403).

        Args:
            path: relative to the service root (already URL-quoted where needed).
            ok: the statuses that count as success.

        Raises:
            ConnectorError: classified from SAP's answer or the transport failure.
        """
        url = self.settings.service_root(service) + path
        modifying = method.upper() in _MODIFYING
        for attempt in (1, 2):
            extra = dict(headers or {})
            if modifying:
                extra["X-CSRF-Token"] = self._csrf_token or await self.fetch_token(service)
            response = await self._send(
                method, url, params=params, headers=extra, content=content, object=object
            )
            needs_token = (
                response.status_code == 403
                and response.headers.get("x-csrf-token", "").lower() == "required"
            )
            if modifying and needs_token and attempt == 1:
                self._csrf_token = None
                self._cookies.clear()  # the session expired with the token; start a new one
                continue
            break
        if response.status_code not in ok:
            raise classify_response(response, object)
        return response

    async def get_json(
        self,
        service: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        object: str | None = None,
    ) -> dict[str, object]:
        """GET and decode an OData JSON answer; its ``d`` member.

        Raises:
            ConnectorError: an error status, or a 200 that is not OData JSON.
        """
        response = await self.request("GET", service, path, params=params, object=object)
        return decode_d(response, object)

    async def get_absolute_json(self, url: str, object: str | None = None) -> dict[str, object]:
        """GET a ``__next`` link (absolute, carrying its own query) and decode ``d``.

        Raises:
            ConnectorError: wrong host, an error status, or a body that is not OData JSON.
        """
        if not url.startswith(self.settings.base_url + "/"):
            raise malformed_answer(
                httpx.Response(200, text=url), "__next link points to another host", object
            )
        response = await self._send(
            "GET", url, params=None, headers=None, content=None, object=object
        )
        if response.status_code != 200:
            raise classify_response(response, object)
        return decode_d(response, object)

    async def get_metadata(self, service: str) -> bytes:
        """The service's ``$metadata`` XML.

        Raises:
            ConnectorError: an error status, or an answer that is not XML.
        """
        response = await self.request(
            "GET", service, "$metadata", headers={"Accept": "application/xml"}
        )
        if "xml" not in response.headers.get("content-type", ""):
            raise malformed_answer(response, "$metadata is not XML")
        return response.content


def decode_d(response: httpx.Response, object: str | None) -> dict[str, object]:
    """The ``d`` object of an OData V2 JSON answer.

    Raises:
        TransientError: HTML, empty or truncated bodies (a proxy page, a cut connection).
    """
    content_type = response.headers.get("content-type", "")
    if "json" not in content_type:
        raise malformed_answer(response, "expected application/json", object)
    try:
        body = loads_json(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        why = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
        raise malformed_answer(response, f"JSON cannot be read ({why})", object) from exc
    data = body.get("d") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise malformed_answer(response, "JSON without the OData 'd' object", object)
    return data
