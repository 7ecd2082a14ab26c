"""Inbound deliveries for the rest connector: HMAC-SHA256 or a token, body -> changes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable

import httpx
import pydantic
import pytest

from erpbridge.connectors.rest import RestConnector, RestSettings
from erpbridge.spi.connector import WebhookConnector
from erpbridge.spi.errors import AuthError, ValidationError
from erpbridge.spi.records import ChangeKind
from erpbridge.spi.secrets import Secret

SECRET = "whsec-0123456789"
TOKEN = "hook-token-abcdef"

OBJECTS = {
    "Customer": {"path": "/customers", "stamp_field": "updated_at"},
    "Order": {"path": "/orders", "id_field": "number"},
}


def _connector(**hook: object) -> RestConnector:
    settings = RestSettings.model_validate(
        {"base_url": "http://api.test", "objects": OBJECTS, "webhook": hook}
    )
    return RestConnector(settings, httpx.AsyncClient())


def _signed(body: object, secret: str = SECRET) -> tuple[dict[str, str], bytes]:
    raw = json.dumps(body, ensure_ascii=False).encode()
    return {"X-Signature": hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()}, raw


Hooked = Callable[..., RestConnector]
CUSTOMER = {"id": "C1", "name": "华北机械", "updated_at": "2026-11-25T08:00:00Z"}


def test_a_signed_delivery_becomes_changes_carrying_their_records() -> None:
    connector = _connector(secret=Secret.literal(SECRET), object="Customer")
    headers, body = _signed({"data": [CUSTOMER, {**CUSTOMER, "id": "C2"}]})

    changes = connector.parse_webhook(headers, body)

    assert isinstance(connector, WebhookConnector)
    assert [(c.object, c.record_id, c.kind) for c in changes] == [
        ("Customer", "C1", ChangeKind.UPSERT),
        ("Customer", "C2", ChangeKind.UPSERT),
    ]
    assert changes[0].record is not None and changes[0].record.fields["name"] == "华北机械"
    assert changes[0].version == "2026-11-25T08:00:00+00:00"


def test_github_style_prefixed_base64_signature_and_object_from_the_body() -> None:
    connector = _connector(
        secret=Secret.literal(SECRET),
        signature_header="X-Hub-Signature-256",
        signature_prefix="sha256=",
        signature_encoding="base64",
        object_path="resource",
        record_path="payload",
    )
    raw = json.dumps({"resource": "Order", "payload": {"number": "SO-9"}}).encode()
    digest = hmac.new(SECRET.encode(), raw, hashlib.sha256).digest()
    headers = {"x-hub-signature-256": "sha256=" + base64.b64encode(digest).decode()}

    (change,) = connector.parse_webhook(headers, raw)

    assert (change.object, change.record_id) == ("Order", "SO-9")
    assert change.version is not None and change.version.startswith("sha256:")  # no stamp


@pytest.mark.parametrize(
    ("header", "expected"),
    [("Bearer " + TOKEN, None), (TOKEN, None), ("Bearer wrong", "is not this connection's")],
)
def test_a_shared_token_is_checked(header: str, expected: str | None) -> None:
    connector = _connector(token=Secret.literal(TOKEN), object="Customer")
    body = json.dumps({"data": CUSTOMER}).encode()

    if expected is None:
        assert len(connector.parse_webhook({"Authorization": header}, body)) == 1
    else:
        with pytest.raises(AuthError, match=expected) as caught:
            connector.parse_webhook({"Authorization": header}, body)
        assert TOKEN not in str(caught.value)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "delivery without X-Signature"),
        ({"X-Signature": "0" * 64}, "X-Signature does not match the body"),
    ],
)
def test_unsigned_or_badly_signed_deliveries_are_refused(
    headers: dict[str, str], reason: str
) -> None:
    connector = _connector(secret=Secret.literal(SECRET), object="Customer")

    with pytest.raises(AuthError, match=reason) as caught:
        connector.parse_webhook(headers, b'{"data": {"id": "C1"}}')
    assert SECRET not in str(caught.value)


def test_a_body_changed_after_signing_is_refused() -> None:
    connector = _connector(secret=Secret.literal(SECRET), object="Customer")
    headers, body = _signed({"data": CUSTOMER})

    with pytest.raises(AuthError):
        connector.parse_webhook(headers, body.replace(b"C1", b"C9"))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "delivery body is not JSON"),
        ({"data": "x"}, "no record or list of records at 'data'"),
        ({"data": [CUSTOMER, {"name": "no id"}]}, "delivery record 1: no record id in 'id'"),
        ({"data": {**CUSTOMER, "updated_at": "yesterday"}}, "is not ISO 8601"),
    ],
)
def test_malformed_signed_bodies_are_validation_errors(body: object, reason: str) -> None:
    connector = _connector(secret=Secret.literal(SECRET), object="Customer")
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"X-Signature": hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()}

    with pytest.raises(ValidationError, match=reason):
        connector.parse_webhook(headers, raw)


def test_an_unknown_object_in_the_body_is_a_validation_error() -> None:
    connector = _connector(secret=Secret.literal(SECRET), object_path="type")
    headers, body = _signed({"type": "Invoice", "data": {"id": "I1"}})

    with pytest.raises(ValidationError, match="names object 'Invoice' at 'type'"):
        connector.parse_webhook(headers, body)


def test_delete_events_become_deletes_with_a_version_of_their_own() -> None:
    connector = _connector(
        secret=Secret.literal(SECRET),
        object="Customer",
        event_path="event",
        delete_events=["customer.deleted"],
    )
    headers, body = _signed({"event": "customer.deleted", "data": CUSTOMER})

    (change,) = connector.parse_webhook(headers, body)

    assert change.kind is ChangeKind.DELETE
    assert change.version == "deleted:2026-11-25T08:00:00+00:00"


def test_a_connection_without_webhook_settings_refuses_deliveries() -> None:
    settings = RestSettings.model_validate({"base_url": "http://api.test", "objects": OBJECTS})
    connector = RestConnector(settings, httpx.AsyncClient())

    with pytest.raises(AuthError, match="no webhook settings"):
        connector.parse_webhook({}, b"{}")


@pytest.mark.parametrize(
    ("hook", "fragment"),
    [
        ({"object": "Customer"}, "set one of secret"),
        (
            {"secret": "${env:X}", "token": "${env:Y}", "object": "Customer"},
            "set one of secret",
        ),
        ({"token": "${env:Y}"}, "set one of object and object_path"),
        ({"token": "${env:Y}", "object": "Nope"}, "webhook.object 'Nope' is not an object"),
        ({"token": "${env:Y}", "object": "Customer", "delete_events": ["x"]}, "needs event_path"),
        ({"token": "plain-text-token", "object": "Customer"}, "reference"),
    ],
)
def test_bad_webhook_settings_are_refused_at_load(hook: dict[str, object], fragment: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=fragment):
        RestSettings.model_validate(
            {"base_url": "http://api.test", "objects": OBJECTS, "webhook": hook},
            context={"secrets": None},
        )
