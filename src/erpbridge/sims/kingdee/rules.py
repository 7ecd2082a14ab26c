"""Business rules: Save/BatchSave, Submit, Audit, UnAudit, Delete and View.

What the simulator enforces, copied from K/3 Cloud (reference §2, §7):
- ``Model`` with no primary key (or 0) creates; an existing key updates, merging the
  given fields into the stored bill; ``NeedUpDateFields`` limits what an update touches;
  ``IsDeleteEntry`` (default true) drops entry rows the model does not name; a row
  given with its ``FEntryID`` is that row updated, one without is a new row (entries.py:
  a row something went out against is neither dropped nor cut below what went out).
- References are written as ``{"FNumber": "C001"}`` (``FNUMBER`` too) and must exist.
- Numbers (FNumber / FBillNo) are unique per form; an empty number gets the next one.
- FDocumentStatus: Save makes A (a re-saved D stays D); Submit A/D → B; Audit B → C;
  UnAudit C → D; CancelAssign (撤销) B → A; Delete only in Z/A/D; Save of a B or C bill
  is refused.
- Every change stamps FModifyDate (server local time); Audit also FApproveDate/FAuditDate.
  Whether a real server moves FModifyDate on Audit is [UNSURE]; the simulator does.
- Each model of a BatchSave is checked and saved on its own (partial success, DIndex).
Unknown keys in a Model are ignored, as K/3 Cloud ignores them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from erpbridge.sims.kingdee.entries import CLOSE_FIELD, check_kept, check_removed
from erpbridge.sims.kingdee.forms import FORMS, EntryDef, FieldDef, FormDef
from erpbridge.sims.kingdee.state import KingdeeState, Row
from erpbridge.sims.kingdee.values import as_pk, coerce_value, compute, default_of, is_empty
from erpbridge.sims.kingdee.wire import (
    BusinessError,
    ErrorItem,
    MsgCode,
    SuccessItem,
    as_bool,
    lower_keys,
)

__all__ = ["Rules", "SaveOptions", "StatusOp"]

_STATUS_NAMES = {"Z": "暂存", "A": "创建", "B": "审核中", "C": "已审核", "D": "重新审核"}


@dataclass(frozen=True, slots=True)
class SaveOptions:
    """The Save/BatchSave options the simulator honours."""

    need_update_fields: frozenset[str] = frozenset()
    need_return_fields: tuple[str, ...] = ()
    is_delete_entry: bool = True
    auto_submit_audit: bool = False

    @classmethod
    def parse(cls, data: Mapping[str, object]) -> SaveOptions:
        """From the lower-cased ``data`` object of a Save/BatchSave call."""

        def keys(value: object) -> list[str]:
            if isinstance(value, str):
                return [v.strip() for v in value.split(",") if v.strip()]
            if isinstance(value, list):
                return [str(v) for v in value if isinstance(v, str)]
            return []

        return cls(
            need_update_fields=frozenset(k.lower() for k in keys(data.get("needupdatefields"))),
            need_return_fields=tuple(keys(data.get("needreturnfields"))),
            is_delete_entry=as_bool(data.get("isdeleteentry"), True),
            auto_submit_audit=as_bool(data.get("isautosubmitandaudit"), False),
        )


class StatusOp:
    """The status operations and their rules: (allowed from, to, refusal by state)."""

    SUBMIT = "Submit"
    AUDIT = "Audit"
    UNAUDIT = "UnAudit"
    CANCEL_ASSIGN = "CancelAssign"  # 撤销: a submitted bill goes back before approval
    DELETE = "Delete"


_TRANSITIONS: dict[str, tuple[str, str | None]] = {
    StatusOp.SUBMIT: ("AD", "B"),
    StatusOp.AUDIT: ("B", "C"),
    StatusOp.UNAUDIT: ("C", "D"),
    StatusOp.CANCEL_ASSIGN: ("B", "A"),  # UNSURE: back to 创建 (A), also after a re-audit
    StatusOp.DELETE: ("ZAD", None),
}

_REFUSALS: dict[tuple[str, str], str] = {
    (StatusOp.SUBMIT, "B"): "单据已经提交，不能重复提交！",
    (StatusOp.SUBMIT, "C"): "单据已经审核，不能提交！",
    (StatusOp.SUBMIT, "Z"): "暂存的单据不能提交，请先保存！",
    (StatusOp.AUDIT, "C"): "单据已经审核！",
    (StatusOp.AUDIT, "A"): "单据未提交，不能审核！",
    (StatusOp.AUDIT, "D"): "单据未提交，不能审核！",
    (StatusOp.AUDIT, "Z"): "暂存的单据不能审核！",
    (StatusOp.UNAUDIT, "A"): "单据未审核，不能反审核！",
    (StatusOp.UNAUDIT, "B"): "单据未审核，不能反审核！",
    (StatusOp.UNAUDIT, "D"): "单据未审核，不能反审核！",
    (StatusOp.UNAUDIT, "Z"): "单据未审核，不能反审核！",
    (StatusOp.CANCEL_ASSIGN, "A"): "单据未提交，不能撤销！",
    (StatusOp.CANCEL_ASSIGN, "C"): "单据已经审核，不能撤销！",
    (StatusOp.CANCEL_ASSIGN, "D"): "单据未提交，不能撤销！",
    (StatusOp.CANCEL_ASSIGN, "Z"): "单据未提交，不能撤销！",
    (StatusOp.DELETE, "B"): "单据已经提交，不允许删除！",
    (StatusOp.DELETE, "C"): "单据已经审核，不允许删除！",
}


class Rules:
    """The operations of DynamicFormService over a :class:`KingdeeState`."""

    def __init__(self, state: KingdeeState) -> None:
        self.state = state

    # --- Save -----------------------------------------------------------------------

    def save(
        self, form: FormDef, model: object, options: SaveOptions, *, draft: bool = False
    ) -> tuple[Row, bool]:
        """Validate and store one model; returns the stored record and whether it is new.

        ``draft`` (the Draft operation, 暂存) skips the required-field checks and leaves
        the bill in state Z; a later Save of it makes it A.

        Raises:
            BusinessError: the model is refused; nothing is stored.
        """
        if not form.writable:
            raise BusinessError(
                f"表单“{form.label}”({form.form_id})不支持通过WebAPI保存", "", MsgCode.BAD_REQUEST
            )
        if not isinstance(model, dict):
            raise BusinessError("Model 应为JSON对象", "Model", MsgCode.BAD_REQUEST)
        given = lower_keys(model)
        pk_value = given.pop(form.pk.lower(), None)
        if form.pk != "FID":
            given.pop("fid", None)
        existing = self._existing(form, pk_value)
        updating = existing is not None
        if existing is not None:
            status = str(existing.get("FDocumentStatus") or "A")
            if existing.get("FCancelStatus") == "B":
                raise BusinessError(
                    f"{self._describe(form, existing)}已作废，不允许修改！", "", MsgCode.STATE
                )
            if status in ("B", "C"):
                raise BusinessError(
                    f"{self._describe(form, existing)}，当前状态为“{_STATUS_NAMES[status]}”，"
                    "不允许修改！",
                    "",
                    MsgCode.STATE,
                )
            row = self.state.copy_of(existing)
        else:
            row = self._new_row(form)
        only = options.need_update_fields if updating else frozenset()
        self._apply_header(form, row, given, only)
        for entry in form.entries:
            rows = given.get(entry.key.lower())
            if rows is not None and (not only or entry.key.lower() in only):
                row[entry.key] = self._apply_entry(entry, row.get(entry.key), rows, only, options)
        if draft:
            if form.has_workflow and not updating:
                row["FDocumentStatus"] = "Z"
        else:
            self._check_required(form, row)
            if row.get("FDocumentStatus") == "Z":
                row["FDocumentStatus"] = "A"
        self._assign_number(form, row)
        compute(form, row)
        now = self.state.now_text()
        row["FModifyDate"] = now
        if options.auto_submit_audit and form.has_workflow and not draft:
            row["FDocumentStatus"] = "C"
            row["FApproveDate" if form.is_bill else "FAuditDate"] = now
        self.state.put(form, row)
        return row, not updating

    def _existing(self, form: FormDef, pk_value: object) -> Row | None:
        if pk_value in (None, "", 0, "0"):
            return None
        pk = as_pk(pk_value)
        row = self.state.get(form, pk)
        if row is None:
            raise BusinessError(
                f"{form.label}内码“{pk_value}”对应的数据不存在，可能已被删除！",
                form.pk,
                MsgCode.BAD_REQUEST,
            )
        return row

    def _new_row(self, form: FormDef) -> Row:
        row: Row = {}
        for f in form.fields:
            row[f.key] = default_of(f)
        for entry in form.entries:
            row[entry.key] = []
        row[form.pk] = self.state.next_id(form.form_id)
        now = self.state.now_text()
        row["FCreateDate"] = now
        if form.has_workflow:
            row["FDocumentStatus"] = "A"
        if not form.is_bill:
            row["FForbidStatus"] = "A"
        if "FCloseStatus" in row:
            row["FCloseStatus"] = "A"
        if "FCancelStatus" in row:
            row["FCancelStatus"] = "A"
        bill_type = {"SAL_SaleOrder": "XSDD01_SYS", "PUR_Requisition": "CGSQD01_SYS"}
        if form.form_id in bill_type:
            target = self.state.by_number(FORMS["bos_billtype"], bill_type[form.form_id])
            row["FBillTypeID"] = None if target is None else target["FBILLTYPEID"]
        return row

    def _apply_header(
        self, form: FormDef, row: Row, given: Mapping[str, object], only: frozenset[str]
    ) -> None:
        subheads = {s.lower(): s for s in form.subheads}
        values: dict[str, object] = {}
        for key, value in given.items():
            if key in subheads:
                if isinstance(value, list) and len(value) == 1:
                    value = value[0]  # some clients send a sub-head as a one-row list
                if not isinstance(value, dict):
                    raise BusinessError(f"{subheads[key]} 应为JSON对象", subheads[key])
                values.update(lower_keys(value))
            else:
                values[key] = value
        for key, value in values.items():
            loc = form.locate(key)
            if loc is None or loc.entry is not None or loc.field.read_only:
                continue  # unknown keys and computed fields are ignored, as K/3 Cloud does
            if only and key not in only:
                continue
            row[loc.field.key] = self._coerce(loc.field, value)

    def _apply_entry(
        self,
        entry: EntryDef,
        current: object,
        given: object,
        only: frozenset[str],
        options: SaveOptions,
    ) -> list[Row]:
        if not isinstance(given, list):
            raise BusinessError(f"单据体 {entry.key} 应为数组", entry.key)
        lines = [r for r in current if isinstance(r, dict)] if isinstance(current, list) else []
        old: dict[object, Row] = {r[entry.id_key]: r for r in lines}
        seq_of = {r[entry.id_key]: n for n, r in enumerate(lines, start=1)}
        fields = {f.key.lower(): f for f in entry.fields}
        kept: dict[object, Row] = {} if options.is_delete_entry else dict(old)
        out: list[Row] = []
        for index, item in enumerate(given):
            if not isinstance(item, dict):
                raise BusinessError(f"单据体 {entry.key} 第{index + 1}行应为JSON对象", entry.key)
            values = lower_keys(item)
            entry_id = values.pop(entry.id_key.lower(), None)
            is_existing = entry_id not in (None, "", 0, "0")
            if is_existing:
                found = old.get(as_pk(entry_id))
                if found is None:
                    raise BusinessError(
                        f"{entry.label}第{index + 1}行：分录内码“{entry_id}”不存在",
                        entry.id_key,
                    )
                line = dict(found)
            else:
                line = {f.key: default_of(f) for f in entry.fields}
                line[entry.id_key] = self.state.next_id("entry")
                if CLOSE_FIELD in line:
                    line[CLOSE_FIELD] = "A"
            for key, value in values.items():
                field = fields.get(key)
                if field is None or field.read_only:
                    continue  # unknown keys and computed fields are ignored
                if only and is_existing and key not in only:
                    continue
                line[field.key] = self._coerce(field, value, row=index + 1)
            if is_existing:
                check_kept(entry, seq_of[line[entry.id_key]], old[line[entry.id_key]], line)
            kept.pop(line[entry.id_key], None)
            out.append(line)
        if options.is_delete_entry:
            check_removed(entry, lines, {line[entry.id_key] for line in out})
            return out
        return [*kept.values(), *out]

    def _coerce(self, field: FieldDef, value: object, row: int = 0) -> object:
        where = f"第{row}行" if row else ""
        try:
            return coerce_value(self.state, field, value)
        except ValueError as exc:
            raise BusinessError(
                f"{where}字段“{field.label}”({field.key}){exc}", field.key
            ) from None

    def _check_required(self, form: FormDef, row: Row) -> None:
        missing = [
            f
            for f in form.fields
            if f.required and f.key != form.number_key and is_empty(row[f.key])
        ]
        items = [ErrorItem(f"字段“{f.label}”是必填项", f.key) for f in missing]
        for entry in form.entries:
            stored = row.get(entry.key)
            lines: list[Row] = stored if isinstance(stored, list) else []
            if form.is_bill and not lines:
                items.append(ErrorItem(f"“{entry.label}”至少需要录入一行", entry.key))
            for n, line in enumerate(lines, start=1):
                for f in entry.fields:
                    if f.required and is_empty(line.get(f.key)):
                        items.append(ErrorItem(f"第{n}行字段“{f.label}”是必填项", f.key))
                qty = line.get("FQty", line.get("FReqQty"))
                if isinstance(qty, float) and qty <= 0:
                    items.append(ErrorItem(f"第{n}行数量必须大于0", "FQty"))
        if items:
            first = items[0]
            raise BusinessError(first.message, first.field_name, MsgCode.VALIDATION, items[1:])

    def _assign_number(self, form: FormDef, row: Row) -> None:
        number = str(row.get(form.number_key) or "").strip()
        if not number:
            row[form.number_key] = self.state.next_number(form)
            return
        other = self.state.by_number(form, number)
        if other is not None and other[form.pk] != row[form.pk]:
            what = "单据编号" if form.is_bill else "编码"
            raise BusinessError(
                f"{form.label}{what}“{number}”已经存在，{what}不能重复！",
                form.number_key,
            )

    # --- Submit / Audit / UnAudit / Delete ----------------------------------------

    def targets(self, form: FormDef, data: Mapping[str, object]) -> list[tuple[object, Row | None]]:
        """The bills named by ``Ids`` (comma string, wins) or ``Numbers`` (array)."""
        ids = data.get("ids")
        numbers = data.get("numbers")
        out: list[tuple[object, Row | None]] = []
        if ids not in (None, "", []):
            parts = ids if isinstance(ids, list) else str(ids).split(",")
            for part in parts:
                text = str(part).strip()
                if text:
                    out.append((f"内码为“{text}”", self.state.get(form, as_pk(text))))
        elif isinstance(numbers, list):
            what = "单据编号" if form.is_bill else "编码"
            for number in numbers:
                out.append((f"{what}为“{number}”", self.state.by_number(form, str(number))))
        elif isinstance(numbers, str) and numbers.strip():
            what = "单据编号" if form.is_bill else "编码"
            out += [
                (f"{what}为“{n}”", self.state.by_number(form, n))
                for n in numbers.split(",")
                if n.strip()
            ]
        return out

    def change_status(
        self, form: FormDef, op: str, targets: Sequence[tuple[object, Row | None]]
    ) -> tuple[list[SuccessItem], list[ErrorItem], int]:
        """Apply ``op`` to each target on its own; one result per target by DIndex.

        Returns:
            successes, errors and the MsgCode (11 when a bill's state refused the op).
        """
        if not targets:
            item = ErrorItem("请至少选择一条需要操作的数据（Numbers 或 Ids）", "")
            return [], [item], MsgCode.BAD_REQUEST
        if not form.writable or not form.has_workflow:
            message = f"表单“{form.label}”({form.form_id})不支持{op}操作"
            return [], [ErrorItem(message, "", i) for i in range(len(targets))], MsgCode.BAD_REQUEST
        allowed, to = _TRANSITIONS[op]
        done: list[SuccessItem] = []
        failed: list[ErrorItem] = []
        code = MsgCode.OK
        for dindex, (asked, row) in enumerate(targets):
            if row is None:
                failed.append(ErrorItem(f"{asked}的{form.label}不存在！", "", dindex))
                code = code or MsgCode.BAD_REQUEST
                continue
            status = str(row.get("FDocumentStatus") or "A")
            if status not in allowed:
                reason = _REFUSALS.get((op, status), "当前状态不允许此操作！")
                failed.append(ErrorItem(f"{self._describe(form, row)}，{reason}", "", dindex))
                code = MsgCode.STATE
                continue
            number = str(row.get(form.number_key) or "")
            if to is None:
                self.state.remove(form, row[form.pk])
            else:
                self._move(form, row, to)
            done.append(SuccessItem(row[form.pk], number, dindex))
        return done, failed, code

    def forbid(
        self, form: FormDef, op: str, targets: Sequence[tuple[object, Row | None]]
    ) -> tuple[list[SuccessItem], list[ErrorItem], int]:
        """ExcuteOperation ``Forbid``/``Enable`` on base data: FForbidStatus A ↔ B."""
        to = "B" if op == "forbid" else "A"
        if form.is_bill or not form.writable:
            message = f"表单“{form.label}”({form.form_id})不支持此操作"
            return [], [ErrorItem(message, "", i) for i in range(len(targets))], MsgCode.BAD_REQUEST
        if not targets:
            item = ErrorItem("请至少选择一条需要操作的数据（Numbers 或 Ids）", "")
            return [], [item], MsgCode.BAD_REQUEST
        done: list[SuccessItem] = []
        failed: list[ErrorItem] = []
        for dindex, (asked, row) in enumerate(targets):
            if row is None:
                failed.append(ErrorItem(f"{asked}的{form.label}不存在！", "", dindex))
            elif row.get("FForbidStatus") == to:
                state = "已禁用" if to == "B" else "未禁用"
                failed.append(ErrorItem(f"{self._describe(form, row)}{state}！", "", dindex))
            else:
                changed = self.state.copy_of(row)
                changed["FForbidStatus"] = to
                changed["FModifyDate"] = self.state.now_text()
                self.state.put(form, changed)
                done.append(SuccessItem(row[form.pk], str(row.get(form.number_key)), dindex))
        return done, failed, (MsgCode.STATE if failed else MsgCode.OK)

    def cancel(
        self, form: FormDef, targets: Sequence[tuple[object, Row | None]]
    ) -> tuple[list[SuccessItem], list[ErrorItem], int]:
        """ExcuteOperation ``Cancel`` (作废) of bills: only unaudited ones (Z/A/D) that are
        not cancelled yet; an audited bill must be un-audited first (MsgCode 11)."""
        if "FCancelStatus" not in {f.key for f in form.fields}:
            message = f"表单“{form.label}”({form.form_id})不支持作废操作"
            return [], [ErrorItem(message, "", i) for i in range(len(targets))], MsgCode.BAD_REQUEST
        if not targets:
            item = ErrorItem("请至少选择一条需要操作的数据（Numbers 或 Ids）", "")
            return [], [item], MsgCode.BAD_REQUEST
        done: list[SuccessItem] = []
        failed: list[ErrorItem] = []
        for dindex, (asked, row) in enumerate(targets):
            if row is None:
                failed.append(ErrorItem(f"{asked}的{form.label}不存在！", "", dindex))
                continue
            status = str(row.get("FDocumentStatus") or "A")
            reason = {"B": "单据已经提交，不能作废！", "C": "单据已经审核，不能作废！"}.get(status)
            if row.get("FCancelStatus") == "B":
                reason = "单据已经作废！"
            if reason:
                failed.append(ErrorItem(f"{self._describe(form, row)}，{reason}", "", dindex))
                continue
            changed = self.state.copy_of(row)
            changed["FCancelStatus"] = "B"
            changed["FModifyDate"] = self.state.now_text()
            self.state.put(form, changed)
            done.append(SuccessItem(row[form.pk], str(row.get(form.number_key)), dindex))
        return done, failed, (MsgCode.STATE if failed else MsgCode.OK)

    def _move(self, form: FormDef, row: Row, to: str) -> None:
        changed = self.state.copy_of(row)
        now = self.state.now_text()
        changed["FDocumentStatus"] = to
        approve_key = "FApproveDate" if form.is_bill else "FAuditDate"
        if to == "C":
            changed[approve_key] = now
        elif to == "D":
            changed[approve_key] = None
        changed["FModifyDate"] = now
        self.state.put(form, changed)

    def _describe(self, form: FormDef, row: Row) -> str:
        what = "单据编号" if form.is_bill else "编码"
        return f"{what}为“{row.get(form.number_key)}”的{form.label}"
