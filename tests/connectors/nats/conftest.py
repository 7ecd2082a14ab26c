"""Fixtures: the real NATS server with JetStream on this machine, with throw-away streams.

NATS runs at 127.0.0.1:4222 without auth (override with ERPBRIDGE_TEST_NATS_URL). Each
test gets its own subject prefix and streams, deleted at the end. With CI=true an
unreachable server fails the test loudly instead of skipping it.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import nats
import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from erpbridge.connectors.nats import NatsConnector, NatsObject, NatsSettings

NATS_URL = os.environ.get("ERPBRIDGE_TEST_NATS_URL", "nats://127.0.0.1:4222")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@dataclass
class Bus:
    """A peer on the bus plus this test's names."""

    nc: Client
    js: JetStreamContext
    prefix: str

    @property
    def streams(self) -> list[str]:
        """Every stream this test may create."""
        p = self.prefix.upper()
        return [f"{p}_EVENTS", f"{p}_DEAD", f"{p}_WMS"]

    async def waiting(self, stream: str, durable: str) -> int:
        """Messages the durable consumer has not been delivered yet."""
        info = await self.js.consumer_info(stream, durable)
        return int(info.num_pending or 0)

    async def unacked(self, stream: str, durable: str) -> int:
        """Messages delivered to the durable consumer and not acknowledged yet."""
        info = await self.js.consumer_info(stream, durable)
        return int(info.num_ack_pending or 0)


@pytest.fixture
async def bus() -> AsyncIterator[Bus]:
    """A peer connection and a prefix; streams named with it are deleted after."""
    try:
        nc = await nats.connect(NATS_URL, connect_timeout=3, allow_reconnect=False)
    except (nats.errors.Error, OSError, TimeoutError) as exc:
        message = f"NATS not reachable at {NATS_URL}: {exc!r}"
        if IN_CI:
            pytest.fail(f"CI=true requires NATS with JetStream; {message}", pytrace=False)
        pytest.skip(message)
    peer = Bus(nc, nc.jetstream(), f"t{uuid.uuid4().hex[:10]}")
    try:
        yield peer
    finally:
        for stream in peer.streams:
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await peer.js.delete_stream(stream)
        await nc.close()


@pytest.fixture
def settings_for(bus: Bus) -> Callable[..., NatsSettings]:
    """Settings on this test's names.

    Our events go to ``<prefix>.<object>.<event>`` in ``<PREFIX>_EVENTS``; ``Account`` is
    read from ``<PREFIX>_WMS`` (subjects ``<prefix>wms.Account.*``), ``Echo`` reads our
    own ``Account`` events back from ``<PREFIX>_EVENTS``.
    """
    p = bus.prefix

    def make(**overrides: object) -> NatsSettings:
        values: dict[str, object] = {
            "url": NATS_URL,
            "system": p,
            "stream": f"{p.upper()}_EVENTS",
            "dead_letter_subject": f"{p}dead.letter",
            "dead_letter_stream": f"{p.upper()}_DEAD",
            "wait_s": 0.2,
            "objects": {
                "Account": NatsObject(stream=f"{p.upper()}_WMS", subjects=(f"{p}wms.Account.*",)),
                "Echo": NatsObject(
                    stream=f"{p.upper()}_EVENTS", subjects=(f"{p}.Account.*",), durable="echo"
                ),
            },
        }
        values.update(overrides)
        return NatsSettings.model_validate(values)

    return make


@pytest.fixture
async def connector(settings_for: Callable[..., NatsSettings]) -> AsyncIterator[NatsConnector]:
    """A connector on fresh names (declared on first use)."""
    conn = NatsConnector(settings_for())
    try:
        yield conn
    finally:
        await conn.aclose()
