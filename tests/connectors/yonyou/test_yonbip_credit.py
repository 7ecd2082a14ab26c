"""The YonBIP connector's ``credit`` object (a stand-in API, not Yonyou's) against the
simulator: opt-in through ``objects``, read incrementally, found by customer, read-only."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError as PydanticValidationError

from erpbridge.connectors.yonbip import YonBipConnector
from erpbridge.sims.yonbip import BipState
from erpbridge.sims.yonbip.credit import set_credit_limit
from erpbridge.spi import Cursor, NotFoundError, Record, ValidationError, WriteMode, WriteOp
from erpbridge.spi.records import WriteOutcome

from .conftest import StepClock, settings

OBJECTS = ("merchant", "voucherorder", "product", "currentstock", "credit")


@pytest.fixture
def credit_connector(http: httpx.AsyncClient) -> YonBipConnector:
    return YonBipConnector(settings(objects=OBJECTS), http)


async def _read_all(
    connector: YonBipConnector, cursor: Cursor | None
) -> tuple[list[Record], Cursor | None]:
    records: list[Record] = []
    async for page in connector.read_changes("credit", cursor, 4):
        records += page.records
        cursor = page.cursor or cursor
    return records, cursor


async def test_credit_is_opt_in_and_described_as_a_stand_in(
    connector: YonBipConnector, credit_connector: YonBipConnector
) -> None:
    assert "credit" not in (await connector.describe()).objects
    with pytest.raises(ValidationError, match="credit"):
        await connector.find("credit", "customerCode", ["KH0001"])
    schema = (await credit_connector.describe()).objects["credit"]
    assert schema.natural_keys == ("customerCode",) and "非用友官方" in str(schema.label)
    assert all(f.read_only for f in schema.fields)
    with pytest.raises(PydanticValidationError, match="credit_api"):
        settings(objects=OBJECTS, credit_api="yonbip/x")


async def test_credit_is_read_in_pages_then_only_what_changed(
    credit_connector: YonBipConnector, bip_state: BipState, clock: StepClock
) -> None:
    everything, cursor = await _read_all(credit_connector, None)
    assert len(everything) == 6 == len({r.id for r in everything})
    first = everything[0].fields
    assert first["creditAvailable"] == round(first["creditLimit"] - first["creditUsed"], 2)  # type: ignore[operator]
    clock.advance(30)
    set_credit_limit(bip_state, {"customer": first["customerCode"], "creditLimit": 123456})
    later, _ = await _read_all(credit_connector, cursor)
    assert cursor is not None
    new = [r for r in later if r.stamp is not None and cursor.is_after(r.stamp, r.id)]
    assert [r.fields["creditLimit"] for r in new] == [123456]


async def test_credit_found_by_customer_code_or_id_and_got_by_id(
    credit_connector: YonBipConnector,
) -> None:
    [one] = await credit_connector.find("credit", "customerCode", ["KH0001"])
    [same] = await credit_connector.find("credit", "customerId", [one.fields["customerId"]])
    [again] = await credit_connector.get("credit", [one.id])
    assert one.id == same.id == again.id and one.fields["customerCode"] == "KH0001"
    assert await credit_connector.find("credit", "customerCode", ["KH0002"]) == []  # no limit


async def test_credit_writes_are_refused_per_op(credit_connector: YonBipConnector) -> None:
    [result] = await credit_connector.write(
        "credit", [WriteOp(WriteMode.UPDATE, {"creditLimit": 1}, target_id="1", ref="r1")]
    )
    assert result.outcome is WriteOutcome.FAILED and isinstance(result.error, ValidationError)


async def test_a_tenant_without_the_credit_api_gets_a_clear_not_found(
    http: httpx.AsyncClient,
) -> None:
    connector = YonBipConnector(
        settings(objects=OBJECTS, credit_api="/yonbip/custom/nocredit/list"), http
    )
    with pytest.raises(NotFoundError, match="nocredit"):
        await connector.find("credit", "customerCode", ["KH0001"])
