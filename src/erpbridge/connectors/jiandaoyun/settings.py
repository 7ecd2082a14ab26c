"""The settings of a ``jiandaoyun`` connection (validated at load; unknown keys refused)."""

from __future__ import annotations

import re

from pydantic import Field, PositiveFloat, field_validator

from erpbridge.spi.secrets import Secret
from erpbridge.spi.settings import ConnectionSettings

__all__ = ["DEFAULT_BASE_URL", "JiandaoyunSettings"]

DEFAULT_BASE_URL = "https://api.jiandaoyun.com"
_OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")


class JiandaoyunSettings(ConnectionSettings):
    """A connection to one Jiandaoyun app through the Open API v5.

    Attributes:
        base_url: scheme and host; private deployments use their own host with the same
            ``/api/v5/...`` paths. A trailing ``/api`` is accepted. Default
            ``https://api.jiandaoyun.com``.
        api_key: the API key (开放平台 → 密钥管理), by reference (``${env:JDY_API_KEY}``).
        app_id: the app (应用) whose forms this connection reads and writes (24 hex).
        push_secret: the 数据推送 secret, by reference; without it pushes are refused.
        push_max_age_s: refuse pushes whose ``timestamp`` is older than this (replay
            guard). Default None (no age check; the product documents none).
        natural_keys: object (entry id or form name) -> the widget (name or label) that is
            unique in it (the product's widget list does not say which widgets are unique).
        stamp_field: the datetime used by ``read_changes``. Default ``updateTime``; a
            tenant that cannot filter on system fields can name a datetime widget
            written by a form rule instead.
        ca_file: a CA bundle to trust; only used when the connector makes its own client.
    """

    base_url: str = DEFAULT_BASE_URL
    api_key: Secret
    app_id: str
    push_secret: Secret | None = None
    push_max_age_s: PositiveFloat | None = None
    natural_keys: dict[str, str] = Field(default_factory=dict)
    stamp_field: str = Field(default="updateTime", min_length=1)
    ca_file: str | None = None

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+(/.*)?$", value):
            raise ValueError("base_url must look like https://host[:port]")
        value = value.rstrip("/")
        return value.removesuffix("/api")

    @field_validator("app_id")
    @classmethod
    def _check_app_id(cls, value: str) -> str:
        if not _OBJECT_ID.match(value):
            raise ValueError("app_id is 24 lower-case hex characters (from the app's URL)")
        return value
