"""The settings of a ``yonyou`` (U8 / U8+ OpenAPI) connection (pydantic, validated at load)."""

from __future__ import annotations

from pydantic import Field, field_validator

from erpbridge.spi.secrets import Secret
from erpbridge.spi.settings import ConnectionSettings, Limits

__all__ = ["DEFAULT_OBJECTS", "U8Settings"]

DEFAULT_OBJECTS = ("customer", "inventory", "currentstock", "saleorder")


class U8Settings(ConnectionSettings):
    """One U8 account set (账套) reached through the U8 OpenAPI platform.

    Attributes:
        base_url: the OpenAPI platform. Default ``https://api.yonyouup.com``.
        from_account: the caller's (ISV) account.
        to_account: the enterprise account whose U8 is targeted.
        app_key / app_secret: the app registered on the platform.
        ds_sequence: which U8 data source (账套) to use; None = the app's first.
        server_utc_offset_min: local time of the ``ts`` stamps. Default +480 (China).
        overlap_s: how far before the cursor a read starts again. Default 5 s.
        result_poll_s: wait between polls of an async write's result URL. Default 3 s
            (what the public clients do).
        result_polls: how many times to poll before giving up (transient). Default 10.
        objects: the objects describe() reports.
        ca_file: a CA file to trust.
    """

    base_url: str = "https://api.yonyouup.com"
    from_account: str = Field(min_length=1)
    to_account: str = Field(min_length=1)
    app_key: str = Field(min_length=1)
    app_secret: Secret
    ds_sequence: int | None = Field(default=None, ge=1)
    server_utc_offset_min: int = Field(default=480, ge=-720, le=840)
    overlap_s: float = Field(default=5.0, ge=0)
    result_poll_s: float = Field(default=3.0, ge=0)
    result_polls: int = Field(default=10, ge=1)
    objects: tuple[str, ...] = DEFAULT_OBJECTS
    ca_file: str | None = None
    limits: Limits = Field(default_factory=lambda: Limits(batch_size=20))

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("objects")
    @classmethod
    def _objects(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = set(value) - set(DEFAULT_OBJECTS)
        if unknown:
            raise ValueError(f"unknown objects {sorted(unknown)} (known: {list(DEFAULT_OBJECTS)})")
        return value
