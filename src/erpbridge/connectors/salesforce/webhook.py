"""Salesforce Outbound Messaging: verify and parse the SOAP ``notifications`` a org POSTs.

Salesforce does not sign outbound messages. What can be checked in the message is the
sending org: ``OrganizationId`` must be this connection's ``org_id`` (first 15 characters,
case-sensitive). Production setups should also restrict the receiver to Salesforce's IP
ranges or require its client certificate (at the proxy); that is outside the body.

Each ``Notification`` becomes a :class:`Change` without a record (the message carries
only the fields chosen in Setup, as text), so the worker loads the record with ``get()``.
The receiver must answer :data:`ACK_RESPONSE`, or Salesforce re-sends the message.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping

from erpbridge.connectors.salesforce.cursor import parse_stamp, rest_stamp
from erpbridge.spi.errors import AuthError, ConnectorError, ValidationError
from erpbridge.spi.records import Change, ChangeKind

__all__ = ["ACK_RESPONSE", "MAX_BODY_BYTES", "parse_outbound_message"]

_NS = "{http://soap.sforce.com/2005/09/outbound}"
_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
MAX_BODY_BYTES = 5 * 1024 * 1024
#: the answer Salesforce expects (HTTP 200, text/xml) once the changes are stored.
ACK_RESPONSE = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<soapenv:Body><notificationsResponse "
    b'xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack>'
    b"</notificationsResponse></soapenv:Body></soapenv:Envelope>"
)


def _invalid(message: str) -> ValidationError:
    return ValidationError(f"outbound message: {message}", system="salesforce")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_outbound_message(
    headers: Mapping[str, str], body: bytes, *, org_id: str | None
) -> list[Change]:
    """Verify the sending org and return one change per notification.

    Raises:
        ValidationError: not XML, not an outbound message, or a notification without
            an sObject type or Id (the receiver answers 400).
        AuthError: no ``org_id`` configured, or the message comes from another org (401).
    """
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    if "xml" not in content_type.lower():
        raise _invalid(f"content type {content_type or 'missing'}; text/xml expected")
    if len(body) > MAX_BODY_BYTES:
        raise _invalid(f"body of {len(body)} bytes is larger than {MAX_BODY_BYTES}")
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise _invalid("DOCTYPE and entity declarations are not accepted")
    try:
        root = ET.fromstring(body)  # noqa: S314 - no DOCTYPE/ENTITY (checked above)
    except ET.ParseError as exc:
        raise _invalid(f"not well-formed XML ({exc})") from exc
    notifications = next(root.iter(f"{_NS}notifications"), None)
    if notifications is None:
        raise _invalid("no notifications element in the outbound namespace")
    sender = (notifications.findtext(f"{_NS}OrganizationId") or "").strip()
    if org_id is None:
        raise AuthError(
            "outbound message refused: the connection has no org_id to check the sender",
            system="salesforce",
        )
    if sender[:15] != org_id[:15]:
        raise AuthError(
            f"outbound message from org {sender[:15] or '(none)'}, expected {org_id[:15]}",
            system="salesforce",
        )
    return [_change(n) for n in notifications.findall(f"{_NS}Notification")]


def _change(notification: ET.Element) -> Change:
    sobject = notification.find(f"{_NS}sObject")
    if sobject is None:
        raise _invalid("a Notification without an sObject")
    type_name = _local(sobject.get(_XSI_TYPE, "")).split(":")[-1]
    values = {_local(child.tag): (child.text or "") for child in sobject}
    record_id = values.get("Id", "").strip()
    if not type_name or not record_id:
        raise _invalid("a Notification whose sObject has no type or no Id")
    stamp_text = values.get("SystemModstamp")
    try:
        stamp = parse_stamp(stamp_text, object=type_name) if stamp_text else None
    except ConnectorError as exc:
        raise _invalid(f"{type_name} {record_id}: bad SystemModstamp {stamp_text!r}") from exc
    return Change(
        object=type_name,
        record_id=record_id,
        # the same version text a poll gives for this record (dedup compares versions)
        version=rest_stamp(stamp) if stamp else None,
        stamp=stamp,
        kind=ChangeKind.UPSERT,
    )
