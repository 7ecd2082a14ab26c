"""The error tree every layer speaks (STYLE.md, "Errors").

Whether an error can be retried belongs to its class (``retryable``), so whoever raises
decides, not whoever catches. Connectors turn wire errors into these classes in one place
(their ``errors.py``); the engine branches on the class, never on a vendor code.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AuthError",
    "ConfigError",
    "ConflictError",
    "ConnectorError",
    "ErpBridgeError",
    "MappingError",
    "NotFoundError",
    "RateLimitedError",
    "TransientError",
    "ValidationError",
]


class ErpBridgeError(Exception):
    """Root of every error erpbridge raises on purpose."""

    retryable: ClassVar[bool] = False


class ConfigError(ErpBridgeError):
    """A project file, setting or reference that is refused at load time."""

    def __init__(
        self,
        reason: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
        field: str | None = None,
    ) -> None:
        self.reason = reason
        self.path = path
        self.line = line
        self.column = column
        self.field = field
        super().__init__(self.describe())

    def describe(self) -> str:
        """One line: ``file:line:col: field: reason``, leaving out what is unknown."""
        where = ""
        if self.path:
            where = self.path
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        field = f"{self.field}: " if self.field else ""
        return f"{where}{field}{self.reason}"


class MappingError(ErpBridgeError):
    """A mapping that cannot compile, or cannot map one record (job goes to dead letters)."""

    def __init__(
        self,
        message: str,
        *,
        flow: str | None = None,
        target_field: str | None = None,
        expression: str | None = None,
    ) -> None:
        self.message = message
        self.flow = flow
        self.target_field = target_field
        self.expression = expression
        prefix = " › ".join(p for p in (flow, target_field) if p)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class ConnectorError(ErpBridgeError):
    """A system answered with an error, or could not be reached.

    Args:
        message: a human sentence; for a system's answer, its own text verbatim.
        system: the connector's short name (``salesforce``).
        object: the object concerned, when known (``Account``).
        raw: the system's raw error text or body excerpt, kept for the dead letter.
            Connectors must never put credentials or session ids here.
        status: the HTTP status or vendor code, for people only; the engine ignores it.
        hint: what a person can do about it, when the connector knows better than the
            error class ("SAP order 123 is already delivered; cancel it in SAP …");
            the dead letter shows it. Default None (the engine's hint for the class).
    """

    def __init__(
        self,
        message: str,
        *,
        system: str | None = None,
        object: str | None = None,
        raw: str | None = None,
        status: int | str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.system = system
        self.object = object
        self.raw = raw
        self.status = status
        self.hint = hint
        super().__init__(message)

    @property
    def address(self) -> str:
        """``system:object`` as used in logs and messages (Camel habit)."""
        return ":".join(p for p in (self.system, self.object) if p)

    def __str__(self) -> str:
        address = self.address
        return f"{address}: {self.message}" if address else self.message


class TransientError(ConnectorError):
    """Timeout, connection failure, 5xx, lock conflict: the same call may succeed later."""

    retryable = True


class RateLimitedError(TransientError):
    """The system asked us to slow down; ``retry_after_s`` is its hint when it gave one."""

    def __init__(self, message: str, *, retry_after_s: float | None = None, **kw: object) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message, **kw)  # type: ignore[arg-type]  # same keywords as parent


class AuthError(ConnectorError):
    """Credentials refused, expired beyond refresh, or not allowed to do this."""


class ValidationError(ConnectorError):
    """The system refused the record's content; a person must fix it (dead letter)."""

    def __init__(self, message: str, *, field: str | None = None, **kw: object) -> None:
        self.field = field
        super().__init__(message, **kw)  # type: ignore[arg-type]  # same keywords as parent


class ConflictError(ConnectorError):
    """Stale version or concurrent edit (ETag mismatch, 409, 412); the engine decides."""

    retryable = True


class NotFoundError(ConnectorError):
    """The record or object does not exist in the system."""
