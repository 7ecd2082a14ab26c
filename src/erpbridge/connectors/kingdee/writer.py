"""Writes: WriteOps → BatchSave / Delete models, and the answers back to one result per op.

- Creates and updates go through ``BatchSave`` (``limits.batch_size`` per call, 100 by
  default); ``SuccessEntitys`` and ``Errors`` are matched to the ops by ``DIndex``.
- Updates carry the primary key and ``NeedUpDateFields`` (field keys; for entries the
  entry key plus its line fields, as Kingdee documents); ``IsDeleteEntry`` stays true, so
  the lines given replace the bill's lines.
- ``submit_and_audit`` adds ``IsAutoSubmitAndAudit``: save, submit and audit in one
  server transaction, so a half-failed call never leaves a bill saved but unapproved.
- A write whose ``FCancelStatus`` is ``B`` cancels the bill (作废, cancel.py) instead of
  saving it.
- An update whose lines go to an entry with a ``line_references`` field is matched row by
  row to the bill as read (``FEntryID`` for kept rows, new rows without, removed rows
  left out; lines.py, line_writes.py).
- ``unaudit_to_update``: K/3 Cloud refuses to save an audited record (MsgCode 11). With
  this option the writer un-audits such records, saves them, and submits and audits them
  again; if re-approval fails the result is a ``ConflictError`` saying the data is saved
  (a record left submitted by a failed Audit is withdrawn at once with ``CancelAssign``
  (撤销), so the retry of the same update saves it again instead of being refused).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal

from erpbridge.connectors.kingdee.cancel import CANCEL_FIELD, cancel_bills, is_cancel
from erpbridge.connectors.kingdee.client import KingdeeClient, response_status
from erpbridge.connectors.kingdee.describe import FormInfo
from erpbridge.connectors.kingdee.errors import SYSTEM, classify_items
from erpbridge.connectors.kingdee.line_writes import explain_line_error, update_lines
from erpbridge.connectors.kingdee.settings import KingdeeSettings
from erpbridge.spi.errors import (
    ConflictError,
    ConnectorError,
    NotFoundError,
    TransientError,
    ValidationError,
)
from erpbridge.spi.records import Record, WriteMode, WriteOp, WriteOutcome, WriteResult
from erpbridge.spi.schema import Field, FieldType

__all__ = ["PendingSave", "Writer", "errors_of", "successes_of"]

#: the MsgCode of a refusal because of the bill's state (audited, submitted).
STATE_CODE = 11

Json = object
Model = dict[str, Json]
Finder = Callable[[str, str, Sequence[object]], Awaitable[list[Record]]]


def _dindex(item: Mapping[str, Json]) -> int | None:
    """An item's ``DIndex`` (0 when absent, as in a single Save); None when it is garbage."""
    value = item.get("DIndex", 0)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def successes_of(status: Mapping[str, Json]) -> dict[int, str]:
    """The internal ids in ``SuccessEntitys`` by ``DIndex`` (entries without an id skipped)."""
    items = status.get("SuccessEntitys")
    out: dict[int, str] = {}
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        dindex, entity_id = _dindex(item), item.get("Id")
        valid_id = isinstance(entity_id, int | str) and not isinstance(entity_id, bool)
        if dindex is not None and valid_id and str(entity_id).strip():
            out[dindex] = str(entity_id)
    return out


def errors_of(status: Mapping[str, Json]) -> list[Mapping[str, Json]]:
    """``Errors`` as a list of mappings."""
    items = status.get("Errors")
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _by_dindex(status: Mapping[str, Json]) -> dict[int | None, list[Mapping[str, Json]]]:
    out: dict[int | None, list[Mapping[str, Json]]] = {}
    for item in errors_of(status):
        out.setdefault(_dindex(item), []).append(item)
    return out


def _error_for(
    status: Mapping[str, Json],
    failed: Mapping[int | None, list[Mapping[str, Json]]],
    dindex: int,
    form: str,
) -> ConnectorError:
    """The error of record ``dindex``: its own items, else the answer's, else "no result"."""
    items = failed.get(dindex) or errors_of(status)
    if not items:
        # Neither a success nor an error for this record: the outcome is unknown (it may
        # have been saved), as with a lost reply; the engine re-reads before retrying.
        return TransientError(
            f"金蝶的回答中没有第{dindex + 1}条记录的结果", system=SYSTEM, object=form
        )
    return classify_items(items, status.get("MsgCode"), form=form)


def chunks(items: Sequence[object], size: int) -> Iterator[list[object]]:
    """``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


class PendingSave:
    """One op bound for BatchSave (``planned``/``delivered``/``number``: lines.py)."""

    __slots__ = ("delivered", "index", "is_update", "model", "number", "planned")

    def __init__(self, index: int, model: Model, is_update: bool) -> None:
        self.index = index
        self.model = model
        self.is_update = is_update
        #: entry keys whose rows were matched to the bill's (FEntryIDs sent).
        self.planned: list[str] = []
        #: rows that went out which this save deletes or changes (seq, material, qty).
        self.delivered: list[tuple[int, str, str]] = []
        self.number = ""


class Writer:
    """Writes ops of one form.

    Args:
        client: the wire client.
        settings: the connection (batch size, submit_and_audit, unaudit_to_update).
        find: the connector's natural-key lookup (for upserts without a target id).
    """

    def __init__(self, client: KingdeeClient, settings: KingdeeSettings, find: Finder) -> None:
        self.client = client
        self.settings = settings
        self.find = find

    async def write(self, info: FormInfo, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """One result per op, in order; per-record failures are results, not raised."""
        results: list[WriteResult | None] = [None] * len(ops)
        saves: list[PendingSave] = []
        deletes: list[tuple[int, str]] = []
        cancels: list[tuple[int, str | None]] = []
        existing = await self._existing_for_upserts(info, ops)
        for index, op in enumerate(ops):
            try:
                if op.mode is WriteMode.DELETE:
                    deletes.append((index, _target_id(info, op)))
                    continue
                target = op.target_id
                if target is None and op.mode is WriteMode.UPSERT:
                    target = existing.get((op.key_field or "", str(op.key_value)))
                if is_cancel(info, op):
                    cancels.append((index, target))  # 作废 instead of a save (cancel.py)
                    continue
                if target is None and op.mode is WriteMode.UPDATE:
                    target = _target_id(info, op)
                fields = {k: v for k, v in op.fields.items() if k != CANCEL_FIELD}
                model = to_model(info, fields)
                if target is not None:
                    model[info.pk] = int(target) if target.isdigit() else target
                saves.append(PendingSave(index, model, target is not None))
            except ConnectorError as exc:
                results[index] = WriteResult(op.ref, WriteOutcome.FAILED, error=exc)
        size = self.settings.limits.batch_size or 100
        saves = await update_lines(self, info, ops, saves, results)
        for batch in chunks(saves, size):
            await self._batch_save(info, ops, batch, results)  # type: ignore[arg-type]
        for batch in chunks(deletes, size):
            await self._delete(info, ops, batch, results)  # type: ignore[arg-type]
        for batch in chunks(cancels, size):
            await cancel_bills(self, info, ops, batch, results)  # type: ignore[arg-type]
        return [r for r in results if r is not None]

    async def _existing_for_upserts(
        self, info: FormInfo, ops: Sequence[WriteOp]
    ) -> dict[tuple[str, str], str]:
        wanted: dict[str, list[object]] = {}
        for op in ops:
            if (
                op.mode is WriteMode.UPSERT
                and op.target_id is None
                and op.key_field
                and op.key_value is not None
            ):
                wanted.setdefault(op.key_field, []).append(op.key_value)
        found: dict[tuple[str, str], str] = {}
        for key_field, values in wanted.items():
            for record in await self.find(info.schema.name, key_field, values):
                value = record.fields.get(key_field.split(".")[0])
                found[(key_field, str(value))] = record.id
        return found

    # --- BatchSave ------------------------------------------------------------------

    async def _batch_save(
        self,
        info: FormInfo,
        ops: Sequence[WriteOp],
        batch: list[PendingSave],
        results: list[WriteResult | None],
        *,
        auto_audit: bool | None = None,
        may_unaudit: bool = True,
    ) -> None:
        form = info.schema.name
        data: Model = {
            "Model": [s.model for s in batch],
            "NeedReturnFields": [info.number_key],
            "IsDeleteEntry": True,
        }
        update_keys = sorted({k for s in batch if s.is_update for k in _update_keys(info, s.model)})
        if update_keys:
            data["NeedUpDateFields"] = update_keys
        if self.settings.submit_and_audit if auto_audit is None else auto_audit:
            data["IsAutoSubmitAndAudit"] = True
        answer = await self.client.form_call("BatchSave", {"formid": form, "data": data}, form=form)
        status = response_status(answer)
        if status is None:
            raise ConnectorError("BatchSave 的回答缺少 ResponseStatus", system=SYSTEM, object=form)
        done, failed = successes_of(status), _by_dindex(status)
        refused: list[PendingSave] = []
        for dindex, save in enumerate(batch):
            op = ops[save.index]
            if dindex in done:
                outcome = WriteOutcome.UPDATED if save.is_update else WriteOutcome.CREATED
                results[save.index] = WriteResult(op.ref, outcome, target_id=done[dindex])
                continue
            error = explain_line_error(info, save, _error_for(status, failed, dindex, form))
            results[save.index] = WriteResult(op.ref, WriteOutcome.FAILED, error=error)
            if save.is_update and error.status == STATE_CODE:
                refused.append(save)
        if refused and may_unaudit and self.settings.unaudit_to_update:
            await self._update_audited(info, ops, refused, results)

    async def _update_audited(
        self,
        info: FormInfo,
        ops: Sequence[WriteOp],
        refused: list[PendingSave],
        results: list[WriteResult | None],
    ) -> None:
        """UnAudit, save, then Submit and Audit again (the option ``unaudit_to_update``).

        If Submit or Audit fails after the save, the record is not left in approval
        (审核中, B, where every later Save and UnAudit is refused, MsgCode 11): a submitted
        one is withdrawn at once with 撤销 (``CancelAssign``), and the result is a
        ``ConflictError`` saying the data is saved. The retry then saves the record again
        like any unapproved one (and ``submit_and_audit`` approves it in that call).
        """
        ids = [str(s.model[info.pk]) for s in refused]
        ok, unaudit_errors = await self.status_op(info, "UnAudit", ids)
        for dindex, unaudit_error in unaudit_errors.items():
            # The others keep their original error, with 金蝶's reason for refusing the
            # UnAudit (downstream documents, 下游单据), so the dead letter says why.
            save = refused[dindex]
            _add_reason(results, save.index, f"反审核失败：{unaudit_error.message}")
        unaudited = [refused[d] for d in ok]
        if not unaudited:
            return
        await self._batch_save(info, ops, unaudited, results, auto_audit=False, may_unaudit=False)
        pending = unaudited
        submitted: list[PendingSave] = []
        for op_name in ("Submit", "Audit"):
            if not pending:
                break
            ok, errors = await self._status_op_or_errors(info, op_name, pending)
            for dindex, error in errors.items():
                save = pending[dindex]
                message = f"更新已保存，但重新{op_name}失败：{error.message}"
                submitted.append(save)  # a lost Submit answer may have submitted it too
                results[save.index] = WriteResult(
                    ops[save.index].ref,
                    WriteOutcome.FAILED,
                    error=ConflictError(
                        message, system=SYSTEM, object=info.schema.name, raw=error.raw
                    ),
                )
            pending = [pending[d] for d in ok]
        if submitted:
            # Out of approval again, so the retry can save it (the error above still says
            # why); one that is not in approval refuses this harmlessly.
            await self._status_op_or_errors(info, "CancelAssign", submitted)

    async def _status_op_or_errors(
        self, info: FormInfo, op: str, saves: list[PendingSave]
    ) -> tuple[list[int], dict[int, ConnectorError]]:
        """``_status_op`` on these records; a failed call is an error for each of them
        (the records stay where they are; the caller reports it)."""
        try:
            return await self.status_op(info, op, [str(s.model[info.pk]) for s in saves])
        except ConnectorError as exc:
            return [], dict.fromkeys(range(len(saves)), exc)

    async def status_op(
        self,
        info: FormInfo,
        op: str,
        ids: list[str],
        *,
        op_number: str | None = None,
        data: Mapping[str, object] | None = None,
    ) -> tuple[list[int], dict[int, ConnectorError]]:
        """Run Submit/Audit/UnAudit/CancelAssign/Delete on ``ids``, or ``ExcuteOperation``
        with ``op_number`` (``Cancel``, ``YLMRPClose``); (DIndexes done, errors by DIndex).

        ``data`` replaces the default ``{"Ids": …}`` (row operations send ``PkEntryIds``,
        one item per id of ``ids``)."""
        form = info.schema.name
        body: dict[str, object] = {
            "formid": form,
            "data": dict(data) if data is not None else {"Ids": ",".join(ids)},
        }
        if op_number is not None:
            body["opNumber"] = op_number
        answer = await self.client.form_call(op, body, form=form)
        status = response_status(answer) or {}
        done, failed = successes_of(status), _by_dindex(status)
        ok = [d for d in range(len(ids)) if d in done]
        errors = {d: _error_for(status, failed, d, form) for d in range(len(ids)) if d not in done}
        return ok, errors

    # --- Delete ---------------------------------------------------------------------

    async def _delete(
        self,
        info: FormInfo,
        ops: Sequence[WriteOp],
        batch: list[tuple[int, str]],
        results: list[WriteResult | None],
    ) -> None:
        ok, errors = await self.status_op(info, "Delete", [target for _, target in batch])
        for dindex, (index, target) in enumerate(batch):
            op = ops[index]
            error = errors.get(dindex)
            if dindex in ok:
                results[index] = WriteResult(op.ref, WriteOutcome.DELETED, target_id=target)
            elif isinstance(error, NotFoundError):  # already gone: deleting again changes nothing
                results[index] = WriteResult(op.ref, WriteOutcome.UNCHANGED, target_id=target)
            else:
                results[index] = WriteResult(op.ref, WriteOutcome.FAILED, error=error)


def _add_reason(results: list[WriteResult | None], index: int, reason: str) -> None:
    """Append ``reason`` to the failed result at ``index`` (same class, field and hint)."""
    result = results[index]
    error = result.error if result is not None else None
    if result is None or error is None:
        return
    message = f"{error.message}；{reason}"
    if isinstance(error, ValidationError):
        error = ValidationError(
            message,
            field=error.field,
            system=error.system,
            object=error.object,
            raw=error.raw,
            status=error.status,
            hint=error.hint,
        )
    else:
        error = type(error)(
            message,
            system=error.system,
            object=error.object,
            raw=error.raw,
            status=error.status,
            hint=error.hint,
        )
    results[index] = WriteResult(result.ref, result.outcome, result.target_id, error=error)


# --- models -------------------------------------------------------------------------


def _target_id(info: FormInfo, op: WriteOp) -> str:
    if not op.target_id:
        raise ValidationError(
            f"{op.mode.value} 需要目标内码（{info.pk}）",
            field=info.pk,
            system=SYSTEM,
            object=info.schema.name,
        )
    return op.target_id


def _refuse(info: FormInfo, message: str, field: str) -> ValidationError:
    return ValidationError(message, field=field, system=SYSTEM, object=info.schema.name)


def to_model(info: FormInfo, fields: Mapping[str, Json]) -> Model:
    """The Save model: sub-head fields nested, references as ``{"FNumber": ..}``, lines.

    Raises:
        ValidationError: a field the form does not have (nothing is sent).
    """
    model: Model = {}
    for key, value in fields.items():
        entry = info.entries.get(key)
        if entry is not None:
            model[key] = _lines(info, key, entry.id_key, entry.fields, value)
            continue
        field = info.header_field(key)
        if field is None:
            raise _refuse(info, f"字段“{key}”不是表单 {info.schema.name} 的字段", key)
        wire = wire_value(field, value)
        sub = info.subhead_of.get(field.name)
        if sub is None:
            model[field.name] = wire
        else:
            nested = model.setdefault(sub, {})
            if isinstance(nested, dict):
                nested[field.name] = wire
    return model


def _lines(
    info: FormInfo, key: str, id_key: str, fields: Sequence[Field], value: Json
) -> list[Model]:
    if not isinstance(value, list | tuple):
        raise _refuse(info, f"单据体“{key}”应为记录列表", key)
    by_name = {f.name.lower(): f for f in fields}
    out = []
    for n, line in enumerate(value, start=1):
        if not isinstance(line, Mapping):
            raise _refuse(info, f"单据体“{key}”第{n}行应为记录", key)
        wire: Model = {}
        for name, v in line.items():
            if name.lower() == id_key.lower():
                wire[id_key] = v
                continue
            field = by_name.get(str(name).lower())
            if field is None:
                raise _refuse(info, f"字段“{key}.{name}”不是单据体的字段", f"{key}.{name}")
            wire[field.name] = wire_value(field, v)
        out.append(wire)
    return out


def wire_value(field: Field, value: Json) -> Json:
    """A record value as Kingdee takes it (numbers, date texts, ``{"FNumber"}`` references)."""
    if isinstance(value, Decimal):
        value = float(value)
    elif isinstance(value, datetime):
        value = value.strftime("%Y-%m-%d %H:%M:%S")
    elif isinstance(value, date):
        value = value.isoformat()
    is_code = isinstance(value, str | int) and not isinstance(value, bool)
    if field.type is FieldType.REFERENCE and is_code:
        return {"FNumber": value}
    return value


def _update_keys(info: FormInfo, model: Model) -> list[str]:
    """``NeedUpDateFields`` for one model: sub-head fields by their own key, entries by
    the entry key plus their line fields (Kingdee's documented rule)."""
    keys: list[str] = []
    for key, value in model.items():
        if key == info.pk:
            continue
        entry = info.entries.get(key)
        if entry is not None and isinstance(value, list):
            keys.append(key)
            keys += [
                k for line in value if isinstance(line, dict) for k in line if k != entry.id_key
            ]
        elif isinstance(value, dict) and info.header_field(key) is None:
            keys += list(value)  # a sub-head: its fields are listed, not the sub-head key
        else:
            keys.append(key)
    return keys
