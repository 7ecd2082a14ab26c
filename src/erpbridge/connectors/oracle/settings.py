"""The settings of an ``oracle`` connection (validated at load; unknown keys refused)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from erpbridge.spi.secrets import Secret
from erpbridge.spi.settings import ConnectionSettings

__all__ = ["OracleSettings"]


class OracleSettings(ConnectionSettings):
    """A connection to an Oracle Fusion Cloud pod's REST APIs (``/fscmRestApi``, ``/crmRestApi``).

    Attributes:
        base_url: scheme and host of the pod (``https://abcd.fa.us2.oraclecloud.com``).
        username: the integration user (HTTP Basic auth).
        password: its password, by reference (``${env:ORACLE_PASSWORD}``).
        api_version: the REST API version in the path. Default ``11.13.18.05``.
        framework_version: ``REST-Framework-Version`` sent on every call. Default 4 (the
            expression ``q`` syntax, children as collections, JSON error details).
        resources: object -> resource path overrides (a pod whose credit resource has another
            name, say). Default: the names in objects.py.
        ca_file: a CA bundle to trust; only used when the connector makes its own client.
    """

    base_url: str
    username: str = Field(min_length=1, max_length=100)
    password: Secret
    api_version: str = "11.13.18.05"
    framework_version: int = Field(default=4, ge=2, le=9)
    resources: dict[str, str] = Field(default_factory=dict)
    ca_file: str | None = None

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+/?$", value):
            raise ValueError("base_url must look like https://host[:port] (no path)")
        return value.rstrip("/")

    @field_validator("api_version")
    @classmethod
    def _check_version(cls, value: str) -> str:
        if not re.fullmatch(r"\d+(\.\d+)*|latest", value):
            raise ValueError("api_version looks like 11.13.18.05 (or latest)")
        return value

    @field_validator("resources")
    @classmethod
    def _check_resources(cls, value: dict[str, str]) -> dict[str, str]:
        for object, path in value.items():
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", path):
                raise ValueError(f"resources.{object}: {path!r} is not a resource name")
        return value

    @property
    def root(self) -> str:
        """The ``fscmRestApi`` version root URL, without a trailing slash."""
        return self.root_of("fscmRestApi")

    def root_of(self, family: str) -> str:
        """The version root URL of a REST family (``fscmRestApi``, ``crmRestApi``)."""
        return f"{self.base_url}/{family}/resources/{self.api_version}"
