"""事件订阅 (event subscription): an encrypted, signed POST to the subscribed callback.

The reference says only that event subscription exists (§B4 [P]); the format here follows
community notes of the open platform's 事件推送 documents and the vendor's isv-demo source
(``IsvEventCrypto``, ``SHA256``, ``PKCS7Encoder``) [P: not confirmed on a tenant; the
documents disagree on the signature, variant "C" of those notes is used]:

    POST <callback>            Content-Type: application/json
    {"signature": s, "timestamp": <ms>, "nonce": <16 chars>, "encrypt": <base64>}

- AES key: the app secret without ``-``, cut or right-padded with ``0`` to 43 characters,
  plus ``=``, base64-decoded (32 bytes, AES-256); IV = the key's first 16 bytes; CBC,
  PKCS#7 padding to **32**-byte blocks. Plain text: 16 random bytes + message length (4
  bytes, big-endian) + the message JSON + the app key.
- ``signature`` = Base64(HmacSHA256(app secret, the values of timestamp, nonce and
  encrypt sorted as text and joined)).
- The message: ``{"type": <event code>, "eventId": <uuid>, "timestamp": <ms>,
  "tenantId": …}`` plus the document (flat, as the 采购订单审核 example shows) [U: where
  business data sits is undocumented; receivers re-read the detail by ``id``]. Event codes
  ``pu_applyorder_save`` / ``_audit`` / ``_close`` [U: the requisition codes were not
  found; purchase orders use ``st_purchaseorder_audit``].
- A 2xx answer is success (the platform documents an encrypted ``success``; the simulator
  does not check the body). Otherwise it retries 3 times, the same ``eventId`` each time.

The simulator never imports the connector: both follow the formulas above.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import struct
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import httpx
import structlog
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from erpbridge.sims.yonbip.state import Row

__all__ = ["EventDelivery", "EventPublisher", "aes_key", "seal", "sign_event"]

_log = structlog.get_logger(__name__)
_BLOCK = 32


def aes_key(app_secret: str) -> bytes:
    """The 32-byte AES key derived from the app secret (see the module doc)."""
    key = app_secret.replace("-", "")
    key = key[:43] if len(key) >= 43 else key.ljust(43, "0")
    return base64.b64decode(key + "=")


def sign_event(app_secret: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """Base64 HmacSHA256 of the sorted, joined values."""
    text = "".join(sorted([timestamp, nonce, encrypt]))
    digest = hmac.new(app_secret.encode(), text.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def seal(app_key: str, app_secret: str, message: str) -> dict[str, object]:
    """The posted body for ``message``: encrypted, then signed."""
    key = aes_key(app_secret)
    body = message.encode("utf-8")
    plain = secrets.token_bytes(16) + struct.pack(">I", len(body)) + body + app_key.encode()
    pad = _BLOCK - len(plain) % _BLOCK
    plain += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    encrypt = base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()
    timestamp, nonce = str(int(time.time() * 1000)), secrets.token_hex(8)
    return {
        "signature": sign_event(app_secret, timestamp, nonce, encrypt),
        "timestamp": int(timestamp),
        "nonce": nonce,
        "encrypt": encrypt,
    }


@dataclass(slots=True)
class EventDelivery:
    """What happened to one event (for tests and ``GET /sim/events``)."""

    event_id: str
    type: str
    record_id: str
    attempts: int = 0
    status: int | None = None
    delivered: bool = False


class EventPublisher:
    """Sends subscribed events in the background (one subscription: the sandbox app's).

    Args:
        app_key / app_secret: the subscribing app (its secret encrypts and signs).
        tenant_id: put in every message.
        retry_delays_s: waits before each retry. Default (0.5, 1, 2).
        sleep: waits between attempts (tests may pass one that does not wait).
    """

    def __init__(
        self,
        app_key: str,
        app_secret: str,
        tenant_id: str,
        *,
        retry_delays_s: Sequence[float] = (0.5, 1.0, 2.0),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.app_key = app_key
        self._secret = app_secret
        self.tenant_id = tenant_id
        self.url = ""
        self._delays = tuple(retry_delays_s)
        self._sleep = sleep
        self._tasks: set[asyncio.Task[None]] = set()
        self.deliveries: list[EventDelivery] = []

    def __call__(self, event_type: str, record: Row) -> None:
        """Queue one event (called inside a request, so a loop is running)."""
        if not self.url:
            return
        event_id = str(uuid.uuid4())
        message = {
            "type": event_type,
            "eventId": event_id,
            "timestamp": int(time.time() * 1000),
            "tenantId": self.tenant_id,
            **record,
        }
        text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
        delivery = EventDelivery(event_id, event_type, str(record.get("id", "")))
        self.deliveries.append(delivery)
        del self.deliveries[:-1000]
        task = asyncio.get_running_loop().create_task(self._deliver(self.url, text, delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait until every queued event has been delivered or given up."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks))

    async def _deliver(self, url: str, message: str, delivery: EventDelivery) -> None:
        async with httpx.AsyncClient(timeout=5.0) as http:
            for attempt, delay in enumerate((0.0, *self._delays)):
                if delay:
                    await self._sleep(delay)
                delivery.attempts = attempt + 1
                body = seal(self.app_key, self._secret, message)  # fresh nonce and stamp
                try:
                    answer = await http.post(url, json=body)
                except httpx.HTTPError as exc:
                    _log.info(
                        "yonbip_sim.event_failed",
                        event_id=delivery.event_id,
                        error=type(exc).__name__,
                    )
                    continue
                delivery.status = answer.status_code
                if answer.is_success:
                    delivery.delivered = True
                    return
                _log.info(
                    "yonbip_sim.event_refused",
                    event_id=delivery.event_id,
                    status=answer.status_code,
                )
