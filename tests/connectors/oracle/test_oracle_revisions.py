"""The oracle connector changing and cancelling orders Order Hub has (revisions.py)."""

from __future__ import annotations

from typing import cast

import httpx

from erpbridge.connectors.oracle import OracleConnector
from erpbridge.sims.oracle import SANDBOX_PASSWORD, SANDBOX_USER, OracleState
from erpbridge.spi.errors import ValidationError
from erpbridge.spi.records import WriteMode, WriteOp, WriteOutcome, WriteResult
from tests.connectors.oracle.conftest import BASE_URL, order_fields

ORDERS = "salesOrdersForOrderHub"


def _party(state: OracleState) -> str:
    account = next(iter(state.tables["receivablesCustomerAccountActivities"].values()))
    return str(account["CustomerName"])


def _line(line_id: str, quantity: float) -> dict[str, object]:
    return {
        "SourceTransactionLineId": line_id,
        "SourceTransactionScheduleId": line_id,
        "ProductNumber": "AS54888",
        "OrderedQuantity": quantity,
    }


def _fields(
    state: OracleState, source_id: str, *lines: dict[str, object], **extra: object
) -> dict[str, object]:
    return order_fields(_party(state), source_id, lines=list(lines), **extra)


async def _upsert(connector: OracleConnector, fields: dict[str, object]) -> WriteResult:
    op = WriteOp(
        WriteMode.UPSERT,
        fields,
        key_field="SourceTransactionId",
        key_value=fields["SourceTransactionId"],
        ref="r1",
    )
    [result] = await connector.write(ORDERS, [op])
    return result


def _stored(state: OracleState, source_id: str) -> dict[str, object]:
    key = state.by_alt_key(ORDERS, ("CRM", source_id))
    assert key is not None
    return dict(state.tables[ORDERS][key])


def _lines(order: dict[str, object]) -> dict[str, tuple[object, object]]:
    return {
        str(line["SourceTransactionLineId"]): (line["OrderedQuantity"], line["StatusCode"])
        for line in cast(list[dict[str, object]], order["lines"])
    }


async def _tick(http: httpx.AsyncClient) -> None:
    answer = await http.post(f"{BASE_URL}/sim/tick", auth=(SANDBOX_USER, SANDBOX_PASSWORD))
    answer.raise_for_status()


async def test_changed_order_is_one_revision_with_the_next_number(
    connector: OracleConnector, sim_state: OracleState
) -> None:
    created = await _upsert(connector, _fields(sim_state, "V-1", _line("1", 3)))
    changed = await _upsert(connector, _fields(sim_state, "V-1", _line("1", 5), _line("2", 1)))
    order = _stored(sim_state, "V-1")
    assert (created.outcome, changed.outcome) == (WriteOutcome.CREATED, WriteOutcome.UPDATED)
    assert changed.target_id == created.target_id == str(order["HeaderId"])
    assert order["SourceTransactionRevisionNumber"] == 2
    assert _lines(order) == {"1": (5, "AWAIT_SHIP"), "2": (1, "AWAIT_SHIP")}


async def test_the_same_order_again_sends_nothing(
    connector: OracleConnector, sim_state: OracleState
) -> None:
    fields = _fields(sim_state, "V-2", _line("1", 3), CustomerPONumber="PO-1")
    await _upsert(connector, fields)
    before = _stored(sim_state, "V-2")
    again = await _upsert(connector, {**fields, "lines": [_line("1", 3.0)]})
    assert again.outcome is WriteOutcome.UNCHANGED and again.error is None
    assert _stored(sim_state, "V-2") == before  # not even a new revision


async def test_line_the_crm_removed_is_cancelled_in_oracle(
    connector: OracleConnector, sim_state: OracleState
) -> None:
    await _upsert(connector, _fields(sim_state, "V-3", _line("1", 3), _line("2", 4)))
    result = await _upsert(connector, _fields(sim_state, "V-3", _line("1", 3)))
    assert result.outcome is WriteOutcome.UPDATED, result.error
    assert _lines(_stored(sim_state, "V-3")) == {"1": (3, "AWAIT_SHIP"), "2": (4, "CANCELED")}
    again = await _upsert(connector, _fields(sim_state, "V-3", _line("1", 3)))
    assert again.outcome is WriteOutcome.UNCHANGED


async def test_cancelled_order_is_cancelled_once(
    connector: OracleConnector, sim_state: OracleState
) -> None:
    await _upsert(connector, _fields(sim_state, "V-4", _line("1", 3)))
    cancel = _fields(sim_state, "V-4", _line("1", 3), CanceledFlag=True, CancelReasonCode="CUST")
    first = await _upsert(connector, cancel)
    second = await _upsert(connector, cancel)
    order = _stored(sim_state, "V-4")
    assert (first.outcome, second.outcome) == (WriteOutcome.UPDATED, WriteOutcome.UNCHANGED)
    assert (order["StatusCode"], order["SourceTransactionRevisionNumber"]) == ("CANCELED", 2)
    assert _lines(order) == {"1": (3, "CANCELED")}


async def test_cancel_after_shipping_fails_with_oracles_text_and_a_hint(
    connector: OracleConnector, sim_state: OracleState, http: httpx.AsyncClient
) -> None:
    await _upsert(connector, _fields(sim_state, "V-5", _line("1", 3)))
    await _tick(http)
    shipped = _stored(sim_state, "V-5")
    result = await _upsert(connector, _fields(sim_state, "V-5", _line("1", 3), CanceledFlag=True))
    assert result.outcome is WriteOutcome.FAILED
    error = result.error
    assert isinstance(error, ValidationError)
    assert f"You can't cancel sales order {shipped['OrderNumber']}" in error.message
    assert "is already shipped" in error.message  # Oracle's own text
    assert error.hint == (
        f"Oracle order {shipped['OrderNumber']} is already shipped, so Oracle refuses to cancel "
        "it; cancel what is left in Oracle Order Management or create a return (RMA), then "
        "discard this dead letter"
    )
    assert _stored(sim_state, "V-5") == shipped


async def test_change_of_a_closed_order_fails_with_a_hint_but_the_same_content_passes(
    connector: OracleConnector, sim_state: OracleState, http: httpx.AsyncClient
) -> None:
    fields = _fields(sim_state, "V-6", _line("1", 3))
    await _upsert(connector, fields)
    for _ in range(3):
        await _tick(http)
    assert _stored(sim_state, "V-6")["StatusCode"] == "CLOSED"
    same = await _upsert(connector, fields)
    changed = await _upsert(connector, _fields(sim_state, "V-6", _line("1", 8)))
    assert same.outcome is WriteOutcome.UNCHANGED
    assert changed.outcome is WriteOutcome.FAILED and changed.error is not None
    assert "because it's closed" in changed.error.message
    assert str(changed.error.hint).startswith("Oracle order ")
    assert "is already closed, so Oracle refuses to change it" in str(changed.error.hint)


async def test_cancel_of_an_order_oracle_never_had_creates_nothing(
    connector: OracleConnector, sim_state: OracleState
) -> None:
    count = len(sim_state.tables[ORDERS])
    result = await _upsert(connector, _fields(sim_state, "V-7", _line("1", 3), CanceledFlag=True))
    assert result.outcome is WriteOutcome.FAILED
    assert isinstance(result.error, ValidationError)
    assert "cancelling needs the order in Oracle" in result.error.message
    assert len(sim_state.tables[ORDERS]) == count
