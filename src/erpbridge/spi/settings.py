"""The base of every connection's settings model (pydantic, validated at load)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt

__all__ = ["ConnectionSettings", "Limits"]


class Limits(BaseModel):
    """Limits a connection declares; the engine enforces them (DESIGN.md §5).

    Attributes:
        requests_per_s: token-bucket rate for calls to the system; None = unlimited.
        concurrency: calls in flight at once. Default 4.
        batch_size: records per write call; None = the connector's own default.
        timeout_s: timeout of one call in seconds. Default 30.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests_per_s: PositiveFloat | None = None
    concurrency: PositiveInt = 4
    batch_size: PositiveInt | None = None
    timeout_s: PositiveFloat = 30.0


class ConnectionSettings(BaseModel):
    """Fields every connection has; each connector subclasses it with its own.

    Unknown keys are refused (a typo is an error at load, not a silent default).
    Secret fields are typed :class:`erpbridge.spi.secrets.Secret`. Validation messages
    never repeat the input (a password pasted where a reference belongs stays unseen).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    limits: Limits = Field(default_factory=Limits)
