"""Wire calls to Salesforce: login (OAuth 2.0 password, JWT bearer or client-credentials
flow, or SOAP), REST calls, refresh.

The session id lives only in this object (never in logs, reprs or errors). A call that
gets 401 ``INVALID_SESSION_ID`` logs in again once and is repeated once (the one inline
retry STYLE.md allows); every other failure is classified by :mod:`.errors` and raised.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape, unescape
from urllib.parse import urlsplit

import httpx
import structlog
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from erpbridge.connectors._http import map_transport_errors, read_json
from erpbridge.connectors.salesforce.errors import SYSTEM, classify_response
from erpbridge.connectors.salesforce.settings import SalesforceSettings
from erpbridge.spi.errors import AuthError, ConnectorError
from erpbridge.spi.secrets import Secret

__all__ = ["SalesforceClient", "SalesforceSession", "expect_mapping", "jwt_assertion"]

_log = structlog.get_logger(__name__)
_SESSION_ID = re.compile(r"<(?:\w+:)?sessionId>([^<]+)</", re.IGNORECASE)
_SERVER_URL = re.compile(r"<(?:\w+:)?serverUrl>([^<]+)</", re.IGNORECASE)
_ORG_ID = re.compile(r"<(?:\w+:)?organizationId>([^<]+)</", re.IGNORECASE)
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass(frozen=True, slots=True)
class SalesforceSession:
    """A logged-in session: where data calls go and what authorises them."""

    instance_url: str
    org_id: str | None
    _token: str

    def __repr__(self) -> str:
        return f"SalesforceSession(instance_url={self.instance_url!r}, org_id={self.org_id!r})"

    def header(self) -> str:
        """The Authorization header value."""
        return f"Bearer {self._token}"


def _reveal(secret: Secret | None, name: str) -> str:
    """The secret's value; a reference that does not resolve is an auth error (no value shown)."""
    if secret is None:
        return ""
    try:
        return secret.reveal()
    except LookupError as exc:
        raise AuthError(f"{name} {secret.ref}: {exc}", system=SYSTEM) from exc


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_assertion(
    private_key_pem: str, *, issuer: str, subject: str, audience: str, lifetime_s: int = 180
) -> str:
    """An RS256-signed JWT for the OAuth 2.0 JWT bearer flow (3 minutes, Salesforce's maximum).

    Raises:
        AuthError: the key is not a PEM RSA private key (the key itself is never shown).
    """
    try:
        key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise AuthError("private_key is not a readable PEM private key", system=SYSTEM) from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise AuthError("private_key must be an RSA key (RS256)", system=SYSTEM)
    header = _b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    claims = {"iss": issuer, "sub": subject, "aud": audience, "exp": int(time.time()) + lifetime_s}
    payload = _b64url(json.dumps(claims).encode())
    signature = key.sign(f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{header}.{payload}.{_b64url(signature)}"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class SalesforceClient:
    """REST client of one connection.

    Args:
        settings: the connection's settings.
        http: the caller's ``httpx.AsyncClient`` (pooling, timeouts, TLS trust).
    """

    def __init__(self, settings: SalesforceSettings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http
        self.session: SalesforceSession | None = None
        self.api_usage: tuple[int, int] | None = None
        self._login_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SalesforceClient(base_url={self.settings.base_url!r})"

    @property
    def data_path(self) -> str:
        """``/services/data/vXX.X``."""
        return f"/services/data/v{self.settings.api_version}"

    def _password(self) -> str:
        s = self.settings
        token = _reveal(s.security_token, "security_token")
        return _reveal(s.password, "password") + token

    async def login(self) -> SalesforceSession:
        """Log in with the configured flow; the session is kept for later calls.

        Raises:
            AuthError: credentials refused (Salesforce's own code and message).
            TransientError: the login host cannot be reached or failed with 5xx.
        """
        s = self.settings
        with map_transport_errors(SYSTEM):
            if s.auth == "soap":
                response = await self.http.post(
                    f"{s.base_url}/services/Soap/u/{s.api_version}",
                    content=self._soap_envelope().encode("utf-8"),
                    headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": "login"},
                )
            else:
                data, headers = self._token_request()
                response = await self.http.post(
                    f"{s.base_url}/services/oauth2/token", data=data, headers=headers
                )
        if response.status_code != 200:
            error = classify_response(response)
            if response.status_code in (400, 401, 403, 500) and not error.retryable:
                raise AuthError(error.message, system=SYSTEM, raw=error.raw, status=error.status)
            raise error
        self.session = self._read_soap(response) if s.auth == "soap" else self._read_oauth(response)
        _log.info("salesforce.login", instance_url=self.session.instance_url, flow=s.auth)
        return self.session

    def _token_request(self) -> tuple[dict[str, str], dict[str, str]]:
        """Form fields and headers of the OAuth token request for the configured flow."""
        s = self.settings
        if s.auth == "jwt":
            assertion = jwt_assertion(
                _reveal(s.private_key, "private_key"),
                issuer=s.client_id or "",
                subject=s.username,
                audience=s.audience,
            )
            return {"grant_type": JWT_GRANT, "assertion": assertion}, {}
        if s.auth == "client_credentials":
            pair = f"{s.client_id}:{_reveal(s.client_secret, 'client_secret')}"
            basic = base64.b64encode(pair.encode()).decode()
            return {"grant_type": "client_credentials"}, {"Authorization": f"Basic {basic}"}
        return {
            "grant_type": "password",
            "client_id": s.client_id or "",
            "client_secret": _reveal(s.client_secret, "client_secret"),
            "username": s.username,
            "password": self._password(),
        }, {}

    def _soap_envelope(self) -> str:
        return (
            '<?xml version="1.0" encoding="utf-8" ?>'
            '<env:Envelope xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xmlns:env="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:urn="urn:partner.soap.sforce.com">'
            "<env:Header><urn:CallOptions><urn:client>erpbridge</urn:client>"
            "</urn:CallOptions></env:Header><env:Body><urn:login>"
            f"<urn:username>{escape(self.settings.username)}</urn:username>"
            f"<urn:password>{escape(self._password())}</urn:password>"
            "</urn:login></env:Body></env:Envelope>"
        )

    def _read_soap(self, response: httpx.Response) -> SalesforceSession:
        text = response.text
        session_id, server_url = _SESSION_ID.search(text), _SERVER_URL.search(text)
        if session_id is None or server_url is None:
            raise AuthError(
                "SOAP login answer without sessionId/serverUrl", system=SYSTEM, status=200
            )
        org = _ORG_ID.search(text)
        return SalesforceSession(
            _origin(unescape(server_url[1])), org[1] if org else None, unescape(session_id[1])
        )

    def _read_oauth(self, response: httpx.Response) -> SalesforceSession:
        data = read_json(response, system=SYSTEM)
        if not isinstance(data, Mapping) or not all(
            isinstance(data.get(k), str) for k in ("access_token", "instance_url")
        ):
            raise AuthError("token answer without access_token/instance_url", system=SYSTEM)
        identity = str(data.get("id", ""))
        parts = identity.rstrip("/").split("/")
        org_id = parts[-2] if len(parts) >= 2 and parts[-2].startswith("00D") else None
        return SalesforceSession(
            _origin(str(data["instance_url"])), org_id, str(data["access_token"])
        )

    async def _current(self) -> SalesforceSession:
        if self.session is None:
            async with self._login_lock:
                if self.session is None:
                    await self.login()
        assert self.session is not None  # noqa: S101 - login() sets it or raises
        return self.session

    async def request(
        self,
        method: str,
        path: str,
        *,
        object: str | None = None,
        params: Mapping[str, str] | None = None,
        json: object = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One REST call; ``path`` is under the data path unless it starts with ``/services``.

        Returns the response when its status is < 300.

        Raises:
            ConnectorError: the classified failure (after one re-login on an expired session).
        """
        url_path = path if path.startswith("/services") else f"{self.data_path}/{path.lstrip('/')}"
        for attempt in (1, 2):
            session = await self._current()
            call_headers = {"Authorization": session.header(), "Accept": "application/json"}
            call_headers.update(headers or {})
            with map_transport_errors(SYSTEM, object):
                response = await self.http.request(
                    method,
                    session.instance_url + url_path,
                    params=params,
                    json=json,
                    headers=call_headers,
                )
            _log.debug("salesforce.call", method=method, path=url_path, status=response.status_code)
            self._note_usage(response)
            if response.status_code == 401 and attempt == 1:
                async with self._login_lock:
                    if self.session is session:  # nobody refreshed it meanwhile
                        self.session = None
                continue
            if response.status_code >= 300:
                raise classify_response(response, object=object)
            return response
        raise AuthError("session refused again right after a new login", system=SYSTEM)

    async def call_json(
        self,
        method: str,
        path: str,
        *,
        object: str | None = None,
        params: Mapping[str, str] | None = None,
        json: object = None,
        headers: Mapping[str, str] | None = None,
    ) -> object:
        """:meth:`request` and read the body as JSON (a clear error for anything else)."""
        response = await self.request(
            method, path, object=object, params=params, json=json, headers=headers
        )
        return read_json(response, system=SYSTEM, object=object)

    def _note_usage(self, response: httpx.Response) -> None:
        match = _LIMIT_INFO.search(response.headers.get("sforce-limit-info", ""))
        if match:
            self.api_usage = (int(match[1]), int(match[2]))


def expect_mapping(data: object, what: str, *, object: str | None = None) -> Mapping[str, object]:
    """``data`` if it is a JSON object, else a clear error naming ``what`` was expected."""
    if not isinstance(data, Mapping):
        raise ConnectorError(
            f"{what}: expected a JSON object, got {type(data).__name__}",
            system=SYSTEM,
            object=object,
        )
    return data
