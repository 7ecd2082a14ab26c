"""Cancelling sales orders (作废) through a write whose FCancelStatus is B."""

from __future__ import annotations

from erpbridge.sims.kingdee import KingdeeState
from erpbridge.spi import ValidationError, WriteMode, WriteOp, WriteOutcome
from erpbridge.spi.records import WriteResult

from .conftest import ConnectorFactory


def _bill(state: KingdeeState, status: str) -> dict[str, object]:
    return next(r for r in state.tables["SAL_SaleOrder"].values() if r["FDocumentStatus"] == status)


async def _cancel(
    connect: ConnectorFactory, bill: dict[str, object], **settings: object
) -> WriteResult:
    kingdee = connect(**settings)
    op = WriteOp(
        WriteMode.UPDATE, {"FCancelStatus": "B", "FNote": "取消"}, target_id=str(bill["FID"])
    )
    [result] = await kingdee.write("SAL_SaleOrder", [op])
    return result


async def test_an_unaudited_order_is_cancelled(
    connect: ConnectorFactory, sim_state: KingdeeState
) -> None:
    bill = _bill(sim_state, "A")
    result = await _cancel(connect, bill)
    stored = sim_state.tables["SAL_SaleOrder"][bill["FID"]]
    assert (result.outcome, result.target_id) == (WriteOutcome.UPDATED, str(bill["FID"]))
    assert (stored["FCancelStatus"], stored["FNote"]) == ("B", bill["FNote"])  # not saved


async def test_an_audited_order_is_unaudited_then_cancelled_with_unaudit_to_update(
    connect: ConnectorFactory, sim_state: KingdeeState
) -> None:
    bill = _bill(sim_state, "C")
    result = await _cancel(connect, bill, unaudit_to_update=True)
    stored = sim_state.tables["SAL_SaleOrder"][bill["FID"]]
    assert result.outcome is WriteOutcome.UPDATED, result.error
    assert (stored["FDocumentStatus"], stored["FCancelStatus"]) == ("D", "B")


async def test_an_audited_order_without_the_option_is_refused_with_a_hint(
    connect: ConnectorFactory, sim_state: KingdeeState
) -> None:
    bill = _bill(sim_state, "C")
    result = await _cancel(connect, bill)
    assert result.outcome is WriteOutcome.FAILED
    assert isinstance(result.error, ValidationError)
    assert "已审核，不能作废" in result.error.message
    assert result.error.hint is not None and "反审核后作废，或对订单行做行关闭" in result.error.hint
    assert sim_state.tables["SAL_SaleOrder"][bill["FID"]]["FCancelStatus"] == "A"


async def test_an_order_in_approval_is_refused(
    connect: ConnectorFactory, sim_state: KingdeeState
) -> None:
    bill = _bill(sim_state, "B")
    result = await _cancel(connect, bill, unaudit_to_update=True)
    assert result.outcome is WriteOutcome.FAILED
    assert "审核中，不能作废" in str(result.error)


async def test_cancelling_twice_is_unchanged_and_a_cancelled_order_is_not_saved_again(
    connect: ConnectorFactory, sim_state: KingdeeState
) -> None:
    bill = _bill(sim_state, "A")
    await _cancel(connect, bill)
    again = await _cancel(connect, bill)
    [save] = await connect().write(
        "SAL_SaleOrder",
        [WriteOp(WriteMode.UPDATE, {"FNote": "改"}, target_id=str(bill["FID"]))],
    )
    assert again.outcome is WriteOutcome.UNCHANGED
    assert save.outcome is WriteOutcome.FAILED
    assert "已作废" in str(save.error)


async def test_a_cancel_of_an_order_kingdee_does_not_have_creates_nothing(
    connect: ConnectorFactory, sim_state: KingdeeState
) -> None:
    before = len(sim_state.tables["SAL_SaleOrder"])
    op = WriteOp(
        WriteMode.UPSERT,
        {"FBillNo": "SO-NEVER", "FCancelStatus": "B"},
        key_field="FBillNo",
        key_value="SO-NEVER",
    )
    [result] = await connect().write("SAL_SaleOrder", [op])
    assert result.outcome is WriteOutcome.FAILED
    assert len(sim_state.tables["SAL_SaleOrder"]) == before
