"""The Oracle Fusion simulator as an ASGI app: Basic auth, version roots, JSON, batch.

Reference §1: every call carries HTTP Basic credentials of an integration user (wrong or
missing -> 401 with ``WWW-Authenticate``); resources live under
``/fscmRestApi/resources/<version>/``; ``REST-Framework-Version`` selects the ``q`` syntax (1:
query-by-example, 2+: expressions), the shape of expanded children (3+: collection objects)
and of error bodies (4+: JSON details). A POST to the version root with the batch media type
runs a batch (batch.py). Any unexpected failure answers a 500 in Oracle's error shape, never
a traceback.

The same framework serves the trading community resources (``hubOrganizations``) under
``/crmRestApi/resources/<version>/`` (§1.1); each resource answers under its own family only.
Simulator controls (not part of Oracle), with the same Basic auth: ``POST /sim/tick`` runs
one business day (days.py); ``POST /sim/receivables`` with ``{"auto_accounts": false}``
stops the sandbox's Receivables clerk from opening accounts for new parties (a real pod's
REST behaviour), with ``{"open_accounts": true}`` makes it open the missing ones (parties.py);
``POST /sim/credit`` sets an account's overall credit limit (the credit resource is read-only).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Callable

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from erpbridge.sims.oracle.batch import BATCH_MEDIA_TYPE, handle_batch
from erpbridge.sims.oracle.days import run_business_day
from erpbridge.sims.oracle.errors import OracleError, error_body
from erpbridge.sims.oracle.model import FAMILIES, VERSIONS
from erpbridge.sims.oracle.query import QueryError
from erpbridge.sims.oracle.service import Answer, Call, OracleService, parse_body
from erpbridge.sims.oracle.state import OracleState

__all__ = ["OracleSimApp"]

_log = structlog.get_logger(__name__)
_REALM = 'Basic realm="Oracle Fusion Applications"'
_BODY_LIMIT = 10 * 1024 * 1024
_JSON_MEDIA = ("json",)


class OracleSimApp:
    """The ASGI app (wrap it in the shared ``FaultMiddleware`` to inject faults).

    Args:
        state: the records (seeded or loaded by the caller).
        username: the integration user accepted by Basic auth.
        password: its password.
        child_limit: records per expanded child collection in collection and item reads;
            None shows them all. Default None.
        auto_accounts: a party created as a CUSTOMER gets its Receivables account at once
            (the sandbox standing in for the Receivables clerk; parties.py). Default True.
    """

    def __init__(
        self,
        state: OracleState,
        *,
        username: str,
        password: str,
        child_limit: int | None = None,
        auto_accounts: bool = True,
    ) -> None:
        self.state = state
        self.service = OracleService(state, child_limit=child_limit, auto_accounts=auto_accounts)
        self._username = username
        self._password = password
        #: called on ASGI lifespan shutdown (create_app closes the SQLite store here).
        self.on_shutdown: Callable[[], None] | None = None

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
        version = 1
        try:
            version = _framework_version(request)
            response = await self._answer(request, version)
        except OracleError as exc:
            response = _error(exc, version)
        except Exception as exc:  # noqa: BLE001 - process edge: never leak a traceback
            _log.exception("oracle_sim.request_failed", path=request.url.path)
            response = _error(OracleError(500, f"Internal error ({type(exc).__name__})."), version)
        await response(scope, receive, send)

    def _receivables(self, body: object) -> Response:
        """``/sim/receivables``: switch the sandbox's Receivables clerk, or let it catch up."""
        if not isinstance(body, dict) or not set(body) <= {"auto_accounts", "open_accounts"}:
            raise OracleError(400, 'Expected {"auto_accounts": bool, "open_accounts": bool}.')
        parties = self.service.rules.parties
        if isinstance(body.get("auto_accounts"), bool):
            parties.auto_accounts = body["auto_accounts"]
        opened = parties.open_missing_accounts() if body.get("open_accounts") is True else 0
        answer = {"auto_accounts": parties.auto_accounts, "opened": opened}
        return Response(json.dumps(answer), media_type="application/json")

    def _credit(self, body: object) -> Response:
        """``/sim/credit``: a credit analyst sets an account's overall credit limit.

        The simulator's credit resource is read-only (Fusion maintains profiles through the
        Credit Management pages, ``CustomerProfileService`` or FBDI, reference §2), so this
        control stands in for that person. Body: ``{"CustomerAccountId": <id>,
        "OverallCreditLimit": <number>}``; answers the profile as it now is.
        """
        if not isinstance(body, dict) or set(body) != {"CustomerAccountId", "OverallCreditLimit"}:
            raise OracleError(
                400, 'Expected {"CustomerAccountId": <id>, "OverallCreditLimit": <number>}.'
            )
        limit = body["OverallCreditLimit"]
        if isinstance(limit, bool) or not isinstance(limit, int | float) or limit < 0:
            raise OracleError(400, "OverallCreditLimit must be a number of at least 0.")
        account = str(body["CustomerAccountId"])
        profile = self.service.rules.orders.set_credit_limit(account, float(limit))
        return Response(json.dumps(profile, ensure_ascii=False), media_type="application/json")

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        ok_user = hmac.compare_digest(user.encode(), self._username.encode())
        return ok_user & hmac.compare_digest(password.encode(), self._password.encode())

    async def _answer(self, request: Request, version: int) -> Response:
        if not self._authorized(request):
            return Response(b"", status_code=401, headers={"WWW-Authenticate": _REALM})
        path: str = request.scope["path"]
        if path == "/sim/tick" and request.method.upper() == "POST":
            moved = run_business_day(self.service.rules)
            return Response(json.dumps(moved), media_type="application/json")
        if path == "/sim/receivables" and request.method.upper() == "POST":
            return self._receivables(parse_body(await request.body()))
        if path == "/sim/credit" and request.method.upper() == "POST":
            return self._credit(parse_body(await request.body()))
        family, _, rest = path.strip("/").partition("/")
        prefix = f"/{family}/resources/"
        if family not in FAMILIES or not path.startswith(prefix):
            raise OracleError(404, f"No REST service at {path}.")
        api_version, _, rest = path[len(prefix) :].partition("/")
        if api_version not in VERSIONS:
            raise OracleError(404, f"The REST API version {api_version} doesn't exist.")
        method = request.method.upper()
        override = request.headers.get("x-http-method-override", "").upper()
        if method == "POST" and override in ("PATCH", "PUT", "DELETE"):
            method = override  # documented for clients that cannot send PATCH
        raw = await request.body()
        if len(raw) > _BODY_LIMIT:
            raise OracleError(413, "The request body is larger than 10 MB.")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        is_batch = rest.strip("/") == "" and method == "POST"
        if is_batch and content_type != BATCH_MEDIA_TYPE:
            raise OracleError(415, f"A batch request needs Content-Type {BATCH_MEDIA_TYPE}.")
        if raw.strip() and not is_batch and "json" not in content_type:
            raise OracleError(415, f"The media type {content_type or '(none)'} isn't supported.")
        headers = {k.lower(): v for k, v in request.headers.items()}
        root = f"{request.url.scheme}://{request.url.netloc}{prefix}{api_version}"
        call = Call(
            family=family,
            method=method,
            path=rest,
            query=dict(request.query_params),
            headers=headers,
            root=root,
            payload=parse_body(raw),
            framework_version=version,
        )
        try:
            if is_batch:
                answer = handle_batch(self.state, call, self.service.handle)
            else:
                answer = self.service.handle(call)
        except QueryError as exc:
            raise OracleError(
                400, f"The query parameter {exc.parameter} isn't valid: {exc}."
            ) from None
        return _to_response(answer, method)


def _framework_version(request: Request) -> int:
    raw = request.headers.get("rest-framework-version", "").strip()
    if not raw:
        return 1  # reference §1.2: the default is version 1
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= 9:
        raise OracleError(400, f"The REST-Framework-Version {raw[:20]!r} isn't supported (1-9).")
    return int(raw)


def _error(error: OracleError, version: int) -> Response:
    body, media_type = error_body(error, version)
    return Response(body, status_code=error.status, media_type=media_type)


def _to_response(answer: Answer, method: str) -> Response:
    if answer.status in (204, 304) or answer.body is None:
        return Response(b"", status_code=answer.status, headers=answer.headers)
    body = json.dumps(answer.body, ensure_ascii=False).encode()
    if method == "HEAD":
        body = b""
    return Response(
        body, status_code=answer.status, headers=answer.headers, media_type=answer.media_type
    )
