"""Secrets never reach logs, errors or reprs over a whole session of either connector."""

from __future__ import annotations

import structlog

from erpbridge.connectors.yonbip import YonBipConnector
from erpbridge.connectors.yonyou import U8Connector
from erpbridge.sims._common.faults import FaultKind, FaultMiddleware
from erpbridge.sims.yonbip import SANDBOX_APP_SECRET as BIP_SECRET
from erpbridge.sims.yonyou import SANDBOX_APP_SECRET as U8_SECRET
from erpbridge.spi import WriteMode, WriteOp

from .conftest import StepClock


async def _session(
    connector: YonBipConnector | U8Connector, obj: str, fields: dict[str, object]
) -> list[str]:
    texts: list[str] = []
    texts.append(str(await connector.check()))
    async for page in connector.read_changes(obj, None, 5):
        texts.append(str(page.cursor))
    results = await connector.write(
        obj, [WriteOp(WriteMode.CREATE, fields, idempotency_key="job-sec-0001")]
    )
    texts += [str(r.error) for r in results]
    texts.append(repr(connector.client) + repr(connector.settings))
    return texts


async def test_yonbip_session_leaks_neither_secret_nor_token(
    connector: YonBipConnector, faulty_app: FaultMiddleware, clock: StepClock
) -> None:
    with structlog.testing.capture_logs() as logs:
        await connector.check()
        token = connector.client._token
        clock.advance(7300)  # force the refresh path too
        faulty_app.force(FaultKind.ERROR)
        texts = await _session(connector, "merchant", {"code": "KH1", "name": "x"})
    blob = " ".join(texts) + repr(logs)
    assert token and token not in blob and BIP_SECRET not in blob


async def test_u8_session_leaks_neither_secret_nor_token(
    u8_connector: U8Connector, u8_faulty: FaultMiddleware, clock: StepClock
) -> None:
    with structlog.testing.capture_logs() as logs:
        await u8_connector.check()
        token = u8_connector.client._token
        clock.advance(7300)
        u8_faulty.force(FaultKind.ERROR)
        texts = await _session(u8_connector, "customer", {"code": "C1", "name": "x"})
    blob = " ".join(texts) + repr(logs)
    assert token and token not in blob and U8_SECRET not in blob
