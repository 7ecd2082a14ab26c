"""Deliveries a REST API pushes to ``/hooks/<connection>``: verify, then body -> changes.

A generic API signs its webhooks in one of two common ways, chosen in the connection's
``webhook`` settings:

- an HMAC-SHA256 of the raw body with a shared secret, in a header, as hex or base64,
  optionally behind a prefix (``X-Hub-Signature-256: sha256=<hex>`` for GitHub-style
  senders, ``X-Signature: <hex>`` for many others);
- a shared token in a header (``Authorization: Bearer <token>`` or a header of its own).

Both are compared in constant time; neither the secret nor the token nor the signature
ever appears in an error. The body holds one record or a list of records at
``record_path``; each becomes a change carrying the record (so the worker need not fetch
it), with id, stamp and version read as ``read_changes`` reads them. One bad record
refuses the whole delivery (400, nothing stored): a sender re-sends the whole delivery.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping

from erpbridge.connectors.rest.client import dig
from erpbridge.connectors.rest.errors import SYSTEM
from erpbridge.connectors.rest.records import record_of
from erpbridge.connectors.rest.settings import RestObject, RestWebhook
from erpbridge.spi.errors import AuthError, ValidationError
from erpbridge.spi.records import Change, ReadError, Record

__all__ = ["parse_delivery", "sign_body", "verify_delivery"]


def sign_body(secret: str, body: bytes, encoding: str = "hex") -> str:
    """The HMAC-SHA256 of ``body`` with ``secret``, as hex or base64."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return digest.hex() if encoding == "hex" else base64.b64encode(digest).decode("ascii")


def verify_delivery(hook: RestWebhook, headers: Mapping[str, str], body: bytes) -> None:
    """Check the delivery's signature or token.

    Raises:
        AuthError: the header is missing or does not match (the receiver answers 401).
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    if hook.secret is not None:
        given = lowered.get(hook.signature_header.lower(), "").strip()
        if not given:
            raise AuthError(f"delivery without {hook.signature_header}", system=SYSTEM)
        if hook.signature_prefix and not given.startswith(hook.signature_prefix):
            raise AuthError(
                f"{hook.signature_header} does not start with {hook.signature_prefix!r}",
                system=SYSTEM,
            )
        given = given[len(hook.signature_prefix) :]
        expected = sign_body(hook.secret.reveal(), body, hook.signature_encoding)
        if hook.signature_encoding == "hex":
            given = given.lower()
        if not hmac.compare_digest(expected.encode(), given.encode()):
            raise AuthError(
                f"{hook.signature_header} does not match the body (wrong secret?)", system=SYSTEM
            )
        return
    token = hook.token.reveal() if hook.token is not None else ""
    given = lowered.get(hook.token_header.lower(), "").strip()
    if given.lower().startswith("bearer "):
        given = given[7:].strip()
    if not given:
        raise AuthError(f"delivery without a token in {hook.token_header}", system=SYSTEM)
    if not token or not hmac.compare_digest(token.encode(), given.encode()):
        raise AuthError(f"the token in {hook.token_header} is not this connection's", system=SYSTEM)


def parse_delivery(
    hook: RestWebhook, objects: Mapping[str, RestObject], body: bytes
) -> list[Change]:
    """The changes in a verified delivery.

    Raises:
        ValidationError: not JSON, no object or an unknown one, no record at
            ``record_path``, or a record without an id or with a bad stamp.
    """
    try:
        message = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"delivery body is not JSON: {exc}", system=SYSTEM) from exc
    object = hook.object or dig(message, hook.object_path or "")
    if not isinstance(object, str) or object not in objects:
        known = ", ".join(sorted(objects)) or "none"
        where = f"at {hook.object_path!r} " if hook.object_path else ""
        raise ValidationError(
            f"delivery names object {object!r} {where}which is not configured (objects: {known})",
            field=hook.object_path,
            system=SYSTEM,
        )
    items = dig(message, hook.record_path)
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        raise ValidationError(
            f"delivery has no record or list of records at {hook.record_path!r}",
            field=hook.record_path or None,
            system=SYSTEM,
            object=object,
        )
    event = dig(message, hook.event_path) if hook.event_path else None
    is_delete = isinstance(event, str) and event in hook.delete_events
    spec = objects[object]
    changes = []
    for index, item in enumerate(items):
        record = record_of(object, spec, item, f"delivery record {index}")
        if isinstance(record, ReadError):
            raise record.error
        changes.append(Change.of(_tombstone(record) if is_delete else record))
    return changes


def _tombstone(record: Record) -> Record:
    # Its version must differ from the last update's, or the engine drops the delete as
    # a duplicate of it.
    return Record(
        object=record.object,
        id=record.id,
        fields=record.fields,
        version=f"deleted:{record.version or ''}",
        stamp=record.stamp,
        deleted=True,
    )
