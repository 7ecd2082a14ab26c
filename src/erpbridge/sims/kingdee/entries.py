"""Entry rows (分录) of sales orders after they moved on: outbound quantities, row close.

What the simulator enforces, copied from K/3 Cloud where the sources say so:

- ``FStockOutQty`` (累计出库数量) is maintained by 销售出库单; a row with a quantity out is
  tied to a downstream document. A Save that drops such a row (``IsDeleteEntry`` true and
  the row not in the model), lowers its ``FQty`` below what went out or changes its
  material is refused (the refusal texts are modelled, UNSURE).
- ``ExcuteOperation`` ``YLMRPClose`` / ``YLUnMRPClose`` (行关闭 / 行反关闭, 业务关闭 of
  single rows) with ``PkEntryIds: [{"Id": <FID>, "EntryIds": "<FEntryID>,…"}]`` set
  ``FMrpCloseStatus`` B / A. The opNumbers come from community copies of Kingdee's
  operation list and customer plug-in code, the ``PkEntryIds`` shape from the WebAPI
  document of ExcuteOperation; the reference lists neither, so both are UNSURE. Only an
  audited bill's rows are closed; when every row is closed the bill's ``FCloseStatus`` is
  B as well (UNSURE, as the product shows it).
- Simulator control, not a Kingdee API: :func:`stock_out` books an outbound quantity on a
  row, standing in for an audited 销售出库单 pushed from the order (the simulator has no
  SAL_OUTSTOCK form).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from erpbridge.sims.kingdee.forms import EntryDef, FormDef
from erpbridge.sims.kingdee.state import KingdeeState, Row
from erpbridge.sims.kingdee.values import as_pk
from erpbridge.sims.kingdee.wire import BusinessError, ErrorItem, MsgCode, SuccessItem, lower_keys

__all__ = ["CLOSE_FIELD", "OUT_FIELD", "check_kept", "check_removed", "close_rows", "stock_out"]

OUT_FIELD = "FStockOutQty"
CLOSE_FIELD = "FMrpCloseStatus"


def _out(line: Mapping[str, object]) -> float:
    value = line.get(OUT_FIELD)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _qty(value: object) -> str:
    return f"{float(value):g}" if isinstance(value, int | float) else str(value)


def check_removed(entry: EntryDef, current: Sequence[Row], kept: set[object]) -> None:
    """Refuse a Save that deletes a row something went out against.

    Raises:
        BusinessError: the first such row (its sequence number and quantity out).
    """
    for seq, line in enumerate(current, start=1):
        if line.get(entry.id_key) not in kept and _out(line) > 0:
            raise BusinessError(
                f"{entry.label}第{seq}行（分录内码{line.get(entry.id_key)}）已出库"
                f"{_qty(_out(line))}，存在下游单据（销售出库单），不允许删除！",
                entry.key,
                MsgCode.VALIDATION,
            )


def check_kept(entry: EntryDef, seq: int, old: Row, new: Row) -> None:
    """Refuse a change of a row that went out: less than shipped, or another material.

    Raises:
        BusinessError: the row and why.
    """
    shipped = _out(old)
    if shipped <= 0:
        return
    qty = new.get("FQty")
    if isinstance(qty, int | float) and float(qty) < shipped:
        raise BusinessError(
            f"{entry.label}第{seq}行销售数量{_qty(qty)}不能小于累计出库数量{_qty(shipped)}！",
            "FQty",
            MsgCode.VALIDATION,
        )
    if new.get("FMaterialId") != old.get("FMaterialId"):
        raise BusinessError(
            f"{entry.label}第{seq}行已出库{_qty(shipped)}，存在下游单据，不允许修改物料！",
            "FMaterialId",
            MsgCode.VALIDATION,
        )


def _pk_entry_ids(data: Mapping[str, object]) -> list[tuple[object, list[object]]]:
    """``PkEntryIds`` as (bill id, [entry ids]); a JSON string is accepted too."""
    raw = data.get("pkentryids")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else []
        except json.JSONDecodeError:
            raise BusinessError(
                "PkEntryIds 不是有效的JSON", "PkEntryIds", MsgCode.BAD_REQUEST
            ) from None
    if not isinstance(raw, list) or not raw:
        raise BusinessError(
            '行操作需要 PkEntryIds：[{"Id":单据内码,"EntryIds":"分录内码,…"}]',
            "PkEntryIds",
            MsgCode.BAD_REQUEST,
        )
    out: list[tuple[object, list[object]]] = []
    for item in raw:
        keys = lower_keys(item) if isinstance(item, dict) else {}
        ids = keys.get("entryids")
        parts = ids if isinstance(ids, list) else str(ids or "").split(",")
        entry_ids = [as_pk(p) for p in parts if str(p).strip()]
        if keys.get("id") in (None, "") or not entry_ids:
            raise BusinessError(
                "PkEntryIds 的每一项需要 Id 和 EntryIds", "PkEntryIds", MsgCode.BAD_REQUEST
            )
        out.append((as_pk(keys["id"]), entry_ids))
    return out


def close_rows(
    state: KingdeeState, form: FormDef, data: Mapping[str, object], *, close: bool
) -> tuple[list[SuccessItem], list[ErrorItem], int]:
    """``YLMRPClose`` (close) / ``YLUnMRPClose``: each bill of ``PkEntryIds`` on its own."""
    entry = next((e for e in form.entries if any(f.key == CLOSE_FIELD for f in e.fields)), None)
    if entry is None:
        message = f"表单“{form.label}”({form.form_id})不支持行关闭操作"
        return [], [ErrorItem(message, "")], MsgCode.BAD_REQUEST
    to, name = ("B", "行关闭") if close else ("A", "行反关闭")
    done: list[SuccessItem] = []
    failed: list[ErrorItem] = []
    for dindex, (bill_id, entry_ids) in enumerate(_pk_entry_ids(data)):
        row = state.get(form, bill_id)
        try:
            changed = _close_bill(state, form, entry, row, bill_id, entry_ids, to, name)
        except BusinessError as exc:
            failed.append(ErrorItem(exc.message, exc.field_name, dindex))
            continue
        state.put(form, changed)
        done.append(SuccessItem(changed[form.pk], str(changed.get(form.number_key)), dindex))
    return done, failed, (MsgCode.STATE if failed else MsgCode.OK)


def _close_bill(
    state: KingdeeState,
    form: FormDef,
    entry: EntryDef,
    row: Row | None,
    bill_id: object,
    entry_ids: list[object],
    to: str,
    name: str,
) -> Row:
    if row is None:
        raise BusinessError(f"内码为“{bill_id}”的{form.label}不存在！", "")
    bill = f"单据编号为“{row.get(form.number_key)}”的{form.label}"
    if row.get("FDocumentStatus") != "C" or row.get("FCancelStatus") == "B":
        raise BusinessError(f"{bill}，单据未审核或已作废，不能{name}！", "")
    changed = state.copy_of(row)
    lines = changed.get(entry.key)
    by_id = (
        {ln[entry.id_key]: ln for ln in lines if isinstance(ln, dict)}
        if isinstance(lines, list)
        else {}
    )
    for entry_id in entry_ids:
        line = by_id.get(entry_id)
        if line is None:
            raise BusinessError(f"{bill}，分录内码“{entry_id}”不存在！", entry.id_key)
        if line.get(CLOSE_FIELD) == to:
            state_name = "已经业务关闭" if to == "B" else "未业务关闭"
            raise BusinessError(f"{bill}，分录内码“{entry_id}”{state_name}！", entry.id_key)
        line[CLOSE_FIELD] = to
    every = all(ln.get(CLOSE_FIELD) == "B" for ln in by_id.values())
    changed["FCloseStatus"] = "B" if every else "A"
    changed["FModifyDate"] = state.now_text()
    return changed


def stock_out(state: KingdeeState, form: FormDef, body: Mapping[str, object]) -> Row:
    """Book ``Qty`` out of row ``EntryId`` of bill ``BillNo`` (simulator control).

    Raises:
        BusinessError: no such bill or row, the bill not audited, the row closed, or more
            than the row's open quantity.
    """
    args = lower_keys(body)
    row = state.by_number(form, str(args.get("billno") or ""))
    if row is None:
        raise BusinessError(f"单据编号“{args.get('billno')}”的{form.label}不存在", "BillNo")
    if row.get("FDocumentStatus") != "C" or row.get("FCancelStatus") == "B":
        raise BusinessError("只有已审核、未作废的销售订单可以出库", "BillNo", MsgCode.STATE)
    entry = form.entries[0]
    changed = state.copy_of(row)
    lines = changed.get(entry.key)
    entry_id = as_pk(args.get("entryid") or "")
    line = (
        next(
            (ln for ln in lines if isinstance(ln, dict) and ln.get(entry.id_key) == entry_id),
            None,
        )
        if isinstance(lines, list)
        else None
    )
    if line is None:
        raise BusinessError(f"分录内码“{args.get('entryid')}”不存在", "EntryId")
    qty = args.get("qty")
    if not isinstance(qty, int | float) or isinstance(qty, bool) or qty <= 0:
        raise BusinessError("Qty 应为大于0的数值", "Qty")
    if line.get(CLOSE_FIELD) == "B":
        raise BusinessError("该分录已业务关闭，不能出库", "EntryId", MsgCode.STATE)
    open_qty = float(line.get("FQty") or 0) - _out(line)
    if qty > open_qty:
        raise BusinessError(f"出库数量{_qty(qty)}超过未出库数量{_qty(open_qty)}", "Qty")
    line[OUT_FIELD] = round(_out(line) + float(qty), 10)
    changed["FModifyDate"] = state.now_text()
    state.put(form, changed)
    return changed
