"""Connection settings of a Salesforce connection (validated at load; secrets by reference)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from erpbridge.spi.secrets import Secret
from erpbridge.spi.settings import ConnectionSettings

__all__ = ["DEFAULT_LINES", "DEFAULT_OBJECTS", "SalesforceSettings"]

#: child relationships read with their parent by default.
DEFAULT_LINES: dict[str, tuple[str, ...]] = {"Order": ("OrderItems",)}

#: objects described by default (the ones erpbridge's flows use).
DEFAULT_OBJECTS = (
    "Account",
    "Contact",
    "Product2",
    "Pricebook2",
    "PricebookEntry",
    "Order",
    "OrderItem",
    "Case",
)


class SalesforceSettings(ConnectionSettings):
    """How to reach and log in to one Salesforce org.

    Attributes:
        base_url: the login host: ``https://login.salesforce.com``, ``https://test.salesforce.com``
            (sandboxes), a My Domain URL, or a simulator's ``base_url``. Data calls go to the
            instance URL the login returns.
        api_version: REST API version without "v". Default "59.0".
        auth: ``oauth_password`` (OAuth 2.0 username-password flow; needs client_id and
            client_secret), ``jwt`` (JWT bearer flow; needs client_id and private_key),
            ``client_credentials`` (runs as the connected app's "run as" user; needs
            client_id and client_secret) or ``soap`` (SOAP ``login``). Default
            ``oauth_password``. Salesforce turns the username-password flow off in new
            orgs; prefer ``jwt`` in production.
        username: the integration user.
        password: the user's password (a secret reference).
        security_token: appended to the password when the org requires it (optional).
        client_id / client_secret: the connected app's consumer key and secret.
        private_key: the PEM RSA key whose certificate the connected app holds (jwt).
        jwt_audience: the JWT ``aud``. Default ``https://login.salesforce.com``
            (``https://test.salesforce.com`` when base_url is a sandbox login host).
        org_id: the org's 18-character id; outbound messages from any other org are
            refused. Optional, but webhooks are refused without it.
        ca_file: an extra CA to trust (the sandbox simulator's); default: system CAs.
        objects: objects ``describe()`` covers. Default: the eight standard objects
            erpbridge's flows use.
        lines: per object, child relationships read with the parent as LINES fields.
            Default ``{"Order": ("OrderItems",)}``; ``{}`` turns it off.
    """

    # A pasted password must not come back in the error text (pydantic shows inputs).
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    base_url: str = "https://login.salesforce.com"
    api_version: str = Field(default="59.0", pattern=r"^\d{2}\.0$")
    auth: Literal["oauth_password", "jwt", "client_credentials", "soap"] = "oauth_password"
    username: str = Field(min_length=3)
    password: Secret
    security_token: Secret | None = None
    client_id: str | None = None
    client_secret: Secret | None = None
    private_key: Secret | None = None
    jwt_audience: str | None = None
    org_id: str | None = Field(default=None, pattern=r"^00D[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?$")
    ca_file: Path | None = None
    objects: tuple[str, ...] = DEFAULT_OBJECTS
    lines: dict[str, tuple[str, ...]] = Field(default_factory=lambda: dict(DEFAULT_LINES))

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        value = value.rstrip("/")
        if not value.startswith(("https://", "http://")):
            raise ValueError("base_url must start with https:// (or http:// for a local test)")
        return value

    @model_validator(mode="after")
    def _check_flow(self) -> SalesforceSettings:
        needs_secret = self.auth in ("oauth_password", "client_credentials")
        if needs_secret and (self.client_id is None or self.client_secret is None):
            raise ValueError(f"auth {self.auth} needs client_id and client_secret")
        if self.auth == "jwt" and (self.client_id is None or self.private_key is None):
            raise ValueError("auth jwt needs client_id and private_key")
        return self

    @property
    def audience(self) -> str:
        """The JWT ``aud``: ``jwt_audience``, else the production or sandbox login host."""
        if self.jwt_audience:
            return self.jwt_audience
        test = "test.salesforce.com" in self.base_url or ".sandbox." in self.base_url
        return "https://test.salesforce.com" if test else "https://login.salesforce.com"
