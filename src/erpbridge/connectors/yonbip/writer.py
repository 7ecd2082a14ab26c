"""Writes: which API each op goes to, idempotency keys, per-op results.

- ``merchant`` creates: ``merchant/idempotent/newinsert``, one call per record, with the
  job's idempotency key as ``resubmitCheckKey`` — creates are where a lost answer would
  make a duplicate, so they go through the idempotent API. Updates: one
  ``batch/merchant/save`` call for the whole batch (``_status: "Update"``); that API is not
  idempotent but an update repeated is harmless. Per-record results come from ``infos``
  (saved, by id) and ``messages`` (``客户[code]: why``).
- ``voucherorder``: ``voucherorder/singleSave`` per record (the open API has no batch
  save for orders), ``resubmitCheckKey`` on every save. With ``unaudit_to_update`` an
  update of an audited order is un-audited, saved and audited again; a write whose
  ``_status`` is ``Delete`` removes the order (amend.py).
- Upserts without a target id look their natural key up first (``find``), so a crash
  between the create and our xref commit never makes a second record.
- A duplicate answer (``10004``/``100004``: the key was used over an hour ago) is the
  earlier success: the op is reported created with the id the gateway gives back.
- ``applyorder``: ``applyorder/singleSave_v1`` per record with ``resubmitCheckKey``; no
  key lookup before a create (the 请购单 list, itself [U], is used to read changes only),
  so creates rely on the key alone.
- ``voucherorder`` deletes: one ``voucherorder/delete`` call for the batch (by id, or by
  ``code`` from ``key_value``); an order already gone counts as deleted. Merchant deletes,
  and writes to ``product``/``currentstock``, are refused per op (the APIs used here do
  not offer them).

When a call fails as a whole (auth, transport, throttling), the ops already done keep
their results and every op not yet done fails with that error, so the engine retries
only those (their idempotency keys make the retry safe).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime
from decimal import Decimal

from erpbridge.connectors.yonbip.amend import REMOVE, OrderAmender
from erpbridge.connectors.yonbip.client import Answer, YonBipClient
from erpbridge.connectors.yonbip.cursor import from_server_text
from erpbridge.connectors.yonbip.errors import SYSTEM, classify_answer
from erpbridge.connectors.yonbip.settings import YonBipSettings
from erpbridge.spi.errors import (
    ConflictError,
    ConnectorError,
    NotFoundError,
    ValidationError,
)
from erpbridge.spi.records import Record, WriteMode, WriteOp, WriteOutcome, WriteResult

__all__ = ["API", "Writer", "resubmit_key"]

API = {
    "merchant_insert": "/yonbip/digitalModel/merchant/idempotent/newinsert",
    "merchant_batch": "/yonbip/digitalModel/batch/merchant/save",
    "order_save": "/yonbip/sd/voucherorder/singleSave",
    "order_delete": "/yonbip/sd/voucherorder/delete",
    "applyorder_save": "/yonbip/scm/applyorder/singleSave_v1",
}
_MAX_KEY = 32
#: errors that belong to one record; anything else stops the batch.
_RECORD_ERRORS = (ValidationError, NotFoundError, ConflictError)
_Find = Callable[[str, str, Sequence[object]], Awaitable[list[Record]]]


def resubmit_key(key: str | None) -> str | None:
    """The job's idempotency key as a ``resubmitCheckKey`` (at most 32 characters).

    Longer keys become ``eb`` + 30 hex characters of their SHA-256: stable per job.
    """
    if key is None or key == "":
        return None
    if len(key) <= _MAX_KEY and key.isascii():
        return key
    return "eb" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:30]


class Writer:
    """Writes ops of one object through the APIs above."""

    def __init__(self, client: YonBipClient, settings: YonBipSettings, find: _Find) -> None:
        self.client = client
        self.settings = settings
        self.find = find
        self._amend = OrderAmender(client, unaudit=settings.unaudit_to_update)

    async def write(self, object: str, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """One result per op, in order."""
        results: list[WriteResult | None] = [None] * len(ops)
        try:
            targets = await self._targets(object, ops, results)
            if object == "merchant":
                await self._merchants(ops, targets, results)
            elif object == "voucherorder":
                await self._orders(ops, targets, results)
            elif object == "applyorder":
                await self._requisitions(ops, targets, results)
        except ConnectorError as exc:
            for n, result in enumerate(results):
                if result is None:
                    results[n] = _failed(ops[n], exc)
        for n, result in enumerate(results):
            if result is None:
                results[n] = _failed(
                    ops[n],
                    ValidationError(
                        f"{ops[n].mode.value} 不受支持：{object} 的开放接口没有此操作",
                        field=None,
                        system=SYSTEM,
                        object=object,
                    ),
                )
        return [r for r in results if r is not None]

    async def _targets(
        self, object: str, ops: Sequence[WriteOp], results: list[WriteResult | None]
    ) -> list[str | None]:
        """The target id of each op: given, or found by natural key for upserts."""
        targets: list[str | None] = [op.target_id for op in ops]
        by_key: dict[str, list[int]] = {}
        for n, op in enumerate(ops):
            if op.mode is WriteMode.DELETE or object not in (
                "merchant",
                "voucherorder",
                "applyorder",
            ):
                continue  # left unanswered: refused below
            if object == "applyorder" and op.mode is not WriteMode.UPDATE:
                # No key lookup: creates rely on resubmitCheckKey (below).
                continue
            if op.mode in (WriteMode.UPDATE,) and not op.target_id:
                results[n] = _failed(
                    op,
                    ValidationError(
                        "update 需要 target_id", field="id", system=SYSTEM, object=object
                    ),
                )
            elif op.mode is WriteMode.UPSERT and not op.target_id and op.key_field:
                by_key.setdefault(op.key_field, []).append(n)
        for key_field, positions in by_key.items():
            values = [ops[n].key_value for n in positions]
            found = await self.find(object, key_field, values)
            ids = {str(r.fields.get(key_field)): r.id for r in found}
            for n in positions:
                targets[n] = ids.get(str(ops[n].key_value))
        return targets

    # --- merchant -----------------------------------------------------------------------

    async def _merchants(
        self, ops: Sequence[WriteOp], targets: list[str | None], results: list[WriteResult | None]
    ) -> None:
        updates: list[int] = []
        for n, op in enumerate(ops):
            if results[n] is not None or op.mode is WriteMode.DELETE:
                continue
            if targets[n] is not None:
                updates.append(n)
                continue
            data = _fields(op)
            data.update({"_status": "Insert"})
            # The idempotent APIs require a key; without a job key a fresh one still lets
            # the call through (it protects nothing across retries, which have none).
            data["resubmitCheckKey"] = resubmit_key(op.idempotency_key) or uuid.uuid4().hex
            results[n] = await self._one(op, API["merchant_insert"], data, "merchant")
        if updates:
            await self._merchant_updates(ops, targets, updates, results)

    async def _merchant_updates(
        self,
        ops: Sequence[WriteOp],
        targets: list[str | None],
        positions: list[int],
        results: list[WriteResult | None],
    ) -> None:
        records = []
        labels: dict[int, str] = {}
        for i, n in enumerate(positions):
            data = _fields(ops[n])
            data.update({"_status": "Update", "id": int(str(targets[n]))})
            labels[n] = str(data["code"]) if data.get("code") not in (None, "") else str(i)
            records.append(data)
        answer = await self.client.call(
            "POST", API["merchant_batch"], body={"data": records}, object="merchant"
        )
        data = answer.data if isinstance(answer.data, dict) else {}
        infos = _list(data.get("infos"))
        messages = [str(m) for m in _list(data.get("messages"))]
        saved = {str(r.get("id")): r for r in infos if isinstance(r, dict)}
        for n in positions:
            target = str(targets[n])
            if target in saved:
                results[n] = _done(ops[n], WriteOutcome.UPDATED, target, saved[target])
                continue
            prefix = f"客户[{labels[n]}]"
            text = next((m for m in messages if m.startswith(prefix)), None)
            reason = text.split(":", 1)[-1].strip() if text else "批量保存未返回此记录"
            results[n] = _failed(
                ops[n], classify_answer("999", reason, object="merchant", raw=text)
            )

    # --- voucherorder -------------------------------------------------------------------

    async def _orders(
        self, ops: Sequence[WriteOp], targets: list[str | None], results: list[WriteResult | None]
    ) -> None:
        await self._order_deletes(ops, targets, results)
        for n, op in enumerate(ops):
            if results[n] is not None or op.mode is WriteMode.DELETE:
                continue
            target = targets[n]
            if str(op.fields.get("_status") or "") == REMOVE:  # a cancelled order (amend.py)
                results[n] = await self._amend.remove(op, target)
                continue
            data = _fields(op)
            if self.settings.sales_org_code and "salesOrgId" not in data:
                data["salesOrgId"] = self.settings.sales_org_code
            if target is not None:
                data.update({"_status": "Update", "id": int(str(target))})
            else:
                data["_status"] = "Insert"
            # The idempotent APIs require a key; without a job key a fresh one still lets
            # the call through (it protects nothing across retries, which have none).
            data["resubmitCheckKey"] = resubmit_key(op.idempotency_key) or uuid.uuid4().hex

            async def save(body: dict[str, object], op: WriteOp = op) -> WriteResult:
                return await self._one(op, API["order_save"], body, "voucherorder")

            if target is not None and self.settings.unaudit_to_update:
                results[n] = await self._amend.update(op, target, data, save)
            else:
                results[n] = await save(data)

    async def _order_deletes(
        self, ops: Sequence[WriteOp], targets: list[str | None], results: list[WriteResult | None]
    ) -> None:
        """All deletes of the batch in one ``voucherorder/delete`` call, by id or code.

        An order already gone counts as deleted (a retried delete whose answer was lost).
        """
        refs: dict[int, str] = {}
        for n, op in enumerate(ops):
            if op.mode is not WriteMode.DELETE or results[n] is not None:
                continue
            ref = targets[n] or (str(op.key_value) if op.key_value not in (None, "") else None)
            if ref is None:
                results[n] = _failed(
                    op,
                    ValidationError(
                        "delete 需要 target_id 或 code", field="id", system=SYSTEM,
                        object="voucherorder",
                    ),
                )  # fmt: skip
            else:
                refs[n] = ref
        if not refs:
            return
        ids = [int(r) for r in refs.values() if r.isdigit()]
        codes = [r for r in refs.values() if not r.isdigit()]
        answer = await self.client.call(
            "POST",
            API["order_delete"],
            body={"data": {"id": ids, "code": codes}},
            object="voucherorder",
        )
        data = answer.data if isinstance(answer.data, dict) else {}
        done = set()
        for info in _list(data.get("infos")):
            if isinstance(info, dict):
                done |= {str(info.get("id")), str(info.get("code"))}
        messages = [str(m) for m in _list(data.get("messages"))]
        for n, ref in refs.items():
            text = next((m for m in messages if m.startswith(f"单据[{ref}]")), None)
            if ref in done:
                results[n] = WriteResult(ops[n].ref, WriteOutcome.DELETED, targets[n] or ref)
                continue
            if text is None:
                results[n] = _failed(
                    ops[n],
                    ConnectorError(
                        f"删除的回答没有提到单据[{ref}]", system=SYSTEM, object="voucherorder"
                    ),
                )
                continue
            error = classify_answer("999", text, object="voucherorder", raw=text)
            results[n] = (
                WriteResult(ops[n].ref, WriteOutcome.DELETED, targets[n] or ref)
                if isinstance(error, NotFoundError)
                else _failed(ops[n], error)
            )

    # --- applyorder -----------------------------------------------------------------------

    async def _requisitions(
        self, ops: Sequence[WriteOp], targets: list[str | None], results: list[WriteResult | None]
    ) -> None:
        """``applyorder/singleSave_v1`` per record. The natural key is not looked up before
        a create (the list, [U], serves change reads only), so a create whose answer was
        lost is made once only by its ``resubmitCheckKey`` (the job's key; the gateway
        repeats the first answer, or the duplicate code with the id after an hour)."""
        for n, op in enumerate(ops):
            if results[n] is not None or op.mode is WriteMode.DELETE:
                continue
            data = _fields(op)
            if targets[n] is not None:
                data.update({"_status": "Update", "id": int(str(targets[n]))})
            else:
                data["_status"] = "Insert"
            data["resubmitCheckKey"] = resubmit_key(op.idempotency_key) or uuid.uuid4().hex
            result = await self._one(op, API["applyorder_save"], data, "applyorder")
            if targets[n] is None and isinstance(result.error, ConflictError):
                # "单据编号已存在": YonBIP has a 请购单 with this code, made by an earlier job
                # whose xref is lost; it is not looked up by code and linked.
                code = data.get("code")
                result = _failed(
                    op,
                    ValidationError(
                        result.error.message,
                        field="code",
                        system=SYSTEM,
                        object="applyorder",
                        raw=result.error.raw,
                        hint=(
                            f"用友已有编号为 {code} 的请购单（没有重复创建）；erpbridge 不按编号"
                            "自动关联已有的请购单：请在用友中核对该请购单，然后放弃这条死信"
                        ),
                    ),
                )
            results[n] = result

    async def _one(
        self, op: WriteOp, api: str, data: dict[str, object], object: str
    ) -> WriteResult:
        try:
            answer = await self.client.call("POST", api, body={"data": data}, object=object)
        except _RECORD_ERRORS as exc:
            return _failed(op, exc)
        return _from_answer(op, answer, data.get("_status") == "Update", object)


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _fields(op: WriteOp) -> dict[str, object]:
    return {k: _wire(v) for k, v in op.fields.items() if k not in ("pubts", "_status")}


def _wire(value: object) -> object:
    """A record value as JSON the gateway takes: Decimals as numbers (whole ones as
    integers), datetimes as ``yyyy-MM-dd HH:mm:ss`` and dates as ``yyyy-MM-dd`` (the
    open API's text forms), nested lines and multi-language names walked through."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_wire(v) for v in value]
    return value


def _from_answer(op: WriteOp, answer: Answer, is_update: bool, object: str) -> WriteResult:
    data = answer.data
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]
    if not isinstance(data, dict) or data.get("id") in (None, ""):
        return _failed(
            op,
            ConnectorError(
                "保存成功的回答缺少 data.id",
                system=SYSTEM,
                object=object,
                raw=str(answer.data)[:500],
            ),
        )
    outcome = WriteOutcome.UPDATED if is_update else WriteOutcome.CREATED
    return _done(op, outcome, str(data["id"]), data)


def _done(
    op: WriteOp, outcome: WriteOutcome, target_id: str, data: dict[str, object]
) -> WriteResult:
    stamp = data.get("pubts")
    version = str(stamp) if stamp and from_server_text(stamp, 0) is not None else None
    return WriteResult(op.ref, outcome, target_id, version)


def _failed(op: WriteOp, error: ConnectorError) -> WriteResult:
    return WriteResult(op.ref, WriteOutcome.FAILED, op.target_id, None, error)
