"""Logging: structlog, a console renderer for people and JSON for machines, secrets redacted.

Two layers of redaction run on every event before it is rendered:
- keys that name a secret (password, secret, token, authorization, cookie, api_key …)
  have their value replaced, however deeply nested;
- any value resolved from a secret reference in this process is blanked wherever it
  appears inside a string (an error message quoting a URL with a token, say).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from erpbridge.spi.secrets import known_secret_values

__all__ = ["REDACTED", "configure_logging", "get_logger", "redact", "redact_secrets"]

REDACTED = "***"
_SECRET_KEY = re.compile(
    r"pass(word|wd)?|secret|token|authori[sz]ation|api[_-]?key|cookie|session[_-]?id|"
    r"private[_-]?key|signature|credential",
    re.IGNORECASE,
)
# "Bearer abc.def", "Basic dXNlcjpwYXNz" inside free text.
_AUTH_IN_TEXT = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}")


def redact(value: Any, secrets: frozenset[str] | None = None) -> Any:
    """``value`` with secret-named keys and known secret values replaced by ``***``."""
    known = known_secret_values() if secrets is None else secrets
    if isinstance(value, str):
        for secret in known:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return _AUTH_IN_TEXT.sub(lambda m: f"{m.group(1)} {REDACTED}", value)
    if isinstance(value, dict):
        return {
            k: REDACTED if isinstance(k, str) and _SECRET_KEY.search(k) else redact(v, known)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(redact(v, known) for v in value)
    return value


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: see the module docstring."""
    known = known_secret_values()
    for key in list(event_dict):
        if _SECRET_KEY.search(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = redact(event_dict[key], known)
    return event_dict


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at write time (test runners swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(
    verbosity: int = 0, *, json: bool = False, stream: TextIO | None = None
) -> None:
    """Configure structlog for this process.

    Args:
        verbosity: 0 = warnings, 1 = info, 2+ = debug (record field values only at debug).
        json: one JSON object per line instead of the console renderer.
        stream: where to write; default stderr (stdout stays for command output).
    """
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_secrets,  # last before rendering, so nothing added later escapes it
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=stream or _CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )


def get_logger(name: str | None = None) -> Any:
    """A structlog logger (with ``component=name`` when given).

    Lazy: modules create their loggers at import time, before :func:`configure_logging`
    runs; the configuration is looked up at the first log call, not here.
    """
    return structlog.get_logger(component=name) if name else structlog.get_logger()
