"""Changing and removing sales orders YonBIP has (amend.py) against the simulator:
un-audit, save and re-audit; un-audit and delete; refusals of delivered orders carry
YonBIP's message and a hint; a lost save answer does not leave the order un-audited."""

from __future__ import annotations

import httpx
import pytest

from erpbridge.connectors.yonbip import YonBipConnector
from erpbridge.sims._common.faults import FaultConfig, FaultKind, FaultMiddleware
from erpbridge.sims.yonbip import BipState
from erpbridge.sims.yonbip.orders import OrderApi
from erpbridge.spi import TransientError, ValidationError, WriteMode, WriteOp, WriteOutcome

from .conftest import settings


def _fields(agent: str, qty: int) -> dict[str, object]:
    return {
        "code": f"SO-AM-{agent}-{qty}",
        "salesOrgId": "991",
        "transactionTypeId": "SO01",
        "vouchdate": "2026-11-06 00:00:00",
        "agentId": agent,
        "payMoney": 226 * qty,
        "orderDetails": [
            {"productId": "WL00003", "qty": qty, "oriTaxUnitPrice": 226, "oriSum": 226 * qty}
        ],
    }


@pytest.fixture
def amending(http: httpx.AsyncClient) -> YonBipConnector:
    return YonBipConnector(settings(unaudit_to_update=True), http)


async def _audited(connector: YonBipConnector, state: BipState, agent: str) -> str:
    [made] = await connector.write(
        "voucherorder",
        [WriteOp(WriteMode.CREATE, _fields(agent, 2), idempotency_key=f"am-{agent}")],
    )
    assert made.target_id is not None
    row = state.get("voucherorder", int(made.target_id))
    assert row is not None
    state.put("voucherorder", {**row, "status": 1, "statusName": "已审核"})
    return made.target_id


def _update(target: str, agent: str, qty: int, key: str) -> WriteOp:
    fields = {k: v for k, v in _fields(agent, qty).items() if k != "code"}
    return WriteOp(WriteMode.UPDATE, fields, target_id=target, idempotency_key=key, ref="u")


async def test_audited_order_is_unaudited_saved_and_audited_again(
    amending: YonBipConnector, bip_state: BipState
) -> None:
    target = await _audited(amending, bip_state, "KH0004")
    [result] = await amending.write("voucherorder", [_update(target, "KH0004", 7, "am-u1")])
    row = bip_state.get("voucherorder", int(target))
    assert result.outcome is WriteOutcome.UPDATED and row is not None
    assert (row["status"], row["payMoney"], row["orderDetails"][0]["qty"]) == (1, 226 * 7, 7)  # type: ignore[index]


async def test_without_the_option_yonbip_refuses_the_change(
    connector: YonBipConnector, bip_state: BipState
) -> None:
    target = await _audited(connector, bip_state, "KH0005")
    [result] = await connector.write("voucherorder", [_update(target, "KH0005", 7, "am-u2")])
    assert isinstance(result.error, ValidationError) and "已审核，不能修改" in result.error.message


async def test_delivered_order_change_is_refused_with_yonbips_message_and_a_hint(
    amending: YonBipConnector, bip_state: BipState
) -> None:
    target = await _audited(amending, bip_state, "KH0006")
    OrderApi(bip_state).deliver({"id": int(target)})  # 发货 in YonBIP
    [result] = await amending.write("voucherorder", [_update(target, "KH0006", 7, "am-u3")])
    error = result.error
    assert isinstance(error, ValidationError) and not error.retryable
    assert "已发货" in error.message and "不能弃审" in error.message
    assert error.hint is not None and "放弃这条死信" in error.hint
    row = bip_state.get("voucherorder", int(target))
    assert row is not None and (row["status"], row["payMoney"]) == (1, 452)


async def test_removal_unaudits_and_deletes_and_counts_gone_or_absent_orders(
    amending: YonBipConnector, bip_state: BipState
) -> None:
    audited = await _audited(amending, bip_state, "KH0007")
    remove = {"_status": "Delete"}
    ops = [
        WriteOp(WriteMode.UPDATE, remove, target_id=audited, ref="a"),
        WriteOp(WriteMode.UPSERT, remove, key_field="code", key_value="SO-NEVER", ref="b"),
    ]
    first = await amending.write("voucherorder", ops)
    again = await amending.write("voucherorder", ops[:1])
    assert [r.outcome for r in first] == [WriteOutcome.DELETED, WriteOutcome.UNCHANGED]
    assert again[0].outcome is WriteOutcome.DELETED
    assert bip_state.get("voucherorder", int(audited)) is None


async def test_removal_of_an_audited_order_without_the_option_is_refused(
    connector: YonBipConnector, bip_state: BipState
) -> None:
    audited = await _audited(connector, bip_state, "KH0008")
    [result] = await connector.write(
        "voucherorder", [WriteOp(WriteMode.UPDATE, {"_status": "Delete"}, target_id=audited)]
    )
    assert isinstance(result.error, ValidationError) and "已审核，不能删除" in result.error.message
    assert result.error.hint is not None
    assert bip_state.get("voucherorder", int(audited)) is not None


async def test_lost_save_answer_leaves_the_order_audited_and_the_retry_finishes(
    amending: YonBipConnector, bip_state: BipState, faulty_app: FaultMiddleware
) -> None:
    target = await _audited(amending, bip_state, "KH0009")
    op = _update(target, "KH0009", 9, "am-lost")
    faulty_app.configure(
        FaultConfig(path_prefix="/iuap-api-gateway/yonbip/sd/voucherorder/singleSave")
    )
    faulty_app.force(FaultKind.LOST_REPLY)
    [lost] = await amending.write("voucherorder", [op])
    faulty_app.configure(FaultConfig())
    row = bip_state.get("voucherorder", int(target))
    assert isinstance(lost.error, TransientError) and row is not None
    assert (row["status"], row["payMoney"]) == (1, 226 * 9)  # saved, and audited again
    [retried] = await amending.write("voucherorder", [op])
    row = bip_state.get("voucherorder", int(target))
    assert retried.outcome is WriteOutcome.UPDATED and row is not None and row["status"] == 1
