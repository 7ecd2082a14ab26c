"""The wire side: one NATS connection, its JetStream context, the streams and consumers.

Reconnecting is ours, not the library's (``allow_reconnect=False``): a lost connection
must surface as a transient error on the call in flight, never as a publish that is
buffered while the client reconnects in the background.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import nats
import nats.js.api as jsapi
import structlog
from nats.aio.client import Client, RawCredentials
from nats.js import JetStreamContext

from erpbridge.connectors.nats.errors import SYSTEM, classify_error, map_errors
from erpbridge.connectors.nats.settings import NatsObject, NatsSettings
from erpbridge.spi.errors import AuthError, ConnectorError

__all__ = ["NatsClient", "connect_options", "durable_of"]

_log = structlog.get_logger(__name__)

try:  # nats-py signs NKEY and JWT logins with it; only those logins need it
    import nkeys  # type: ignore[import-untyped]  # nkeys ships no type information

    _NKEY_ERRORS: tuple[type[Exception], ...] = (nkeys.NkeysError,)
except ImportError:  # pragma: no cover - the broker extra installs it
    _NKEY_ERRORS = ()


def durable_of(object: str, spec: NatsObject) -> str:
    """The durable consumer name of ``object`` (default ``erpbridge_<object>``)."""
    return spec.durable or f"erpbridge_{object}"


class NatsClient:
    """Connection, JetStream context and topology of one ``nats`` connection."""

    def __init__(self, settings: NatsSettings) -> None:
        self.settings = settings
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._lock = asyncio.Lock()

    async def jetstream(self) -> JetStreamContext:
        """The JetStream context, (re)connecting and declaring first when needed.

        Raises:
            AuthError: the server refused the credentials.
            TransientError: the server cannot be reached in ``limits.timeout_s``.
        """
        async with self._lock:
            if self._nc is not None and self._nc.is_connected and self._js is not None:
                return self._js
            await self._drop()
            settings = self.settings
            secrets = [
                s.reveal()
                for s in (
                    settings.password,
                    settings.token,
                    settings.nkey_seed,
                    settings.credentials,
                    settings.tls.key_password if settings.tls else None,
                )
                if s is not None
            ]
            try:
                # nats-py keeps retrying a refused first connect; the outer timeout bounds it.
                async with asyncio.timeout(settings.limits.timeout_s):
                    self._nc = await nats.connect(
                        settings.url,
                        connect_timeout=max(1, int(settings.limits.timeout_s)),
                        allow_reconnect=False,
                        max_reconnect_attempts=0,
                        name="erpbridge",
                        error_cb=_log_error,
                        **connect_options(settings),
                    )
            except _NKEY_ERRORS as exc:
                refused = AuthError(
                    f"connect to {settings.url}: the NKEY seed or credentials file cannot be "
                    f"used ({type(exc).__name__})",
                    system=SYSTEM,
                )
                raise _scrubbed(refused, secrets) from None
            except (nats.errors.Error, TimeoutError, OSError, ValueError) as exc:
                error = classify_error(exc, doing=f"connect to {settings.url}")
                raise _scrubbed(error, secrets) from None
            self._js = self._nc.jetstream(timeout=settings.confirm_timeout_s)
            if settings.declare:
                try:
                    await self._declare(self._js)
                except ConnectorError:
                    await self._drop()
                    raise
            return self._js

    async def flush(self) -> None:
        """Wait until the server has processed everything sent so far (acks included)."""
        if self._nc is not None:
            await self._nc.flush(timeout=max(1, int(self.settings.confirm_timeout_s)))

    async def aclose(self) -> None:
        """Close the connection."""
        async with self._lock:
            await self._drop()

    async def _drop(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            await nc.close()

    async def _declare(self, js: JetStreamContext) -> None:
        """Create missing streams and durable consumers (existing ones are left as they are)."""
        settings = self.settings
        with map_errors(doing="declare streams and consumers"):
            await _ensure_stream(js, settings.stream, [f"{settings.system}.>"])
            await _ensure_stream(js, settings.dead_letter_stream, [settings.dead_letter_subject])
            for name, spec in settings.objects.items():
                if spec.stream is None:
                    continue
                await _ensure_stream(js, spec.stream, list(spec.subjects) or [f"{name}.>"])
                await self._ensure_consumer(js, name, spec)

    async def _ensure_consumer(self, js: JetStreamContext, object: str, spec: NatsObject) -> None:
        durable = durable_of(object, spec)
        stream = spec.stream or ""
        try:
            await js.consumer_info(stream, durable)
            return
        except nats.js.errors.NotFoundError:
            pass
        config = jsapi.ConsumerConfig(
            durable_name=durable,
            ack_policy=jsapi.AckPolicy.EXPLICIT,
            ack_wait=self.settings.ack_wait_s,
            deliver_policy=jsapi.DeliverPolicy.ALL,
            max_ack_pending=max(1000, self.settings.limits.batch_size or 0),
            filter_subjects=list(spec.subjects) or None,
        )
        await js.add_consumer(stream, config=config)


def connect_options(settings: NatsSettings) -> dict[str, Any]:
    """The login and TLS keywords of ``nats.connect`` for these settings.

    Raises:
        OSError: a TLS file cannot be read (ssl.SSLError for one that is not PEM).
    """
    options: dict[str, Any] = {}
    if (settings.nkey_seed or settings.credentials) and not _NKEY_ERRORS:
        raise ConnectorError(
            "nkey_seed and credentials need the nkeys package: pip install 'erpbridge[broker]'",
            system=SYSTEM,
        )
    if settings.user is not None:
        options["user"] = settings.user
        options["password"] = settings.password.reveal() if settings.password else None
    if settings.token is not None:
        options["token"] = settings.token.reveal()
    if settings.nkey_seed is not None:
        options["nkeys_seed_str"] = settings.nkey_seed.reveal()
    if settings.credentials is not None:
        # RawCredentials: the file's content, as read through the secret reference
        options["user_credentials"] = RawCredentials(settings.credentials.reveal())
    tls = settings.tls
    if tls is not None:
        context = ssl.create_default_context(cafile=tls.ca_file)
        if tls.cert_file and tls.key_file:
            password = tls.key_password.reveal() if tls.key_password else None
            context.load_cert_chain(tls.cert_file, tls.key_file, password=password)
        options["tls"] = context
        options["tls_hostname"] = tls.server_name
        options["tls_handshake_first"] = tls.handshake_first
    return options


async def _ensure_stream(js: JetStreamContext, name: str, subjects: list[str]) -> None:
    try:
        await js.stream_info(name)
        return
    except nats.js.errors.NotFoundError:
        pass
    # Two minutes of Nats-Msg-Id dedup (the server's default) catch re-published events.
    await js.add_stream(name=name, subjects=subjects, storage=jsapi.StorageType.FILE)


async def _log_error(exc: Exception) -> None:
    """nats-py reports background errors here (instead of printing them)."""
    _log.warning("nats.client_error", error=type(exc).__name__, text=str(exc)[:200])


def _scrubbed(error: ConnectorError, secrets: list[str]) -> ConnectorError:
    """``error`` with every secret blanked from its texts."""
    for secret in secrets:
        if secret:
            error.message = error.message.replace(secret, "***")
            error.raw = error.raw.replace(secret, "***") if error.raw else error.raw
    error.args = (error.message,)
    return error
