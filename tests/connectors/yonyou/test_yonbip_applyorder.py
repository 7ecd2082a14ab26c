"""The YonBIP connector reads 请购单 changes from the list (请购单列表查询 [U]) by keyset on
pubts, against the simulator: paging, same-second edits, a second read from the cursor,
and no detail call per record."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from erpbridge.connectors.yonbip import YonBipConnector
from erpbridge.sims.yonbip import SANDBOX_APP_KEY, SANDBOX_APP_SECRET
from erpbridge.sims.yonbip.events import seal
from erpbridge.spi import Cursor, Record, WriteMode, WriteOp, WriteOutcome
from erpbridge.spi.records import Change
from tests.connectors.sent import sent

from .conftest import StepClock, settings

OBJECTS = ("merchant", "applyorder")


@pytest.fixture
def paths(http: httpx.AsyncClient) -> list[str]:
    """The gateway paths the connector calls, in order."""
    return sent(http, lambda request: request.url.path.removeprefix("/iuap-api-gateway"))


@pytest.fixture
def bip(http: httpx.AsyncClient) -> YonBipConnector:
    return YonBipConnector(settings(objects=OBJECTS), http)


async def _requisitions(bip: YonBipConnector, codes: list[str]) -> list[str]:
    ops = [
        WriteOp(
            WriteMode.CREATE,
            {
                "code": code,
                "bustype": "A25001",
                "org_code": "991",
                "vouchdate": "2026-11-05 00:00:00",
                "applyOrders": [{"product_cCode": "WL00002", "qty": 2}],
            },
            idempotency_key=f"job-{code}",
        )
        for code in codes
    ]
    results = await bip.write("applyorder", ops)
    assert all(r.outcome is WriteOutcome.CREATED for r in results), results
    return [str(r.target_id) for r in results]


async def _read(
    bip: YonBipConnector, cursor: Cursor | None, size: int
) -> tuple[list[Record], Cursor | None]:
    records: list[Record] = []
    async for page in bip.read_changes("applyorder", cursor, size):
        records += page.records
        cursor = page.cursor or cursor
    return records, cursor


def _event(bip: YonBipConnector, kind: str, record: Record) -> Change:
    """The change an event for ``record`` becomes, sealed as the simulator sends it."""
    sent_ms = int(time.time() * 1000)  # the send time, as the simulator's publisher puts it
    message = {"type": kind, "eventId": f"e-{record.version}", "timestamp": sent_ms,
               "tenantId": "k8x2m4q7", **record.fields}  # fmt: skip
    body = json.dumps(seal(SANDBOX_APP_KEY, SANDBOX_APP_SECRET, json.dumps(message)))
    [change] = bip.parse_webhook({}, body.encode())
    return change


async def _call(bip: YonBipConnector, api: str, ident: str) -> None:
    answer = await bip.client.call("POST", api, body={"data": [{"id": int(ident)}]})
    assert answer.data["sucessCount"] == 1  # type: ignore[index]


async def test_requisitions_are_read_once_each_in_pubts_order_from_list_headers(
    bip: YonBipConnector, clock: StepClock, paths: list[str]
) -> None:
    clock.frozen = True  # five saves in one pubts second: pages must split inside it
    first = await _requisitions(bip, [f"QG-R{n}" for n in range(5)])
    clock.frozen = False
    clock.advance(2)
    second = await _requisitions(bip, ["QG-R5", "QG-R6"])
    del paths[:]
    records, cursor = await _read(bip, None, 2)
    assert [r.id for r in records] == first + second
    keys = [(r.stamp, int(r.id)) for r in records]
    assert keys == sorted(keys)
    assert all(r.fields["status"] == 0 and "applyOrders" not in r.fields for r in records)
    assert [r.fields["code"] for r in records] == [f"QG-R{n}" for n in range(7)]
    assert cursor is not None and cursor.last_id == second[-1]
    # Headers only: list calls, never a detail call per record.
    assert set(paths) == {"/yonbip/scm/applyorder/list"}


async def test_a_second_read_from_the_cursor_brings_only_what_changed_since(
    bip: YonBipConnector, clock: StepClock
) -> None:
    [kept, audited] = await _requisitions(bip, ["QG-S1", "QG-S2"])
    seen, cursor = await _read(bip, None, 50)
    clock.advance(30)
    again, cursor_again = await _read(bip, cursor, 50)
    # The overlap may bring records back, at the versions already read: nothing new.
    assert {(r.id, r.version) for r in again} <= {(r.id, r.version) for r in seen}
    assert cursor_again == cursor
    await _call(bip, "/yonbip/scm/applyorder/batchaudit", audited)
    later, after = await _read(bip, cursor, 50)
    assert cursor is not None and after is not None and after.stamp > cursor.stamp
    new = [r for r in later if (r.id, r.version) not in {(s.id, s.version) for s in seen}]
    assert [(r.id, r.fields["status"]) for r in new] == [(audited, 1)]
    assert kept not in {r.id for r in new}


async def test_audit_and_close_within_one_second_are_both_read(
    bip: YonBipConnector, clock: StepClock
) -> None:
    [ident] = await _requisitions(bip, ["QG-T1"])
    _, cursor = await _read(bip, None, 50)
    clock.advance(10)
    clock.frozen = True
    await _call(bip, "/yonbip/scm/applyorder/batchaudit", ident)
    audited, cursor = await _read(bip, cursor, 50)
    audit_event = _event(bip, "pu_applyorder_audit", (await bip.get("applyorder", [ident]))[0])
    await _call(bip, "/yonbip/scm/applyorder/close", ident)  # the same pubts second
    closed, _ = await _read(bip, cursor, 50)
    assert [r.fields["status"] for r in audited if r.id == ident] == [1]
    assert [r.fields["status"] for r in closed if r.id == ident] == [2]
    [before] = [r for r in audited if r.id == ident]
    [after] = [r for r in closed if r.id == ident]
    assert before.stamp == after.stamp and before.version != after.version
    # Had the audit come by event (and the close's event been lost), the polled close is
    # not older than it: the engine keeps it (it drops only changes stamped before).
    assert after.stamp is not None and audit_event.stamp is not None
    assert not after.stamp < audit_event.stamp


async def test_an_event_and_a_poll_of_one_change_carry_the_same_stamp(
    bip: YonBipConnector,
) -> None:
    """The engine drops a change stamped before the last one it wrote: both kinds must be
    stamped on one clock (pubts), or a poll would look older than an event of its second."""
    [ident] = await _requisitions(bip, ["QG-E1"])
    await _call(bip, "/yonbip/scm/applyorder/batchaudit", ident)
    [detail] = await bip.get("applyorder", [ident])
    change = _event(bip, "pu_applyorder_audit", detail)
    polled, _ = await _read(bip, None, 50)
    [record] = [r for r in polled if r.id == ident]
    assert change.stamp is not None and change.stamp == record.stamp == detail.stamp
