"""Shared HTTP helpers for connectors: the client, transport errors, safe body excerpts.

- :func:`build_client`: an ``httpx.AsyncClient`` from a connection's limits (pool size,
  timeout) and an optional CA file, for connectors that were not handed one.
- :func:`map_transport_errors`: turns httpx's transport failures (timeouts, refused or
  dropped connections) into :class:`TransientError`; a malformed URL into
  :class:`ConnectorError` (retrying cannot help).
- :func:`body_excerpt`: a short, single-line excerpt of a response body with every known
  secret and every bearer token blanked, for error messages and dead letters.
- :func:`retry_after_s`: the ``Retry-After`` header in seconds (number or HTTP date).
- :func:`read_json`: a response body as JSON or a clear ``ConnectorError`` that says what
  came instead (HTML page, empty body, truncated JSON, wrong content type).
"""

from __future__ import annotations

import email.utils
import json
import re
import socket
import ssl
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson

from erpbridge.spi.errors import ConnectorError, TransientError
from erpbridge.spi.secrets import known_secret_values
from erpbridge.spi.settings import Limits

__all__ = [
    "body_excerpt",
    "build_client",
    "loads_json",
    "map_transport_errors",
    "read_json",
    "redact",
    "retry_after_s",
    "ssl_context",
]

_EXCERPT_CHARS = 500
# Bearer/OAuth tokens, Salesforce session ids (00D…!…), and XML/JSON fields holding secrets.
_TOKEN_PATTERNS = [
    re.compile(r"(?i)\b(Bearer|OAuth|Basic)\s+[A-Za-z0-9._~+/=!-]+"),
    re.compile(r"\b00D[A-Za-z0-9]{12,15}![A-Za-z0-9._-]+"),
    re.compile(r"(?i)(<(?:\w+:)?(?:sessionId|password|access_token)>)[^<]*(</)"),
    re.compile(
        r'(?i)("(?:access_token|refresh_token|password|client_secret|sessionId)"\s*:\s*")[^"]*(")'
    ),
]


def ssl_context(ca_file: Path | None) -> ssl.SSLContext:
    """A verifying TLS context; trusts ``ca_file`` only when given, else the system CAs."""
    if ca_file is not None:
        return ssl.create_default_context(cafile=str(ca_file))
    return ssl.create_default_context()


def build_client(
    limits: Limits, *, ca_file: Path | None = None, base_url: str = ""
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` sized for ``limits`` (pool = 2 x concurrency, timeout_s).

    Args:
        limits: the connection's limits.
        ca_file: extra CA to trust (sandbox simulators); default: the system CAs.
        base_url: optional base URL for relative requests.
    """
    pool = httpx.Limits(
        max_connections=limits.concurrency * 2, max_keepalive_connections=limits.concurrency
    )
    context = ssl_context(ca_file)
    # TCP_NODELAY: a request's headers and body leave as separate writes; with Nagle on,
    # the body waits for the server's delayed ACK (~40 ms per call on Linux).
    transport = httpx.AsyncHTTPTransport(
        verify=context,
        limits=pool,
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
    )
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(limits.timeout_s),
        transport=transport,
        follow_redirects=False,
    )


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """``text`` with known secret values and token-shaped strings blanked."""
    for secret in sorted({*known_secret_values(), *extra}, key=len, reverse=True):
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    for pattern in _TOKEN_PATTERNS:
        text = pattern.sub(
            lambda m: (
                (m.group(1) + "***" + m.group(2))
                if m.lastindex == 2
                else (m.group(1) + " ***" if m.lastindex == 1 else "***")
            ),
            text,
        )
    return text


def body_excerpt(response: httpx.Response, *, secrets: Iterable[str] = ()) -> str:
    """At most 500 characters of the body, on one line, with secrets blanked."""
    try:
        text = response.text
    except (UnicodeDecodeError, httpx.ResponseNotRead):
        return "<unreadable body>"
    text = " ".join(text.split())
    if len(text) > _EXCERPT_CHARS:
        text = text[:_EXCERPT_CHARS] + "…"
    return redact(text, secrets)


def retry_after_s(value: str | None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date); None when absent/invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


@contextmanager
def map_transport_errors(system: str, object: str | None = None) -> Iterator[None]:
    """Turn httpx transport failures into spi errors (no credentials in the message).

    Raises:
        TransientError: timeouts, refused/reset/dropped connections, protocol errors.
        ConnectorError: a malformed URL or unsupported scheme (configuration; no retry).
    """
    try:
        yield
    except httpx.TimeoutException as exc:
        raise TransientError(
            f"timed out ({type(exc).__name__}) talking to {_host(exc)}",
            system=system,
            object=object,
        ) from exc
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise ConnectorError(f"bad URL: {redact(str(exc))}", system=system, object=object) from exc
    except httpx.TransportError as exc:
        raise TransientError(
            f"connection failed ({type(exc).__name__}) to {_host(exc)}: {redact(str(exc))[:200]}",
            system=system,
            object=object,
        ) from exc


def _host(exc: httpx.TransportError) -> str:
    try:
        return exc.request.url.host or "the system"
    except RuntimeError:
        return "the system"


def loads_json(body: bytes | str) -> object:
    """JSON text as Python values: orjson (fast), the standard library for what orjson
    refuses but JSON readers commonly take (``NaN``, integers wider than 64 bits).

    Raises:
        json.JSONDecodeError: the text is not JSON (orjson's error is a subclass).
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


def read_json(response: httpx.Response, *, system: str, object: str | None = None) -> object:
    """The body of a successful response as JSON.

    Raises:
        ConnectorError: empty body, a non-JSON content type (an HTML error page from a
            proxy), or truncated/invalid JSON; the message says which, with an excerpt.
    """
    content_type = response.headers.get("content-type", "")
    if not response.content:
        raise ConnectorError(
            f"HTTP {response.status_code} with an empty body where JSON was expected",
            system=system,
            object=object,
            status=response.status_code,
        )
    if "json" not in content_type.lower():
        raise ConnectorError(
            f"HTTP {response.status_code} answered {content_type or 'no content type'} where "
            f"JSON was expected: {body_excerpt(response)}",
            system=system,
            object=object,
            raw=body_excerpt(response),
            status=response.status_code,
        )
    try:
        return loads_json(response.content)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConnectorError(
            f"HTTP {response.status_code} with invalid JSON ({exc}): {body_excerpt(response)}",
            system=system,
            object=object,
            raw=body_excerpt(response),
            status=response.status_code,
        ) from exc
