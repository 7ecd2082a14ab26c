"""Logins of the simulated org: SOAP ``login`` and the OAuth 2.0 username-password flow.

Copied behaviour (reference §1): the SOAP answer carries unprefixed ``sessionId`` and
``serverUrl`` in the partner namespace; a refused login is HTTP 500 with a SOAP fault
whose ``sf:exceptionCode`` is ``INVALID_LOGIN``. The token endpoint takes a form body and
answers JSON; a refused login is 400 ``invalid_grant`` / ``authentication failure``.
The JWT bearer flow is in :mod:`.jwt_bearer`. Sessions live two hours (Salesforce's
default timeout) and do not survive a restart, so a client sees ``INVALID_SESSION_ID`` and
logs in again, as after a real session expiry.

The integration user's security token may be appended to the password (SOAP and OAuth);
the sandbox also accepts the bare password, as an org does for a trusted IP range.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from html import escape
from urllib.parse import parse_qs

from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from erpbridge.sims.salesforce.jwt_bearer import JwtRefusedError, verify_assertion
from erpbridge.sims.salesforce.state import ORG_ID, USER_ID

__all__ = [
    "CONSUMER_KEY",
    "CONSUMER_SECRET",
    "PASSWORD",
    "SECURITY_TOKEN",
    "USERNAME",
    "SessionTable",
    "oauth_token",
    "soap_login",
]

# Fixed sandbox credentials (published in docs/sandbox.md and the ports file).
USERNAME = "integration@erpbridge.sandbox"
PASSWORD = "Sandbox-Pass-1"  # noqa: S105 - a simulator's published sandbox password
SECURITY_TOKEN = "SIMTOKEN0001"  # noqa: S105 - published sandbox security token
CONSUMER_KEY = "3MVG9erpbridge.sandbox.consumer.key"
CONSUMER_SECRET = "sandbox-consumer-secret"  # noqa: S105 - published sandbox secret
#: Salesforce's default session timeout.
SESSION_TIMEOUT_S = 2 * 3600.0


@dataclass(slots=True)
class SessionTable:
    """Issued session ids and their expiry (monotonic seconds)."""

    timeout_s: float = SESSION_TIMEOUT_S
    _sessions: dict[str, float] = field(default_factory=dict)

    def issue(self) -> str:
        """A new session id in Salesforce's shape (``<org id>!<opaque>``)."""
        token = f"{ORG_ID[:15]}!AQ{secrets.token_urlsafe(32)}"
        self._sessions[token] = time.monotonic() + self.timeout_s
        return token

    def is_valid(self, token: str) -> bool:
        """True for a known, unexpired session id."""
        expiry = self._sessions.get(token)
        if expiry is None:
            return False
        if expiry < time.monotonic():
            del self._sessions[token]
            return False
        return True

    def revoke_all(self) -> None:
        """Expire every session (tests of re-login; "Expire all passwords")."""
        self._sessions.clear()


def _password_ok(password: str) -> bool:
    return hmac.compare_digest(password, PASSWORD) or hmac.compare_digest(
        password, PASSWORD + SECURITY_TOKEN
    )


def _soap_fault(code: str, message: str, *, client_fault: bool = False) -> Response:
    faultcode = "soapenv:Client" if client_fault else f"sf:{code}"
    detail = (
        ""
        if client_fault
        else (
            '<detail><sf:LoginFault xmlns:sf="urn:fault.partner.soap.sforce.com" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="sf:LoginFault">'
            f"<sf:exceptionCode>{code}</sf:exceptionCode>"
            f"<sf:exceptionMessage>{escape(message)}</sf:exceptionMessage>"
            "</sf:LoginFault></detail>"
        )
    )
    faultstring = message if client_fault else f"{code}: {message}"
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:sf="urn:fault.partner.soap.sforce.com"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>{faultcode}</faultcode><faultstring>{escape(faultstring)}</faultstring>"
        f"{detail}</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    return Response(body, status_code=500, media_type="text/xml; charset=utf-8")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


async def soap_login(request: Request, sessions: SessionTable, base_url: str) -> Response:
    """``POST /services/Soap/u/{version}`` with a partner ``login`` envelope."""
    version = request.path_params.get("version", "59.0")
    raw = await request.body()
    if b"<!DOCTYPE" in raw.upper() or b"<!ENTITY" in raw.upper():
        return _soap_fault("", "DOCTYPE is not allowed", client_fault=True)
    try:
        root = ET.fromstring(raw)  # noqa: S314 - no DOCTYPE (checked above), so no entities
    except ET.ParseError as exc:
        return _soap_fault("", f"Unable to parse the SOAP message: {exc}", client_fault=True)
    login = next((el for el in root.iter() if _local(el.tag) == "login"), None)
    if login is None:
        return _soap_fault("", "No operation available for request", client_fault=True)
    values = {_local(el.tag): (el.text or "") for el in login}
    if not (values.get("username") == USERNAME and _password_ok(values.get("password", ""))):
        return _soap_fault(
            "INVALID_LOGIN", "Invalid username, password, security token; or user locked out."
        )
    session_id = sessions.issue()
    server = f"{base_url}/services/Soap/u/{version}/{ORG_ID[:15]}"
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns="urn:partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body><loginResponse><result>"
        f"<metadataServerUrl>{base_url}/services/Soap/m/{version}/{ORG_ID[:15]}</metadataServerUrl>"
        "<passwordExpired>false</passwordExpired><sandbox>true</sandbox>"
        f"<serverUrl>{server}</serverUrl><sessionId>{session_id}</sessionId>"
        f"<userId>{USER_ID}</userId>"
        "<userInfo><organizationId>" + ORG_ID + "</organizationId>"
        f"<userName>{USERNAME}</userName><userTimeZone>Asia/Shanghai</userTimeZone></userInfo>"
        "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
    )
    return Response(body, media_type="text/xml; charset=utf-8")


def _oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


async def oauth_token(
    request: Request,
    sessions: SessionTable,
    base_url: str,
    app_key: rsa.RSAPublicKey | None = None,
) -> Response:
    """``POST /services/oauth2/token``: password, client-credentials and JWT bearer grants."""
    raw = (await request.body()).decode("utf-8", errors="replace")
    form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
    grant = form.get("grant_type", "")
    if grant == JWT_GRANT and app_key is not None:
        try:
            user = verify_assertion(
                form.get("assertion", ""), app_key, consumer_key=CONSUMER_KEY, base_url=base_url
            )
        except JwtRefusedError as exc:
            return _oauth_error(exc.error, exc.description)
        if user != USERNAME:
            return _oauth_error("invalid_grant", "invalid assertion")
        return _token_answer(sessions, base_url)
    if grant == "client_credentials":
        header = request.headers.get("authorization", "")
        try:
            key, _, secret = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
        except ValueError:
            key, secret = "", ""
    elif grant == "password":
        key, secret = form.get("client_id", ""), form.get("client_secret", "")
    else:
        return _oauth_error("unsupported_grant_type", "grant type not supported")
    if key != CONSUMER_KEY:
        return _oauth_error("invalid_client_id", "client identifier invalid")
    if not hmac.compare_digest(secret, CONSUMER_SECRET):
        return _oauth_error("invalid_client", "invalid client credentials")
    if grant == "password" and not (
        form.get("username") == USERNAME and _password_ok(form.get("password", ""))
    ):
        return _oauth_error("invalid_grant", "authentication failure")
    return _token_answer(sessions, base_url)


def _token_answer(sessions: SessionTable, base_url: str) -> Response:
    issued_at = str(int(time.time() * 1000))
    identity = f"{base_url}/id/{ORG_ID}/{USER_ID}"
    signature = base64.b64encode(
        hmac.new(CONSUMER_SECRET.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
    ).decode()
    return JSONResponse(
        {
            "access_token": sessions.issue(),
            "instance_url": base_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": signature,
        }
    )
