"""数据推送 (data push): verify the signature, then turn the body into changes.

As documented (hc.jiandaoyun.com/open/11507) and done by the official receiver demo
(``jiandaoyun/webhook-demo-python`` server.py)::

    X-JDY-Signature == sha1_hex(nonce + ":" + raw_body + ":" + secret + ":" + timestamp)

``nonce`` and ``timestamp`` come from the **query string** of the push URL; the body is
``{"op": "data_create" | "data_update" | "data_remove", "data": {record}}``. Unknown ops
(``data_recover`` in newer versions, unsure) give no change, so the receiver still answers
2xx. The signature is compared in constant time and never appears in an error.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from urllib.parse import parse_qs

from erpbridge.connectors.jiandaoyun.errors import SYSTEM
from erpbridge.connectors.jiandaoyun.values import to_record
from erpbridge.spi.errors import AuthError, ConnectorError, ValidationError
from erpbridge.spi.records import Change, Record

__all__ = ["QUERY_HEADER", "parse_push", "push_signature", "verify_push"]

#: when the hub cannot pass the query string itself, it may put the raw query string of
#: the push request into this header (an erpbridge convention, not a Jiandaoyun header).
QUERY_HEADER = "x-erpbridge-query-string"

_UPSERT_OPS = frozenset({"data_create", "data_update"})


def push_signature(nonce: str, payload: str, secret: str, timestamp: str) -> str:
    """The expected ``X-JDY-Signature``: hex SHA-1 of ``nonce:payload:secret:timestamp``."""
    text = ":".join([nonce, payload, secret, timestamp])
    return hashlib.sha1(text.encode("utf-8")).hexdigest()  # noqa: S324 - the vendor's scheme


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _query(headers: dict[str, str], query: Mapping[str, str] | None) -> Mapping[str, str]:
    if query is not None:
        return query
    raw = headers.get(QUERY_HEADER, "")
    return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}


def verify_push(
    headers: Mapping[str, str],
    body: bytes,
    secret: str,
    *,
    query: Mapping[str, str] | None = None,
    max_age_s: float | None = None,
    clock: Callable[[], float] = time.time,
) -> None:
    """Check one push's signature (and age, when asked).

    Raises:
        AuthError: no signature, no nonce/timestamp, a body that is not UTF-8, a wrong
            signature, or a timestamp older than ``max_age_s``.
    """
    lowered = _lower(headers)
    params = _query(lowered, query)
    signature = lowered.get("x-jdy-signature", "")
    nonce, timestamp = params.get("nonce", ""), params.get("timestamp", "")
    if not signature:
        raise AuthError("data push without X-JDY-Signature", system=SYSTEM)
    if not nonce or not timestamp:
        raise AuthError("data push without nonce and timestamp in the query string", system=SYSTEM)
    try:
        payload = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AuthError("data push body is not UTF-8; cannot verify it", system=SYSTEM) from exc
    expected = push_signature(nonce, payload, secret, timestamp)
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
        raise AuthError("data push signature does not match (wrong push secret?)", system=SYSTEM)
    if max_age_s is not None:
        try:
            age = clock() - float(timestamp)
        except ValueError as exc:
            raise AuthError("data push timestamp is not a number", system=SYSTEM) from exc
        if age > max_age_s:
            raise AuthError(f"data push is {age:.0f} s old (limit {max_age_s:g} s)", system=SYSTEM)


def parse_push(body: bytes) -> list[Change]:
    """The changes in a verified push body (none for an op erpbridge does not know).

    Raises:
        ValidationError: not JSON, not an object, no ``op``, or ``data`` is not a record.
    """
    try:
        message = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"data push body is not JSON: {exc}", system=SYSTEM) from exc
    if not isinstance(message, dict) or not isinstance(message.get("op"), str):
        raise ValidationError("data push body has no op", field="op", system=SYSTEM)
    op = message["op"]
    if op not in _UPSERT_OPS and op != "data_remove":
        return []
    data = message.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("entryId"), str):
        raise ValidationError(
            "data push without a record with entryId", field="data", system=SYSTEM
        )
    try:
        record = to_record(data["entryId"], data)
    except ConnectorError as exc:
        raise ValidationError(exc.message, field="data._id", system=SYSTEM) from exc
    if op in _UPSERT_OPS:
        return [Change.of(record)]
    # A delete carries the last state of the record; its version must differ from that
    # state's so the engine does not drop the delete as a duplicate of the last update.
    tombstone = Record(
        object=record.object,
        id=record.id,
        fields=record.fields,
        version=f"removed:{record.version or ''}",
        stamp=record.stamp,
        deleted=True,
    )
    return [Change.of(tombstone)]
