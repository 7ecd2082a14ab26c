"""Outbound Messaging: SOAP ``notifications`` POSTed to a configured URL on each change.

Copied behaviour (Salesforce "Outbound Messaging" and its WSDL): the message is a SOAP 1.1
envelope with ``notifications`` in ``http://soap.sforce.com/2005/09/outbound``:
``OrganizationId``, ``ActionId``, ``SessionId`` (nil: we never send a session),
``EnterpriseUrl``, ``PartnerUrl`` and up to 100 ``Notification`` elements (``Id`` +
``sObject`` with the chosen fields, ``xsi:type="sf:<Object>"``). The receiver must answer
``<Ack>true</Ack>``; otherwise Salesforce retries with growing intervals (up to 24 h; here
5 tries, 0.5 s doubling, then the message is dropped and counted as failed). Messages are
not signed: receivers check ``OrganizationId`` (and, in production, IP ranges or mTLS).
Deleted records are not sent (an outbound message fires on insert/update workflow rules).

Configuration is a simulator-only admin resource, ``/_sim/outbound`` (not a Salesforce API).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

import httpx

from erpbridge.sims.salesforce.ids import make_id
from erpbridge.sims.salesforce.state import ORG_ID, Row

__all__ = ["OutboundConfig", "OutboundNotifier", "configs_from_json", "render_notifications"]

_log = logging.getLogger(__name__)
_NS = "http://soap.sforce.com/2005/09/outbound"
_REST_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")
_MAX_PER_MESSAGE = 100
_ATTEMPTS = 5
_FIRST_BACKOFF_S = 0.5


@dataclass(frozen=True, slots=True)
class OutboundConfig:
    """One outbound message definition: which object's changes go where, with which fields."""

    url: str
    object: str
    fields: tuple[str, ...] = ()
    action_id: str = field(default_factory=lambda: make_id("04k", 1))


def _value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    text = str(v)
    if _REST_DATETIME.match(text):
        text = text[:-5] + "Z"  # xsd:dateTime in SOAP, not the REST "+0000" form
    return escape(text)


def render_notifications(
    config: OutboundConfig, rows: Sequence[tuple[str, Row]], base_url: str, version: str = "59.0"
) -> bytes:
    """The SOAP envelope for ``rows`` ((notification id, record) pairs)."""
    parts = []
    for notification_id, row in rows:
        names = ["Id", *[f for f in config.fields if f != "Id"]] if config.fields else list(row)
        fields = "".join(
            f"<sf:{n}>{_value(row[n])}</sf:{n}>" if row.get(n) is not None else "" for n in names
        )
        parts.append(
            f"<Notification><Id>{notification_id}</Id>"
            f'<sObject xsi:type="sf:{config.object}" '
            f'xmlns:sf="urn:sobject.enterprise.soap.sforce.com">{fields}</sObject></Notification>'
        )
    org15 = ORG_ID[:15]
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        f'<notifications xmlns="{_NS}">'
        f"<OrganizationId>{ORG_ID}</OrganizationId><ActionId>{config.action_id}</ActionId>"
        '<SessionId xsi:nil="true"/>'
        f"<EnterpriseUrl>{base_url}/services/Soap/c/{version}/{org15}</EnterpriseUrl>"
        f"<PartnerUrl>{base_url}/services/Soap/u/{version}/{org15}</PartnerUrl>"
        + "".join(parts)
        + "</notifications></soapenv:Body></soapenv:Envelope>"
    )
    return body.encode("utf-8")


@dataclass(slots=True)
class OutboundNotifier:
    """Queues changes and delivers them in the background (on the app's event loop).

    Args:
        base_url: the simulator's URL (for ``PartnerUrl``).
        transport: an httpx transport for deliveries (tests); default: the network.
        backoff_s: first wait before a retry, doubled each time. Default 0.5.
    """

    base_url: str
    transport: httpx.AsyncBaseTransport | None = None
    #: the first wait before a retry; doubles each time (tests set 0).
    backoff_s: float = _FIRST_BACKOFF_S
    configs: list[OutboundConfig] = field(default_factory=list)
    delivered: int = 0
    failed: int = 0
    _queue: asyncio.Queue[tuple[OutboundConfig, list[tuple[str, Row]]]] | None = None
    _task: asyncio.Task[None] | None = None
    _next_id: int = 0

    def configure(self, configs: Sequence[OutboundConfig]) -> None:
        """Replace the outbound message definitions."""
        self.configs = list(configs)

    def on_change(self, obj: str, rows: list[Row]) -> None:
        """State listener: queue live changed records of configured objects."""
        live = [r for r in rows if not r.get("IsDeleted")]
        for config in self.configs:
            if config.object != obj or not live:
                continue
            for start in range(0, len(live), _MAX_PER_MESSAGE):
                batch = []
                for row in live[start : start + _MAX_PER_MESSAGE]:
                    self._next_id += 1
                    batch.append((make_id("04l", self._next_id), row))
                self._enqueue(config, batch)

    def _enqueue(self, config: OutboundConfig, batch: list[tuple[str, Row]]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a write outside the server): nothing can deliver
        if self._queue is None or self._task is None or self._task.done():
            self._queue = asyncio.Queue()
            self._task = loop.create_task(self._deliver_forever(self._queue))
        self._queue.put_nowait((config, batch))

    async def drain(self) -> None:
        """Wait until every queued message was delivered or given up (tests, shutdown)."""
        if self._queue is not None:
            await self._queue.join()

    async def aclose(self) -> None:
        """Stop the delivery task."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _deliver_forever(
        self, queue: asyncio.Queue[tuple[OutboundConfig, list[tuple[str, Row]]]]
    ) -> None:
        async with httpx.AsyncClient(transport=self.transport, timeout=10.0) as client:
            while True:
                config, batch = await queue.get()
                try:
                    await self._deliver(client, config, batch)
                finally:
                    queue.task_done()

    async def _deliver(
        self, client: httpx.AsyncClient, config: OutboundConfig, batch: list[tuple[str, Row]]
    ) -> None:
        body = render_notifications(config, batch, self.base_url)
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
        delay = self.backoff_s
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                response = await client.post(config.url, content=body, headers=headers)
                if response.status_code == 200 and _acked(response.text):
                    self.delivered += 1
                    return
                reason = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                reason = type(exc).__name__
            _log.warning("outbound.retry attempt=%s url=%s reason=%s", attempt, config.url, reason)
            if attempt < _ATTEMPTS:
                await asyncio.sleep(delay)
                delay *= 2
        self.failed += 1


def _acked(text: str) -> bool:
    compact = "".join(text.split()).lower()
    return "<ack>true</ack>" in compact or ":ack>true</" in compact


def configs_from_json(body: object) -> list[OutboundConfig]:
    """``[{"url", "object", "fields"?}]`` -> configs.

    Raises:
        ValueError: with the index and field that is wrong.
    """
    items = body if isinstance(body, list) else [body]
    configs = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ValueError(f"[{i}]: expected an object with url and object")
        url, obj, fields = item.get("url"), item.get("object"), item.get("fields", [])
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"[{i}].url: an http(s) URL is required")
        if not isinstance(obj, str):
            raise ValueError(f"[{i}].object: an sObject name is required")
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise ValueError(f"[{i}].fields: a list of field names is expected")
        configs.append(OutboundConfig(url, obj, tuple(fields), make_id("04k", i + 1)))
    return configs
