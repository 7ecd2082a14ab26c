"""Cancelling bills (作废): a write whose mapped ``FCancelStatus`` is ``B``.

K/3 Cloud cancels a bill with ``ExcuteOperation`` opNumber ``Cancel`` (作废, reference
§2.2), and only one that is not audited: 创建 (A), 重新审核 (D) or 暂存 (Z). The state
is read first (``FDocumentStatus``, ``FCancelStatus``), then per bill:

- already cancelled: ``unchanged``;
- not audited: ``Cancel``;
- audited (C) and the connection has ``unaudit_to_update``: ``UnAudit``, then ``Cancel``;
- audited without that option, or in approval (B), or an ``UnAudit``/``Cancel`` that
  Kingdee refuses (a bill with downstream documents, 下游单据): a validation error with
  Kingdee's own text and a hint a person can act on (un-audit and cancel it in 金蝶, or
  close its lines, 行关闭).

A bill 金蝶 does not have is not created to be cancelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from erpbridge.connectors.kingdee.describe import FormInfo
from erpbridge.connectors.kingdee.errors import SYSTEM
from erpbridge.spi.errors import ConnectorError, NotFoundError, ValidationError
from erpbridge.spi.records import Record, WriteMode, WriteOp, WriteOutcome, WriteResult

if TYPE_CHECKING:
    from erpbridge.connectors.kingdee.writer import Writer

__all__ = ["CANCEL_FIELD", "cancel_bills", "is_cancel"]

#: the bill's 作废状态: A not cancelled, B cancelled (read-only; changed by operations).
CANCEL_FIELD = "FCancelStatus"

_STATE_NAMES = {"B": "审核中", "C": "已审核"}


def is_cancel(info: FormInfo, op: WriteOp) -> bool:
    """True when ``op`` asks to cancel a bill of a form that can be cancelled."""
    return (
        op.mode is not WriteMode.DELETE
        and info.header_field(CANCEL_FIELD) is not None
        and str(op.fields.get(CANCEL_FIELD) or "").upper() == "B"
    )


def _hint(label: str, number: str, why: str) -> str:
    return (
        f"金蝶{label} {number} {why}：请在金蝶中反审核后作废，或对订单行做行关闭（业务关闭）；"
        "处理后放弃这条死信"
    )


def _refused(info: FormInfo, record: Record, error: ConnectorError | None, why: str) -> WriteResult:
    number = str(record.fields.get(info.number_key) or record.id)
    label = info.schema.label or info.schema.name
    message = f"{label} {number} {why}，不能作废" + (f"：{error.message}" if error else "")
    refusal = ValidationError(
        message,
        system=SYSTEM,
        object=info.schema.name,
        raw=error.raw if error else None,
        status=error.status if error else None,
        hint=_hint(label, number, why),
    )
    return WriteResult("", WriteOutcome.FAILED, record.id, error=refusal)


async def cancel_bills(
    writer: Writer,
    info: FormInfo,
    ops: Sequence[WriteOp],
    cancels: Sequence[tuple[int, str | None]],
    results: list[WriteResult | None],
) -> None:
    """Cancel the bills of ``cancels`` (op index, target id); one result per op."""
    form = info.schema.name
    targets = [(index, target) for index, target in cancels if target]
    for index, target in cancels:
        if not target:
            error = ValidationError(
                "作废需要金蝶中已有的单据（没有目标内码，也没有按编号找到）",
                field=info.pk,
                system=SYSTEM,
                object=form,
            )
            results[index] = WriteResult(ops[index].ref, WriteOutcome.FAILED, error=error)
    if not targets:
        return
    found = await writer.find(form, info.pk, [t for _, t in targets])
    records = {r.id: r for r in found}
    unaudit: list[tuple[int, Record]] = []
    cancel: list[tuple[int, Record]] = []
    for index, target in targets:
        record = records.get(str(target))
        ref = ops[index].ref
        if record is None:
            gone = NotFoundError(f"{form} 内码 {target} 不存在", system=SYSTEM, object=form)
            results[index] = WriteResult(ref, WriteOutcome.FAILED, error=gone)
            continue
        status = str(record.fields.get("FDocumentStatus") or "A")
        if str(record.fields.get(CANCEL_FIELD) or "") == "B":
            results[index] = WriteResult(ref, WriteOutcome.UNCHANGED, record.id)
        elif status == "C" and writer.settings.unaudit_to_update:
            unaudit.append((index, record))
        elif status in _STATE_NAMES:
            results[index] = _with_ref(_refused(info, record, None, _STATE_NAMES[status]), ref)
        else:
            cancel.append((index, record))
    if unaudit:
        ok, errors = await writer.status_op(info, "UnAudit", [r.id for _, r in unaudit])
        for dindex, (index, record) in enumerate(unaudit):
            if dindex in ok:
                cancel.append((index, record))
            else:
                refused = _refused(info, record, errors.get(dindex), "不能反审核")
                results[index] = _with_ref(refused, ops[index].ref)
    if cancel:
        ok, errors = await writer.status_op(
            info, "ExcuteOperation", [r.id for _, r in cancel], op_number="Cancel"
        )
        for dindex, (index, record) in enumerate(cancel):
            if dindex in ok:
                results[index] = WriteResult(ops[index].ref, WriteOutcome.UPDATED, record.id)
            else:
                refused = _refused(info, record, errors.get(dindex), "作废被拒绝")
                results[index] = _with_ref(refused, ops[index].ref)


def _with_ref(result: WriteResult, ref: str) -> WriteResult:
    return WriteResult(ref, result.outcome, result.target_id, result.version, result.error)
