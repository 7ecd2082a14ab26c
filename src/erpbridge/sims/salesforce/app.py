"""The Salesforce simulator's ASGI app: logins, REST, collections, outbound messages.

Paths served (reference §1-§2): ``POST /services/Soap/u/{v}``, ``POST
/services/oauth2/token``, ``GET /services/data``, everything under
``/services/data/v{v}/`` (:mod:`.rest`), and the simulator-only admin resource
``/_sim/outbound``. Every answer is Salesforce's shape: a JSON error list for REST, a SOAP
fault for SOAP, never a Python traceback (an unexpected error is a 500
``UNKNOWN_EXCEPTION`` with an error id, as Salesforce gives).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from erpbridge.sims._common.faults import FaultConfig, FaultMiddleware
from erpbridge.sims._common.persist import DocumentStore
from erpbridge.sims._common.spec import SimulatorContext
from erpbridge.sims.salesforce import auth, rest
from erpbridge.sims.salesforce.bulk1 import Bulk1Jobs, BulkError
from erpbridge.sims.salesforce.bulk2 import Bulk2Jobs
from erpbridge.sims.salesforce.errors import SfError, method_not_allowed, not_found
from erpbridge.sims.salesforce.faults import SALESFORCE_FAULTS
from erpbridge.sims.salesforce.jwt_bearer import ensure_app_key
from erpbridge.sims.salesforce.outbound import OutboundConfig, OutboundNotifier, configs_from_json
from erpbridge.sims.salesforce.query import QueryCursors
from erpbridge.sims.salesforce.schema import object_def
from erpbridge.sims.salesforce.seed import SeedSize, seed_org
from erpbridge.sims.salesforce.state import Clock, OrgState
from erpbridge.spi.errors import ConfigError

__all__ = ["SUPPORTED_VERSIONS", "SalesforceSim", "build_app", "create_app", "sim_of"]

_log = logging.getLogger(__name__)
#: API versions served (Summer '14 .. Winter '25).
SUPPORTED_VERSIONS = [f"{v}.0" for v in range(31, 63)]
_DATA_PATH = re.compile(r"^/services/data/v(?P<version>\d+\.\d+)(?P<rest>/.*)?$")
_ASYNC_PATH = re.compile(r"^/services/async/(?P<version>\d+\.\d+)(?P<rest>/.*)?$")


@dataclass(slots=True)
class SalesforceSim:
    """The parts of one running simulator (tests reach them through :func:`sim_of`)."""

    org: OrgState
    sessions: auth.SessionTable
    usage: rest.ApiUsage
    outbound: OutboundNotifier
    base_url: str
    app_key: rsa.RSAPublicKey | None = None
    cursors: QueryCursors = field(init=False)
    bulk2: Bulk2Jobs = field(init=False)
    bulk1: Bulk1Jobs = field(init=False)

    def __post_init__(self) -> None:
        self.cursors = QueryCursors(self.org)
        self.bulk2 = Bulk2Jobs(self.org)
        self.bulk1 = Bulk1Jobs(self.org)
        self.org.listeners.append(self.outbound.on_change)

    @property
    def rest(self) -> rest.RestContext:
        """The context REST handlers work in."""
        return rest.RestContext(self.org, self.cursors, self.usage, self.bulk2)


def _error(exc: SfError, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(exc.rest_body(), status_code=exc.status, headers=headers)


def _unexpected() -> Response:
    error_id = (
        f"{secrets.randbelow(10**9)}-{secrets.randbelow(10**5)} ({-secrets.randbelow(10**9)})"
    )
    return JSONResponse(
        [
            {
                "message": "An unexpected error occurred. Please include this ErrorId if you "
                f"contact support: {error_id}",
                "errorCode": "UNKNOWN_EXCEPTION",
            }
        ],
        status_code=500,
    )


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    for scheme in ("Bearer ", "OAuth "):
        if header.startswith(scheme):
            return header[len(scheme) :].strip()
    return request.headers.get("x-sfdc-session", "")


_INVALID_SESSION = SfError(401, "INVALID_SESSION_ID", "Session expired or invalid")


async def _data(sim: SalesforceSim, request: Request, match: re.Match[str]) -> Response:
    version = match["version"]
    if version not in SUPPORTED_VERSIONS:
        raise not_found()
    if not sim.sessions.is_valid(_bearer(request)):
        raise _INVALID_SESSION
    sim.usage.used += 1
    limit = f"api-usage={sim.usage.used}/{sim.usage.max}"
    if sim.usage.used > sim.usage.max:
        return _error(
            SfError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
            {"Sforce-Limit-Info": limit},
        )
    parts = [p for p in (match["rest"] or "").split("/") if p]
    try:
        response = await rest.dispatch(sim.rest, parts, request, version)
    except SfError as exc:
        response = _error(exc)
    response.headers["Sforce-Limit-Info"] = limit
    return response


async def _async(sim: SalesforceSim, request: Request, match: re.Match[str]) -> Response:
    """Bulk API 1.0 (``/services/async/{version}/…``): X-SFDC-Session, its own errors."""
    version = match["version"]
    if version not in SUPPORTED_VERSIONS:
        return BulkError("InvalidVersion", f"Invalid api version specified: {version}").response()
    if not sim.sessions.is_valid(_bearer(request)):
        return BulkError("InvalidSessionId", "Invalid session id").response()
    sim.usage.used += 1
    parts = [p for p in (match["rest"] or "").split("/") if p]
    response = await sim.bulk1.dispatch(parts, request, version)
    response.headers["Sforce-Limit-Info"] = f"api-usage={sim.usage.used}/{sim.usage.max}"
    return response


async def _versions(request: Request) -> Response:
    return JSONResponse(
        [
            {"label": f"v{v}", "url": f"/services/data/v{v}", "version": v}
            for v in SUPPORTED_VERSIONS
        ]
    )


async def _admin_outbound(sim: SalesforceSim, request: Request) -> Response:
    if not sim.sessions.is_valid(_bearer(request)):
        raise _INVALID_SESSION
    if request.method == "GET":
        return JSONResponse(
            {
                "configs": [
                    {"url": c.url, "object": c.object, "fields": list(c.fields)}
                    for c in sim.outbound.configs
                ],
                "delivered": sim.outbound.delivered,
                "failed": sim.outbound.failed,
            }
        )
    if request.method == "DELETE":
        sim.outbound.configure([])
        sim.org.store.set_meta("outbound", "[]")
        return Response(status_code=204)
    if request.method != "PUT":
        raise method_not_allowed(request.method, "GET,PUT,DELETE")
    body = await rest.read_json(request)
    try:
        configs = checked_outbound(body)
    except ValueError as exc:
        raise SfError(400, "INVALID_INPUT", str(exc)) from None
    sim.org.store.set_meta("outbound", json.dumps(body))
    sim.outbound.configure(configs)
    return JSONResponse({"configured": len(configs)})


def checked_outbound(body: object) -> list[OutboundConfig]:
    """Outbound message definitions from JSON, with objects and fields checked.

    Raises:
        ValueError: naming the entry and what is wrong.
    """
    configs = configs_from_json(body)
    for i, c in enumerate(configs):
        o = object_def(c.object)
        if o is None:
            raise ValueError(f"[{i}].object: unknown sObject {c.object!r}")
        unknown = [f for f in c.fields if o.field(f) is None]
        if unknown:
            raise ValueError(f"[{i}].fields: unknown fields {unknown} on {o.name}")
    return configs


def _initial_outbound(org: OrgState) -> list[OutboundConfig]:
    """Definitions kept from an earlier run, else from ``ERPBRIDGE_SALESFORCE_OUTBOUND_URL``.

    The environment form sends changes of ``ERPBRIDGE_SALESFORCE_OUTBOUND_OBJECTS``
    (comma-separated; default Account,Order,Case) with all their fields.

    Raises:
        ConfigError: the environment names an unknown object or a non-HTTP URL.
    """
    stored = org.store.get_meta("outbound")
    if stored:
        try:
            return checked_outbound(json.loads(stored))
        except ValueError:
            _log.warning("salesforce.sim.outbound_config_ignored")
    url = os.environ.get("ERPBRIDGE_SALESFORCE_OUTBOUND_URL", "").strip()
    if not url:
        return []
    objects = os.environ.get("ERPBRIDGE_SALESFORCE_OUTBOUND_OBJECTS", "Account,Order,Case")
    body = [{"url": url, "object": o.strip()} for o in objects.split(",") if o.strip()]
    try:
        return checked_outbound(body)
    except ValueError as exc:
        raise ConfigError(str(exc), field="ERPBRIDGE_SALESFORCE_OUTBOUND_URL") from None


def _handler(sim: SalesforceSim) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        path, method = request.url.path, request.method
        try:
            if path.startswith("/services/Soap/u/"):
                if method != "POST":
                    return PlainTextResponse("Method Not Allowed", status_code=405)
                return await auth.soap_login(request, sim.sessions, sim.base_url)
            if path.rstrip("/") == "/services/oauth2/token":
                if method != "POST":
                    raise method_not_allowed(method, "POST")
                return await auth.oauth_token(request, sim.sessions, sim.base_url, sim.app_key)
            if path.rstrip("/") == "/services/data":
                return await _versions(request)
            match = _DATA_PATH.match(path)
            if match is not None and method == "HEAD":
                # HEAD is GET without the body (Salesforce allows it on every GET resource)
                as_get = Request({**request.scope, "method": "GET"}, request.receive)
                full = await _data(sim, as_get, match)
                return Response(status_code=full.status_code, headers=dict(full.headers))
            if match is not None:
                return await _data(sim, request, match)
            bulk = _ASYNC_PATH.match(path)
            if bulk is not None:
                return await _async(sim, request, bulk)
            if path.rstrip("/") == "/_sim/outbound":
                return await _admin_outbound(sim, request)
            raise not_found()
        except SfError as exc:
            return _error(exc)
        except Exception:  # noqa: BLE001 - process edge: never a traceback to the client
            _log.exception("salesforce.sim.unexpected path=%s", path)
            return _unexpected()

    return handle


def build_app(
    data_dir: Path,
    *,
    seed: int = 0,
    faults: FaultConfig | None = None,
    base_url: str = "https://127.0.0.1",
    clock: Clock | None = None,
    size: SeedSize | None = None,
    api_limit: int = 15000,
    jwt_key: bool = False,
) -> tuple[FaultMiddleware, SalesforceSim]:
    """The app and its parts; seeds ``data_dir`` on first use, reloads it afterwards.

    Args:
        data_dir: holds ``salesforce.sqlite``.
        seed: data and fault seed. Default 0.
        faults: faults to inject. Default none.
        base_url: the URL clients reach the simulator at (goes into login answers).
        clock: time source for stamps. Default: the system clock (UTC).
        size: how much seed data. Default :class:`SeedSize` (full).
        api_limit: DailyApiRequests maximum. Default 15000 (Developer Edition).
        jwt_key: make (or load) the connected app's key so the JWT bearer flow works.
            Default False (RSA key generation is slow for throw-away test orgs);
            :func:`create_app` (the sandbox) turns it on.
    """
    store = DocumentStore(data_dir / "salesforce.sqlite")
    org = OrgState(store, clock=clock) if clock else OrgState(store)
    if not org.is_seeded:
        seed_org(org, seed=seed, now=(clock or (lambda: datetime.now(UTC)))(), size=size)
    sim = SalesforceSim(
        org=org,
        sessions=auth.SessionTable(),
        usage=rest.ApiUsage(max=api_limit),
        outbound=OutboundNotifier(base_url),
        base_url=base_url.rstrip("/"),
        app_key=ensure_app_key(data_dir) if jwt_key else None,
    )
    sim.outbound.configure(_initial_outbound(org))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await sim.outbound.aclose()
        store.close()

    methods = ["GET", "POST", "PATCH", "PUT", "DELETE", "HEAD", "OPTIONS"]
    inner = Starlette(
        routes=[Route("/{path:path}", _handler(sim), methods=methods)],
        lifespan=lifespan,
    )
    inner.state.sim = sim
    app = FaultMiddleware(inner, faults, seed=seed, responses=SALESFORCE_FAULTS)
    return app, sim


def create_app(context: SimulatorContext) -> ASGIApp:
    """:class:`SimulatorSpec` factory: the full-size org at ``context.data_dir``."""
    app, _ = build_app(
        context.data_dir,
        seed=context.seed,
        faults=context.faults,
        base_url=context.base_url,
        jwt_key=True,
    )
    return app


def sim_of(app: ASGIApp) -> SalesforceSim:
    """The :class:`SalesforceSim` behind an app made by :func:`create_app`."""
    inner = app.app if isinstance(app, FaultMiddleware) else app
    sim = getattr(getattr(inner, "state", None), "sim", None)
    if not isinstance(sim, SalesforceSim):
        raise TypeError("not a Salesforce simulator app")
    return sim
