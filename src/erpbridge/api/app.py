"""The HTTP app: ``/hooks/<connection>``, ``/healthz``, ``/readyz``, ``/metrics``.

A webhook is acknowledged (2xx) only after its changes are committed as jobs. Bad input
gets a 4xx with a one-line reason and nothing is stored: unknown connection 404, body too
large 413, bad signature 401, malformed body 400. A store that cannot be reached is a 503
with Retry-After (the sender tries again), never a 500 with a traceback.
"""

from __future__ import annotations

import contextlib
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from erpbridge import __version__
from erpbridge.engine.hub import Hub
from erpbridge.log import get_logger, redact
from erpbridge.spi.connector import WebhookAcknowledger
from erpbridge.spi.errors import AuthError, ConfigError, ConnectorError, ValidationError

__all__ = ["DEFAULT_MAX_BODY_BYTES", "QUERY_HEADER", "create_app"]

DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
#: the raw query string of the delivery URL, passed to connectors with the headers.
QUERY_HEADER = "x-erpbridge-query-string"
log = get_logger("api")


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": redact(message), **extra}, status_code=status)


async def _read_limited(request: Request, limit: int) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def create_app(hub: Hub, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> FastAPI:
    """The app serving ``hub``."""
    app = FastAPI(title="erpbridge", version=__version__, docs_url="/docs", redoc_url=None)

    @app.post("/hooks/{connection}")
    async def receive_webhook(connection: str, request: Request) -> Response:
        if connection not in hub.project.connections:
            return _error(404, f"unknown connection {connection!r}")
        body = await _read_limited(request, max_body_bytes)
        if body is None:
            return _error(413, f"body larger than {max_body_bytes} bytes")
        try:
            headers = dict(request.headers)
            # Some systems sign values carried in the URL (Jiandaoyun: nonce, timestamp);
            # connectors read them from this header (see WebhookConnector).
            headers[QUERY_HEADER] = request.url.query
            result = await hub.accept_webhook(connection, headers, body)
        except AuthError as exc:
            log.warning("webhook.refused", connection=connection, reason=exc.message)
            return _error(401, exc.message)
        except (ValidationError, ConfigError) as exc:
            message = exc.message if isinstance(exc, ConnectorError) else exc.describe()
            log.warning("webhook.bad_request", connection=connection, reason=message)
            return _error(400, message)
        except ConnectorError as exc:
            return _error(400, exc.message)
        except sa.exc.OperationalError as exc:
            log.error("webhook.store_unavailable", connection=connection, error=str(exc.orig))
            return JSONResponse(
                {"error": "store unavailable; retry later"},
                status_code=503,
                headers={"Retry-After": "5"},
            )
        connector = hub.runtime.connector(connection)
        if isinstance(connector, WebhookAcknowledger):
            status, content_type, ack = connector.webhook_ack()
            return Response(ack, status_code=status, media_type=content_type)
        return JSONResponse(
            {"queued": result.queued, "duplicates": result.duplicates + result.stale}
        )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        ok, reason = hub.is_ready()
        return JSONResponse({"ready": ok, "reason": reason}, status_code=200 if ok else 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        # On a store failure serve the counters we have; readyz reports the store.
        with contextlib.suppress(sa.exc.OperationalError):
            hub.refresh_gauges()
        return PlainTextResponse(
            generate_latest(hub.metrics.registry), media_type=CONTENT_TYPE_LATEST
        )

    return app
