"""数据推送 (data push): a signed POST to the form's push URL on each single create, update
and delete.

Copied from the help centre (hc.jiandaoyun.com/open/11507) and the official receiver demo
(``jiandaoyun/webhook-demo-python`` server.py)::

    POST <url>?timestamp=<unix seconds>&nonce=<random>
    Content-Type: application/json
    X-JDY-Signature: sha1_hex(nonce + ":" + body + ":" + secret + ":" + timestamp)
    X-JDY-DeliverId: <one id per delivery, the same on every retry>

    {"op": "data_create" | "data_update" | "data_remove", "data": {<record as data/get>}}

Batch writes do not push (the product does not push bulk imports, edits or deletes; the
simulator treats the batch endpoints the same way; unsure for API batches). Retries are not
documented: the simulator retries a non-2xx answer or a network failure 3 times with growing
delays, keeps the DeliverId, and signs each attempt with a fresh timestamp and nonce. Without
a secret no signature header is sent (unsure: the product may sign with an empty secret).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import httpx
import structlog

from erpbridge.sims.jiandaoyun.widgets import Entry

__all__ = ["ALL_EVENTS", "Delivery", "PushConfig", "Pusher", "sign"]

_log = structlog.get_logger(__name__)

ALL_EVENTS = frozenset({"data_create", "data_update", "data_remove"})


def sign(nonce: str, payload: str, secret: str, timestamp: str) -> str:
    """``X-JDY-Signature``: lower-case hex SHA-1 of ``nonce:payload:secret:timestamp``."""
    text = ":".join([nonce, payload, secret, timestamp])
    return hashlib.sha1(text.encode("utf-8")).hexdigest()  # noqa: S324 - the vendor's scheme


@dataclass(frozen=True, slots=True)
class PushConfig:
    """One form's push settings (表单设置 → 数据推送); the simulator uses one for all forms.

    Attributes:
        url: where to POST; "" = push off.
        secret: the signing secret; "" = unsigned.
        events: which ops to push. Default: all three.
    """

    url: str = ""
    secret: str = field(default="", repr=False)
    events: frozenset[str] = ALL_EVENTS


@dataclass(slots=True)
class Delivery:
    """What happened to one push (for tests and ``GET /sim/push``)."""

    deliver_id: str
    op: str
    data_id: str
    attempts: int = 0
    status: int | None = None
    delivered: bool = False


class Pusher:
    """Sends pushes in the background; a listener of :class:`JdyState`.

    Args:
        config: where and how to push. Default: off.
        transport: the HTTP transport (tests may pass an ASGI one). Default: the network.
        retry_delays_s: waits before each retry. Default (1, 2, 4): 4 attempts in all.
        timeout_s: per attempt. Default 5.
        sleep: waits between attempts (tests pass one that does not wait).
        clock: unix seconds for the ``timestamp`` parameter.
    """

    def __init__(
        self,
        config: PushConfig | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry_delays_s: Sequence[float] = (1.0, 2.0, 4.0),
        timeout_s: float = 5.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config or PushConfig()
        self._transport = transport
        self._delays = tuple(retry_delays_s)
        self._timeout_s = timeout_s
        self._sleep = sleep
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        self.deliveries: list[Delivery] = []

    def configure(self, config: PushConfig) -> None:
        """Push with ``config`` from the next change on."""
        self.config = config

    def __call__(self, op: str, entry: Entry, record: dict[str, object]) -> None:
        """Queue one push (called by the state inside a request, so a loop is running)."""
        config = self.config
        if not config.url or op not in config.events:
            return
        payload = json.dumps({"op": op, "data": record}, ensure_ascii=False, separators=(",", ":"))
        delivery = Delivery(uuid.uuid4().hex, op, str(record.get("_id", "")))
        self.deliveries.append(delivery)
        del self.deliveries[:-1000]  # keep the log bounded
        task = asyncio.get_running_loop().create_task(self._deliver(config, payload, delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait until every queued push has been delivered or given up."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks))

    async def _deliver(self, config: PushConfig, payload: str, delivery: Delivery) -> None:
        async with httpx.AsyncClient(transport=self._transport, timeout=self._timeout_s) as http:
            for attempt, delay in enumerate((0.0, *self._delays)):
                if delay:
                    await self._sleep(delay)
                delivery.attempts = attempt + 1
                timestamp = str(int(self._clock()))
                nonce = secrets.token_hex(3)
                headers = {
                    "Content-Type": "application/json",
                    "X-JDY-DeliverId": delivery.deliver_id,
                }
                if config.secret:
                    headers["X-JDY-Signature"] = sign(nonce, payload, config.secret, timestamp)
                try:
                    answer = await http.post(
                        config.url,
                        params={"timestamp": timestamp, "nonce": nonce},
                        content=payload.encode("utf-8"),
                        headers=headers,
                    )
                except httpx.HTTPError as exc:
                    delivery.status = None
                    _log.info(
                        "jdy_sim.push_failed",
                        deliver_id=delivery.deliver_id,
                        error=type(exc).__name__,
                    )
                    continue
                delivery.status = answer.status_code
                if answer.is_success:
                    delivery.delivered = True
                    return
                _log.info(
                    "jdy_sim.push_refused",
                    deliver_id=delivery.deliver_id,
                    status=answer.status_code,
                )
