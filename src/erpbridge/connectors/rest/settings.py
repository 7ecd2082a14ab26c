"""The settings of a ``rest`` connection: any JSON-over-HTTP API (pydantic, validated at load)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from erpbridge.spi.schema import FieldType
from erpbridge.spi.secrets import Secret
from erpbridge.spi.settings import ConnectionSettings

__all__ = [
    "ApiKeyAuth",
    "BasicAuth",
    "BearerAuth",
    "NoAuth",
    "OAuth2Auth",
    "Paging",
    "RestBatch",
    "RestObject",
    "RestSettings",
    "RestWebhook",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoAuth(_Strict):
    """No authentication."""

    type: Literal["none"] = "none"


class BasicAuth(_Strict):
    """HTTP Basic (RFC 7617)."""

    type: Literal["basic"]
    username: str
    password: Secret


class BearerAuth(_Strict):
    """A static bearer token (``Authorization: Bearer …``)."""

    type: Literal["bearer"]
    token: Secret


class ApiKeyAuth(_Strict):
    """An API key in a header (default ``X-API-Key``)."""

    type: Literal["api_key"]
    header: str = "X-API-Key"
    key: Secret


class OAuth2Auth(_Strict):
    """OAuth 2.0 client credentials (RFC 6749 §4.4); the token is cached until it expires.

    Attributes:
        token_url: the token endpoint (absolute, or relative to ``base_url``).
        client_id / client_secret: the client's credentials.
        scope: space-separated scopes, when the server wants them.
        client_auth: ``body`` (default): credentials as form fields; ``basic``: as HTTP
            Basic (both are allowed by RFC 6749 §2.3.1).
    """

    type: Literal["oauth2"]
    token_url: str
    client_id: str
    client_secret: Secret
    scope: str | None = None
    client_auth: Literal["body", "basic"] = "body"


Auth = Annotated[
    NoAuth | BasicAuth | BearerAuth | ApiKeyAuth | OAuth2Auth, Field(discriminator="type")
]


class Paging(_Strict):
    """How a list endpoint pages.

    Attributes:
        type: ``none``; ``offset`` (``offset`` + ``limit`` parameters); ``page`` (page
            number + page size); ``cursor`` (a token from the body, sent back as a
            parameter); ``link`` (RFC 8288 ``Link: <…>; rel="next"`` header).
        limit_param: the page-size parameter (offset, cursor, link). Default ``limit``.
        offset_param: default ``offset``.
        page_param: default ``page``; ``size_param``: default ``per_page``;
            ``first_page``: default 1.
        cursor_param: default ``cursor``; ``cursor_path``: where the body holds the next
            cursor (dotted path), default ``next_cursor``; empty or absent ends the read.
    """

    type: Literal["none", "offset", "page", "cursor", "link"] = "none"
    limit_param: str = "limit"
    offset_param: str = "offset"
    page_param: str = "page"
    size_param: str = "per_page"
    first_page: int = Field(default=1, ge=0)
    cursor_param: str = "cursor"
    cursor_path: str = "next_cursor"


class RestBatch(_Strict):
    """A batch write endpoint: many records in one call, one result per record.

    Attributes:
        path: the endpoint (``/api/v1/customers/batch``).
        method: ``POST`` (default), ``PUT`` or ``PATCH``.
        operations: which writes go through it: ``create`` (default; an upsert without
            a target id is a create) and/or ``update`` (the record is sent with its
            target id in ``id_field``). Deletes are always one call per record.
        body_path: the key the records are sent under (``records`` sends
            ``{"records": [...]}``); ``""`` sends the list itself. Default ``records``.
        result_path: where the answer holds the results, one per record sent, in the
            same order (dotted path; ``""`` = the body is the list). Default ``results``.
        id_path: where a result holds the record's id. Default: the object's ``id_field``.
        error_path: where a result holds its error (text or an object); present and not
            empty means that record failed. Default ``error``.
        status_path: where a result holds a per-record HTTP status, if the API gives one
            (a status of 400 or more fails that record, classified like a response).
        max_records: records per call. Default 100.
    """

    path: str
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    operations: tuple[Literal["create", "update"], ...] = ("create",)
    body_path: str = "records"
    result_path: str = "results"
    id_path: str | None = None
    error_path: str = "error"
    status_path: str | None = None
    max_records: int = Field(default=100, ge=1, le=10_000)

    @field_validator("operations")
    @classmethod
    def _some(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("name at least one of create, update")
        return value


class RestWebhook(_Strict):
    """Deliveries the API pushes to ``/hooks/<connection>``.

    Exactly one of ``secret`` and ``token`` is set:

    Attributes:
        secret: HMAC-SHA256 key (by reference); the signature of the raw body is in
            ``signature_header``, as ``signature_prefix`` + hex (or base64) digest.
        signature_header: default ``X-Signature``.
        signature_prefix: text before the digest (``sha256=`` for GitHub-style
            senders). Default none.
        signature_encoding: ``hex`` (default) or ``base64``.
        token: a shared token (by reference) the sender puts in ``token_header``, as
            the bare token or ``Bearer <token>``.
        token_header: default ``Authorization``.
        object: the object every delivery is about; or
        object_path: where the body names the object (dotted path).
        record_path: where the body holds the record, or a list of records. Default
            ``data`` (``""`` = the body is the record or the list).
        event_path: where the body names the event (``type``); with
        delete_events: the events that mean a delete (``[customer.deleted]``).
    """

    secret: Secret | None = None
    signature_header: str = "X-Signature"
    signature_prefix: str = ""
    signature_encoding: Literal["hex", "base64"] = "hex"
    token: Secret | None = None
    token_header: str = "Authorization"  # noqa: S105 - a header name, not a secret
    object: str | None = None
    object_path: str | None = None
    record_path: str = "data"
    event_path: str | None = None
    delete_events: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _one_of_each(self) -> RestWebhook:
        if (self.secret is None) == (self.token is None):
            raise ValueError("set one of secret (HMAC-SHA256 signature) and token")
        if (self.object is None) == (self.object_path is None):
            raise ValueError("set one of object and object_path")
        if self.delete_events and self.event_path is None:
            raise ValueError("delete_events needs event_path")
        return self


class RestObject(_Strict):
    """One object (resource) of the API.

    Attributes:
        path: the collection path (``/api/v1/customers``); GET lists, POST creates.
        item_path: one record's path, ``{id}`` replaced. Default ``<path>/{id}``.
        record_path: where a list body holds the records (dotted path; ``""`` = the body
            is the list). Default ``data``.
        item_record_path: where a single-record body holds the record. Default ``""``.
        id_field: the record id field. Default ``id``.
        stamp_field: the modification time field (ISO 8601, or epoch seconds or ms);
            None: read_changes reads everything every time.
        change_filter: the query parameter that asks for records changed at or after a
            time (``updated_since``); it gets the cursor's read-from time in ISO 8601.
        is_sorted: the API returns records in ascending stamp order (use ``params`` to
            ask for it). Then each page moves the cursor; otherwise only a complete read
            does. Default false.
        params: extra query parameters on every list call (``{sort: updated_at}``).
        update_method: ``PATCH`` (default) or ``PUT``.
        batch: a batch write endpoint (:class:`RestBatch`); default none: one call per
            record.
        fields: the fields ``describe()`` reports (name -> portable type).
    """

    path: str
    item_path: str | None = None
    record_path: str = "data"
    item_record_path: str = ""
    id_field: str = "id"
    stamp_field: str | None = None
    change_filter: str | None = None
    is_sorted: bool = False
    params: dict[str, str] = Field(default_factory=dict)
    update_method: Literal["PATCH", "PUT"] = "PATCH"
    batch: RestBatch | None = None
    fields: dict[str, FieldType] = Field(default_factory=dict)

    @property
    def item(self) -> str:
        """The item path template."""
        return self.item_path or self.path.rstrip("/") + "/{id}"


class RestSettings(ConnectionSettings):
    """One REST API as one client.

    Attributes:
        base_url: ``https://api.example.com`` (paths are appended).
        auth: ``{type: none|basic|bearer|api_key|oauth2, …}``. Default none.
        paging: how list endpoints page. Default none.
        headers: extra static headers on every call (no secrets here: use ``auth``).
        check_path: what ``check()`` GETs. Default: the first object's path.
        objects: the resources, by object name.
        ca_file: a CA file to trust.
        webhook: deliveries the API pushes (:class:`RestWebhook`); default none.
    """

    base_url: str
    auth: Auth = Field(default_factory=NoAuth)
    paging: Paging = Field(default_factory=Paging)
    headers: dict[str, str] = Field(default_factory=dict)
    check_path: str | None = None
    objects: dict[str, RestObject] = Field(default_factory=dict)
    ca_file: str | None = None
    webhook: RestWebhook | None = None

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        if "@" in value.split("/")[2]:
            raise ValueError("base_url must not hold credentials; use `auth`")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _webhook_object(self) -> RestSettings:
        hook = self.webhook
        if hook is not None and hook.object is not None and hook.object not in self.objects:
            known = ", ".join(sorted(self.objects)) or "none"
            raise ValueError(f"webhook.object {hook.object!r} is not an object (objects: {known})")
        return self
