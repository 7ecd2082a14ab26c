"""The I/O of line-level updates (lines.py plans them): read the bills, close rows, explain.

Before a BatchSave, the updates whose lines go to an entry with a ``line_references``
field read their bills (one query per batch, lines included) and get their entry rows
planned; removed rows that went out are closed first when ``close_removed_lines`` is on
(行关闭 needs an audited bill, so it runs before the save un-audits it). After the save,
a refusal is explained: a stale ``FEntryID`` is a conflict (the retry reads again), a
refusal of rows that went out carries a hint a person can act on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from erpbridge.connectors.kingdee.describe import FormInfo
from erpbridge.connectors.kingdee.errors import SYSTEM
from erpbridge.connectors.kingdee.lines import delivered_hint, plan_entry
from erpbridge.spi.errors import ConflictError, ConnectorError, ValidationError
from erpbridge.spi.records import Record, WriteOp, WriteOutcome, WriteResult

if TYPE_CHECKING:
    from erpbridge.connectors.kingdee.writer import PendingSave, Writer

__all__ = ["ROW_CLOSE_OP", "explain_line_error", "update_lines"]

#: ExcuteOperation opNumber of 行关闭 on SAL_SaleOrder (UNSURE: community sources, lines.py).
ROW_CLOSE_OP = "YLMRPClose"


def _references(writer: Writer, info: FormInfo) -> dict[str, str]:
    """Entry key -> the field carrying the CRM line id, for this form (any case)."""
    form = info.schema.name.lower()
    for name, entries in writer.settings.line_references.items():
        if name.lower() == form:
            out = {}
            for key, field in entries.items():
                entry = next(
                    (e for e in info.entries.values() if e.key.lower() == key.lower()), None
                )
                if entry is not None:
                    out[entry.key] = field
            return out
    return {}


async def update_lines(
    writer: Writer,
    info: FormInfo,
    ops: Sequence[WriteOp],
    saves: list[PendingSave],
    results: list[WriteResult | None],
) -> list[PendingSave]:
    """Plan the entry rows of the updates among ``saves``; the saves still to send.

    A save whose plan fails (two lines with one reference, a row close 金蝶 refuses) gets
    its failed result here and is not sent.
    """
    references = _references(writer, info)
    planned = [
        s
        for s in saves
        if s.is_update and any(isinstance(s.model.get(k), list) for k in references)
    ]
    if not planned:
        return saves
    ids = [str(s.model[info.pk]) for s in planned]
    bills = {r.id: r for r in await writer.find(info.schema.name, info.pk, ids)}
    dropped: set[int] = set()
    closing: list[tuple[PendingSave, list[object]]] = []
    for save in planned:
        bill = bills.get(str(save.model[info.pk]))
        if bill is None:
            continue  # gone: the save itself reports it (金蝶's "不存在")
        try:
            to_close = _plan(writer, info, references, save, bill)
        except ValidationError as exc:
            results[save.index] = WriteResult(ops[save.index].ref, WriteOutcome.FAILED, error=exc)
            dropped.add(save.index)
            continue
        if to_close:
            closing.append((save, to_close))
    if closing:
        dropped |= await _close_rows(writer, info, ops, closing, results)
    return [s for s in saves if s.index not in dropped]


def _plan(
    writer: Writer,
    info: FormInfo,
    references: Mapping[str, str],
    save: PendingSave,
    bill: Record,
) -> list[object]:
    """Replace ``save``'s entry rows by their plan; the FEntryIDs to close first."""
    save.number = str(bill.fields.get(info.number_key) or bill.id)
    to_close: list[object] = []
    for key, reference in references.items():
        lines = save.model.get(key)
        if not isinstance(lines, list):
            continue
        now = bill.fields.get(key)
        current = [r for r in now if isinstance(r, Mapping)] if isinstance(now, list) else []
        plan = plan_entry(
            info,
            info.entries[key],
            reference,
            [line for line in lines if isinstance(line, dict)],
            current,
            close_removed=writer.settings.close_removed_lines,
        )
        save.model[key] = list(plan.rows)
        save.planned.append(key)
        save.delivered += plan.delivered
        to_close += plan.close
    return to_close


async def _close_rows(
    writer: Writer,
    info: FormInfo,
    ops: Sequence[WriteOp],
    closing: list[tuple[PendingSave, list[object]]],
    results: list[WriteResult | None],
) -> set[int]:
    """行关闭 of removed rows that went out, one item per bill; the op indexes it failed."""
    ids = [str(save.model[info.pk]) for save, _ in closing]
    items = [
        {"Id": save.model[info.pk], "EntryIds": ",".join(str(i) for i in entry_ids)}
        for save, entry_ids in closing
    ]
    _, errors = await writer.status_op(
        info, "ExcuteOperation", ids, op_number=ROW_CLOSE_OP, data={"PkEntryIds": items}
    )
    for dindex, error in errors.items():
        save = closing[dindex][0]
        error.hint = error.hint or (
            f"金蝶{info.schema.label or info.schema.name} {save.number} 的已出库行不能删除，"
            "行关闭也被拒绝：请在金蝶中对该行做行关闭（业务关闭）或做销售退货；处理后放弃这条死信"
        )
        results[save.index] = WriteResult(ops[save.index].ref, WriteOutcome.FAILED, error=error)
    return {closing[d][0].index for d in errors}


def explain_line_error(info: FormInfo, save: PendingSave, error: ConnectorError) -> ConnectorError:
    """A refused save of planned rows, explained (other errors are returned as they are).

    - a refused ``FEntryID`` (the row is gone in 金蝶 since the read): a conflict, so the
      engine retries and the retry plans against the bill as it is now;
    - a refusal while the save deletes or changes rows that went out: Kingdee's text
      with a hint (judged from the bill as read, not from the message).
    """
    if not save.planned or not isinstance(error, ValidationError):
        return error
    id_keys = {info.entries[k].id_key.lower() for k in save.planned}
    if (error.field or "").lower() in id_keys and "不存在" in error.message:
        return ConflictError(
            f"金蝶中的单据行在读取之后变了：{error.message}",
            system=SYSTEM,
            object=info.schema.name,
            raw=error.raw,
            status=error.status,
        )
    if save.delivered and error.hint is None:
        error.hint = delivered_hint(info, save.number, save.delivered)
    return error
