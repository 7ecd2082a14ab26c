"""The SAP S/4HANA simulator as an ASGI app: basic auth, sessions, CSRF, OData services.

Copies SAP Gateway's front door (reference §1): HTTP Basic auth or the session cookie
``SAP_SESSIONID_<SID>_<client>``; ``X-CSRF-Token: Fetch`` on a GET/HEAD hands out a token
bound to the session; every modifying request needs that token and the session cookie,
otherwise 403 with ``x-csrf-token: Required``. Wrong credentials get 401 with SAP's realm.
Services live under ``/sap/opu/odata/sap/<SERVICE>/``; ``sap-client`` is accepted and ignored.

Simulator controls (not part of SAP): ``POST /sim/tick`` runs one business day (deliver and
invoice orders, release requisitions and order released ones), ``POST /sim/expire-sessions``
drops every session (as a session timeout would), ``POST /sim/requisitions/<number>/release``
(or ``/reject``) is the approver's decision on a purchase requisition. All need basic auth.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from erpbridge.sims.sap.batch import handle_batch
from erpbridge.sims.sap.errors import ODataError
from erpbridge.sims.sap.model import find_service
from erpbridge.sims.sap.rules import Rules
from erpbridge.sims.sap.service import ODataRequest, ODataResponse, ODataService
from erpbridge.sims.sap.state import SapState

__all__ = ["SESSION_COOKIE", "SapSimApp"]

_log = structlog.get_logger(__name__)

SERVICE_PREFIX = "/sap/opu/odata/sap/"
SESSION_COOKIE = "SAP_SESSIONID_S4H_100"
#: sessions kept at once; the oldest is dropped first (as if it had timed out).
MAX_SESSIONS = 10_000
_REALM = 'Basic realm="SAP NetWeaver Application Server [S4H/100]"'
_MODIFYING = {"POST", "PUT", "PATCH", "MERGE", "DELETE"}
_DECISION = re.compile(r"/sim/requisitions/(?P<number>\d{1,10})/(?P<decision>release|reject)")
_LOGON_PAGE = (
    "<html><head><title>Logon Error Message</title></head><body>"
    "<h1>Anmeldung fehlgeschlagen / Logon failed</h1></body></html>"
)


@dataclass(slots=True)
class _Session:
    user: str
    csrf_token: str | None = None


class SapSimApp:
    """The ASGI app (wrap it in the shared ``FaultMiddleware`` to inject faults).

    Args:
        state: the records (loaded or seeded by the caller).
        username: the communication user accepted by basic auth.
        password: its password.
        max_page_size: server-side page size of collections. Default 1000.
        day_s: wall-clock seconds per business day (deliveries and invoices happen as
            requests arrive); None = days pass only on ``POST /sim/tick``. Default None.
        monotonic: the clock measuring those seconds (tests inject one). Default
            ``time.monotonic``.
    """

    def __init__(
        self,
        state: SapState,
        *,
        username: str,
        password: str,
        max_page_size: int = 1000,
        day_s: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.state = state
        self._monotonic = monotonic
        #: wall-clock seconds per simulated business day; None = only ``/sim/tick``.
        self.day_s = day_s
        self._day_started = monotonic()
        self.service = ODataService(state, max_page_size=max_page_size)
        self._username = username
        self._password = password
        self._sessions: dict[str, _Session] = {}
        #: called on ASGI lifespan shutdown (create_app closes the SQLite store here).
        self.on_shutdown: Callable[[], None] | None = None

    def expire_sessions(self) -> None:
        """Forget every session and CSRF token (what a session timeout does)."""
        self._sessions.clear()

    def tick(self) -> int:
        """Run one business day; returns how many orders and requisition items changed."""
        rules = Rules(self.state)
        return rules.tick() + rules.tick_requisitions()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI call."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self.on_shutdown is not None:
                        self.on_shutdown()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        try:
            response = await self._answer(request)
        except Exception as exc:  # noqa: BLE001 - process edge: never leak a traceback
            _log.exception("sap_sim.request_failed", path=request.url.path)
            error = ODataError(500, "/IWBEP/CM_MGW_RT/000", f"Internal error: {type(exc).__name__}")
            response = _to_starlette(ODataResponse.error(error, ""), request.method)
        await response(scope, receive, send)

    def _pass_days(self) -> None:
        """Run the business days that passed since the last request (at most 30 at once)."""
        if not self.day_s:
            return
        days = int((self._monotonic() - self._day_started) // self.day_s)
        if days > 0:
            self._day_started += days * self.day_s
            for _ in range(min(days, 30)):
                self.tick()

    async def _answer(self, request: Request) -> Response:
        self._pass_days()
        method = request.method.upper()
        path: str = request.url.path
        user = self._basic_user(request)
        if user is False:
            return self._unauthorized()
        session_id = request.cookies.get(SESSION_COOKIE, "")
        session = self._sessions.get(session_id)
        if user is None:
            if session is None:
                return self._unauthorized()
        elif session is None or session.user != user:
            session = None  # a new session is opened below
        if path.startswith("/sim/"):
            return self._control(method, path, user)
        if not path.startswith(SERVICE_PREFIX):
            return _plain(404, "Not Found: no service at this path")
        service_name, _, rest = path[len(SERVICE_PREFIX) :].partition("/")
        service = find_service(service_name)
        if service is None:
            error = ODataError(
                404,
                "/IWFND/MED/170",
                f"No service found for namespace '/SAP/', name '{service_name}', version '0001'",
            )
            return _to_starlette(ODataResponse.error(error, service_name), method)
        set_cookies: list[str] = []
        if session is None:
            session_id = secrets.token_urlsafe(24)
            session = _Session(user=str(user))
            self._sessions[session_id] = session
            if len(self._sessions) > MAX_SESSIONS:  # cookie-less clients open one per call
                del self._sessions[next(iter(self._sessions))]
            set_cookies = [
                f"{SESSION_COOKIE}={session_id}; path=/; HttpOnly",
                "sap-usercontext=sap-client=100; path=/",
            ]
        headers: dict[str, str] = {}
        token_header = request.headers.get("x-csrf-token", "")
        if method in _MODIFYING:
            # A new session has no token yet, so a modifying call without a cookie fails.
            if not session.csrf_token or not hmac.compare_digest(
                token_header.encode(), session.csrf_token.encode()
            ):
                response = _plain(403, "CSRF token validation failed")
                response.headers["x-csrf-token"] = "Required"
                return _with_cookies(response, set_cookies)
        elif token_header.lower() == "fetch":
            session.csrf_token = session.csrf_token or secrets.token_urlsafe(18)
            headers["x-csrf-token"] = session.csrf_token
        body = await request.body()
        root = f"{request.url.scheme}://{request.url.netloc}{SERVICE_PREFIX}{service.name}/"
        odata = ODataRequest(
            method,
            service,
            rest,
            dict(parse_qsl(request.url.query, keep_blank_values=True)),
            {k.lower(): v for k, v in request.headers.items()},
            body,
            root,
        )
        if rest.strip("/") == "$batch":
            if method != "POST":
                answer = ODataResponse.error(
                    ODataError(405, "/IWBEP/CM_MGW_RT/101", "$batch needs POST"), service.name
                )
            else:
                try:
                    answer = handle_batch(self.state, odata, self.service.handle)
                except ODataError as exc:
                    answer = ODataResponse.error(exc, service.name)
        else:
            answer = self.service.handle(odata)
        answer.headers.update(headers)
        return _with_cookies(_to_starlette(answer, method), set_cookies)

    def _basic_user(self, request: Request) -> str | bool | None:
        """The user of a valid Basic header; None without one; False when it is wrong."""
        header = request.headers.get("authorization")
        if not header:
            return None
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        ok_user = hmac.compare_digest(user.upper(), self._username.upper())
        ok_password = hmac.compare_digest(password, self._password)
        return user.upper() if ok_user and ok_password else False

    def _unauthorized(self) -> Response:
        return Response(
            _LOGON_PAGE,
            status_code=401,
            media_type="text/html",
            headers={"www-authenticate": _REALM},
        )

    def _control(self, method: str, path: str, user: str | bool | None) -> Response:
        if user is None:
            return self._unauthorized()  # controls need basic auth, not only a session
        if method != "POST":
            return _plain(405, "Method Not Allowed")
        if path == "/sim/tick":
            return Response(json.dumps({"changed": self.tick()}), media_type="application/json")
        if path == "/sim/expire-sessions":
            self.expire_sessions()
            return Response(status_code=204)
        match = _DECISION.fullmatch(path)
        if match is not None:  # the approver's decision (requisitions.py)
            try:
                changed = Rules(self.state).decide_requisition(
                    match["number"], release=match["decision"] == "release"
                )
            except ODataError as exc:
                return _plain(exc.status, exc.message)
            return Response(json.dumps({"changed": changed}), media_type="application/json")
        return _plain(404, "Not Found")


def _plain(status: int, text: str) -> Response:
    return Response(text, status_code=status, media_type="text/plain")


def _with_cookies(response: Response, cookies: list[str]) -> Response:
    for cookie in cookies:
        response.headers.append("set-cookie", cookie)
    return response


def _to_starlette(answer: ODataResponse, method: str) -> Response:
    headers = {k: v for k, v in answer.headers.items() if k != "content-type"}
    body = b"" if method == "HEAD" or answer.status == 204 else answer.body
    response = Response(body, status_code=answer.status, headers=headers, media_type=None)
    if "content-type" in answer.headers and answer.status != 204:
        response.headers["content-type"] = answer.headers["content-type"]
    return response
