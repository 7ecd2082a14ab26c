"""事件订阅 (event subscription) deliveries to ``/hooks/<connection>``: verify, decrypt, parse.

The reference says event subscription exists and that events are to be treated as "this
id changed" signals whose detail is re-read (§B4 [P]). The wire format below is from
community notes of the open platform's 事件推送 documents and the vendor's isv-demo source
[P: not confirmed on a tenant; the documents give three signature variants, "C" is used]:

- body ``{"signature", "timestamp" (ms), "nonce", "encrypt"}``;
- ``signature`` = Base64(HmacSHA256(app secret, sorted(timestamp, nonce, encrypt) joined));
- ``encrypt``: AES-256-CBC, key from the app secret (``-`` removed, cut or padded with
  ``0`` to 43 characters, ``=`` appended, base64-decoded), IV = key[:16], PKCS#7 to
  32-byte blocks; plain text = 16 random bytes + length (4 bytes, big-endian) + message
  JSON + app key (checked against ours);
- the message has ``type`` (the event code), ``eventId``, ``timestamp``, ``tenantId``;
  where the document's id sits is undocumented, so it is looked for at ``id``,
  ``billId``, ``data.id``, ``BILL_INFO.billId`` and ``archive.id`` [U].

Each event becomes a change without a record (the worker reads the detail with ``get()``),
versioned by its ``eventId`` so a re-sent event is a duplicate and a later one is not.
Its stamp is the document's ``pubts`` when the message carries it (at ``pubts``,
``data.pubts`` or ``archive.pubts`` [U]), else none. Not the message's ``timestamp``: a
flow that also polls (``webhook: true`` with ``poll:``) compares stamps of both kinds, and
the engine drops a change stamped before the last one it wrote as stale. ``pubts`` is the
clock the list answers with; the platform's send time is another clock, later than the
edit it reports, and would make a later edit in the same second (whose event was lost)
look older than an earlier one's event.
``CHECK_URL`` (the platform's test of the callback) and events of objects this connection
does not read are acknowledged without changes. The answer is an encrypted ``success``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import struct
import time
from collections.abc import Mapping
from datetime import datetime

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from erpbridge.connectors.yonbip.cursor import from_server_text
from erpbridge.connectors.yonbip.errors import SYSTEM
from erpbridge.spi.errors import AuthError, ValidationError
from erpbridge.spi.records import Change

__all__ = ["EVENT_OBJECTS", "decrypt", "encrypt", "parse_event", "sign"]

_BLOCK = 32
#: event code (lower-case) contains → object (first match wins) [U for applyorder's codes].
EVENT_OBJECTS: tuple[tuple[str, str], ...] = (
    ("applyorder", "applyorder"),
    ("sale_", "voucherorder"),
    ("merchant", "merchant"),
)
_ID_PATHS = (("id",), ("billId",), ("data", "id"), ("BILL_INFO", "billId"), ("archive", "id"))
_PUBTS_PATHS = (("pubts",), ("data", "pubts"), ("archive", "pubts"))


def _key(app_secret: str) -> bytes:
    text = app_secret.replace("-", "")
    text = text[:43] if len(text) >= 43 else text.ljust(43, "0")
    return base64.b64decode(text + "=")


def sign(app_secret: str, timestamp: str, nonce: str, encrypted: str) -> str:
    """The delivery's ``signature``."""
    text = "".join(sorted([timestamp, nonce, encrypted]))
    return base64.b64encode(
        hmac.new(app_secret.encode(), text.encode(), hashlib.sha256).digest()
    ).decode()


def decrypt(app_key: str, app_secret: str, encrypted: str) -> str:
    """The message inside ``encrypt``.

    Raises:
        AuthError: not decryptable with our secret, or addressed to another app key.
    """
    key = _key(app_secret)
    try:
        raw = base64.b64decode(encrypted, validate=True)
        decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
        plain = decryptor.update(raw) + decryptor.finalize()
    except (binascii.Error, ValueError) as exc:
        raise AuthError("事件的 encrypt 无法用本应用的密钥解密", system=SYSTEM) from exc
    pad = plain[-1] if plain else 0
    if 1 <= pad <= _BLOCK:
        plain = plain[:-pad]
    if len(plain) < 20:
        raise AuthError("事件的 encrypt 解密后过短", system=SYSTEM)
    (size,) = struct.unpack(">I", plain[16:20])
    message, tail = plain[20 : 20 + size], plain[20 + size :]
    if len(message) != size or tail != app_key.encode():
        raise AuthError("事件不是发给本应用的（appKey 不符）", system=SYSTEM)
    try:
        return message.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AuthError("事件的消息不是 UTF-8", system=SYSTEM) from exc


def encrypt(app_key: str, app_secret: str, message: str) -> dict[str, object]:
    """An encrypted, signed body for ``message`` (the ``success`` answer)."""
    key = _key(app_secret)
    body = message.encode("utf-8")
    plain = secrets.token_bytes(16) + struct.pack(">I", len(body)) + body + app_key.encode()
    pad = _BLOCK - len(plain) % _BLOCK
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    sealed = encryptor.update(plain + bytes([pad]) * pad) + encryptor.finalize()
    text = base64.b64encode(sealed).decode()
    timestamp, nonce = str(int(time.time() * 1000)), secrets.token_hex(8)
    return {
        "signature": sign(app_secret, timestamp, nonce, text),
        "timestamp": int(timestamp),
        "nonce": nonce,
        "encrypt": text,
    }


def _envelope(body: bytes) -> Mapping[str, object]:
    try:
        envelope = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"事件推送的请求体不是 JSON: {exc}", system=SYSTEM) from exc
    if not isinstance(envelope, dict):
        raise ValidationError("事件推送的请求体应为 JSON 对象", system=SYSTEM)
    missing = [
        k for k in ("signature", "timestamp", "nonce", "encrypt") if envelope.get(k) in (None, "")
    ]
    if missing:
        raise AuthError(f"事件推送缺少 {', '.join(missing)}", system=SYSTEM)
    return envelope


def _at(message: Mapping[str, object], path: tuple[str, ...]) -> object:
    value: object = message
    for step in path:
        value = value.get(step) if isinstance(value, dict) else None
    return value


def _record_id(message: Mapping[str, object]) -> str | None:
    for path in _ID_PATHS:
        value = _at(message, path)
        if isinstance(value, int | str) and str(value).isdigit():
            return str(value)
    return None


def _pubts(message: Mapping[str, object], offset_min: int) -> datetime | None:
    for path in _PUBTS_PATHS:
        stamp = from_server_text(_at(message, path), offset_min)
        if stamp is not None:
            return stamp
    return None


def parse_event(
    app_key: str, app_secret: str, objects: tuple[str, ...], body: bytes, offset_min: int = 480
) -> list[Change]:
    """Verify and decrypt one delivery; the change it signals (none for a test event).

    ``offset_min`` is the tenant's UTC offset, which ``pubts`` texts are in (default 480,
    China).

    Raises:
        AuthError: unsigned, wrongly signed, or not for this app (the receiver answers 401).
        ValidationError: not the platform's shape, or an event without a document id (400).
    """
    envelope = _envelope(body)
    timestamp, nonce = str(envelope["timestamp"]), str(envelope["nonce"])
    encrypted = str(envelope["encrypt"])
    expected = sign(app_secret, timestamp, nonce, encrypted)
    if not hmac.compare_digest(expected.encode(), str(envelope["signature"]).encode()):
        raise AuthError("事件推送的 signature 不符（密钥不对，或报文被改动）", system=SYSTEM)
    try:
        message = json.loads(decrypt(app_key, app_secret, encrypted))
    except json.JSONDecodeError as exc:
        raise ValidationError(f"事件消息不是 JSON: {exc}", system=SYSTEM) from exc
    if not isinstance(message, dict):
        raise ValidationError("事件消息应为 JSON 对象", system=SYSTEM)
    event_type = str(message.get("type") or "")
    obj = next((o for needle, o in EVENT_OBJECTS if needle in event_type.lower()), None)
    if event_type == "CHECK_URL" or obj is None or obj not in objects:
        return []
    record_id = _record_id(message)
    if record_id is None:
        raise ValidationError(
            f"事件 {event_type} 没有单据 id", field="id", system=SYSTEM, object=obj
        )
    event_id = str(message.get("eventId") or f"{event_type}:{message.get('timestamp')}")
    stamp = _pubts(message, offset_min)
    return [Change(object=obj, record_id=record_id, version=f"event:{event_id}", stamp=stamp)]
