"""Changing and removing sales orders YonBIP already has, with documented APIs only.

YonBIP refuses to save an audited order (单据已审核，不能修改) and to delete one. The open
API documents ``voucherorder/batchunaudit`` (弃审), ``batchaudit``, ``singleSave`` with
``_status: "Update"`` and ``delete`` (reference §B3); no cancel (作废) or close API for
sales orders was found [U], so a cancelled CRM order is *removed* from YonBIP.

- **Change** (``unaudit_to_update`` on the connection): the order's status is read first
  (``detail``). An open order is saved. An audited one is un-audited, saved and audited
  again, so it ends as it was. Whatever the save does, an order this module un-audited is
  audited again before the result is reported (a lost save answer does not leave it open).
- **Removal** (a write whose ``_status`` is ``Delete``): an open order is deleted; an
  audited one is un-audited first (with ``unaudit_to_update``), then deleted; if the
  delete is refused after the un-audit, the order is audited again. An order already gone
  counts as deleted; one YonBIP never had is ``unchanged``.
- **Refusals** (an order delivered in YonBIP, 已发货, cannot be un-audited; the message is
  YonBIP's own): a ``ValidationError`` with YonBIP's text and a hint a person can act on,
  so the job is one dead letter, not retried.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from erpbridge.connectors.yonbip.client import YonBipClient
from erpbridge.connectors.yonbip.errors import SYSTEM
from erpbridge.spi.errors import ConnectorError, NotFoundError, ValidationError
from erpbridge.spi.records import WriteOp, WriteOutcome, WriteResult

__all__ = ["API", "REMOVE", "OrderAmender"]

API = {
    "detail": "/yonbip/sd/voucherorder/detail",
    "unaudit": "/yonbip/sd/voucherorder/batchunaudit",
    "audit": "/yonbip/sd/voucherorder/batchaudit",
    "delete": "/yonbip/sd/voucherorder/delete",
}
#: the ``_status`` value of a write that removes the order.
REMOVE = "Delete"
#: ``status`` of an audited order (0 开立 open, 1 已审核 audited; reference §B8).
_AUDITED = 1
_OBJECT = "voucherorder"
_Save = Callable[[dict[str, object]], Awaitable[WriteResult]]


def _hint_change(code: str) -> str:
    return (
        f"用友销售订单 {code} 不能弃审（已发货或有下游单据），这次修改没有写入用友：请在用友中"
        "处理该订单（退货、红冲或关闭），或在简道云中撤回这次修改；处理后放弃这条死信"
    )


def _hint_remove(code: str) -> str:
    return (
        f"用友销售订单 {code} 不能删除（已发货或有下游单据）：请在用友中关闭或退货处理该订单，"
        "并在简道云中核对订单状态；处理后放弃这条死信"
    )


def _hint_reaudit(code: str) -> str:
    return (
        f"用友销售订单 {code} 已弃审，但重新审核失败，现为开立状态：请在用友中审核该订单；"
        "无需重放这条死信，处理后放弃它"
    )


class OrderAmender:
    """Un-audit, save or delete, and re-audit one order at a time (see the module doc).

    Args:
        client: the wire client.
        unaudit: the connection's ``unaudit_to_update``.
    """

    def __init__(self, client: YonBipClient, *, unaudit: bool) -> None:
        self.client = client
        self.unaudit = unaudit

    async def update(
        self, op: WriteOp, target: str, data: dict[str, object], save: _Save
    ) -> WriteResult:
        """Save a change to order ``target``, un-auditing and re-auditing an audited one."""
        head = await self._head(target)
        if head is None or head.get("status") != _AUDITED:
            return await save(data)  # open, or gone (the save's NotFound resyncs it)
        code = str(head.get("code") or target)
        refusal = await self._state_op("unaudit", target, code)
        if refusal is not None:
            return _failed(op, target, refusal, f"{code} 的修改没有写入用友", _hint_change(code))
        try:
            result = await save(data)
        except ConnectorError:
            await self._state_op("audit", target, code)  # put it back; the retry redoes it
            raise
        refusal = await self._state_op("audit", target, code)
        if refusal is not None and result.outcome is not WriteOutcome.FAILED:
            return _failed(
                op, target, refusal, f"{code} 的修改已保存，但重新审核失败", _hint_reaudit(code)
            )
        return result

    async def remove(self, op: WriteOp, target: str | None) -> WriteResult:
        """Delete order ``target`` (un-auditing an audited one first)."""
        if target is None:
            return WriteResult(op.ref, WriteOutcome.UNCHANGED, None)  # YonBIP never had it
        head = await self._head(target)
        if head is None:
            return WriteResult(op.ref, WriteOutcome.DELETED, target)  # already gone
        code = str(head.get("code") or target)
        unaudited = False
        if head.get("status") == _AUDITED and self.unaudit:
            refusal = await self._state_op("unaudit", target, code)
            if refusal is not None:
                return _failed(op, target, refusal, f"{code} 不能删除", _hint_remove(code))
            unaudited = True
        refusal = await self._state_op("delete", target, code)
        if refusal is None:
            return WriteResult(op.ref, WriteOutcome.DELETED, target)
        if unaudited:
            await self._state_op("audit", target, code)
        return _failed(op, target, refusal, f"{code} 不能删除", _hint_remove(code))

    async def _head(self, target: str) -> dict[str, object] | None:
        try:
            answer = await self.client.call(
                "GET", API["detail"], params={"id": target}, object=_OBJECT
            )
        except NotFoundError:
            return None
        return answer.data if isinstance(answer.data, dict) else None

    async def _state_op(self, action: str, target: str, code: str) -> ConnectorError | None:
        """Run ``batchunaudit``/``batchaudit``/``delete`` on one order; its refusal or None.

        Batch answers are ``code 200`` with per-record ``infos`` (done) and ``messages``
        (``单据[code]…`` refused) — partial failure is not an error code (reference §B2).
        """
        body: dict[str, object] = (
            {"data": {"id": [int(target)]}}
            if action == "delete"
            else {"data": [{"id": int(target)}]}
        )
        answer = await self.client.call("POST", API[action], body=body, object=_OBJECT)
        data = answer.data if isinstance(answer.data, dict) else {}
        infos = data.get("infos") if isinstance(data.get("infos"), list) else []
        if any(isinstance(i, dict) and str(i.get("id")) == target for i in infos):  # type: ignore[union-attr]
            return None
        raw = data.get("messages")
        messages = [str(m) for m in raw] if isinstance(raw, list) else []
        text = next(
            (m for m in messages if f"[{code}]" in m or f"[{target}]" in m),
            messages[0] if messages else f"用友的 {action} 回答没有提到单据[{code}]",
        )
        if action == "delete" and "不存在或已被删除" in text:
            return None  # gone between the read and the delete
        return ValidationError(
            text, field=None, system=SYSTEM, object=_OBJECT, raw=str(data)[:2000]
        )


def _failed(op: WriteOp, target: str, refusal: ConnectorError, what: str, hint: str) -> WriteResult:
    error = ValidationError(
        f"用友销售订单 {what}：{refusal.message}",
        field=None,
        system=SYSTEM,
        object=_OBJECT,
        raw=refusal.raw,
        hint=hint,
    )
    return WriteResult(op.ref, WriteOutcome.FAILED, target, None, error)
