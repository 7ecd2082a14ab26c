"""Writing one batch of ops into one form (the ``write`` half of the connector).

Creates go to ``batch_create`` (≤ 100 per call) with a ``transaction_id`` derived from the
ops' idempotency keys (reference §6: it "prevents duplicate creation of the same batch
caused by retries"); a refused batch is all or nothing, so it is retried record by record
to give each op its own answer. Updates writing identical data share a ``batch_update``
(which writes the same data to every id); others use ``update``. Deletes use
``batch_delete``. Upserts, and updates or deletes without a ``target_id``, look the
natural key up first (the product has no upsert). Per-op failures become results; only a
refused key raises.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

from erpbridge.connectors.jiandaoyun.client import JdyClient
from erpbridge.connectors.jiandaoyun.describe import FormSchema
from erpbridge.connectors.jiandaoyun.errors import SYSTEM
from erpbridge.connectors.jiandaoyun.values import to_record, to_write_data
from erpbridge.spi.errors import (
    AuthError,
    ConnectorError,
    NotFoundError,
    TransientError,
    ValidationError,
)
from erpbridge.spi.records import Record, WriteMode, WriteOp, WriteOutcome, WriteResult

__all__ = ["MAX_BATCH", "FormWriter", "chunks"]

#: records per batch call (the API's maximum).
MAX_BATCH = 100
_TXN_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://erpbridge.dev/jiandaoyun/transaction_id")

T = TypeVar("T")
#: ``find(object, key_field, values)`` of the connector.
Finder = Callable[[str, str, Sequence[object]], Awaitable[list[Record]]]


def _transaction_id(entry_id: str, kind: str, ops: Sequence[WriteOp]) -> str | None:
    """A UUID derived from the ops' idempotency keys (None unless every op has one)."""
    keys = [op.idempotency_key for op in ops]
    if not keys or any(not k for k in keys):
        return None
    return str(uuid.uuid5(_TXN_NAMESPACE, "\n".join([entry_id, kind, *map(str, keys)])))


def _failed(op: WriteOp, error: ConnectorError) -> WriteResult:
    return WriteResult(ref=op.ref, outcome=WriteOutcome.FAILED, target_id=op.target_id, error=error)


def chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


@dataclasses.dataclass(slots=True)
class _Planned:
    index: int
    op: WriteOp
    data: dict[str, object]
    target_id: str | None = None


class FormWriter:
    """Writes ops into one form.

    Args:
        client: the wire client.
        app_id: the app.
        form: the form's widgets.
        batch_size: records per batch call (at most 100).
        gate: bounds concurrent single-record calls.
        find: the connector's natural-key lookup.
    """

    def __init__(
        self,
        client: JdyClient,
        app_id: str,
        form: FormSchema,
        *,
        batch_size: int,
        gate: asyncio.Semaphore,
        find: Finder,
    ) -> None:
        self.client = client
        self.form = form
        self._app_id = app_id
        self._batch_size = max(1, min(batch_size, MAX_BATCH))
        self._gate = gate
        self._find = find

    async def _gated(self, call: Callable[[], Awaitable[T]]) -> T:
        async with self._gate:
            return await call()

    async def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Write a batch; one result per op, same order.

        Raises:
            AuthError: the key was refused (nothing can succeed).
        """
        form = self.form
        results: list[WriteResult | None] = [None] * len(ops)
        creates: list[_Planned] = []
        updates: list[_Planned] = []
        deletes: list[_Planned] = []
        lookups: list[_Planned] = []
        for index, op in enumerate(ops):
            try:
                data = {} if op.mode is WriteMode.DELETE else to_write_data(form, op.fields)
            except ValidationError as exc:
                results[index] = _failed(op, exc)
                continue
            planned = _Planned(index, op, data, op.target_id)
            has_key = op.key_field is not None and op.key_value not in (None, "")
            if op.mode is WriteMode.CREATE:
                creates.append(planned)
            elif op.target_id:
                (deletes if op.mode is WriteMode.DELETE else updates).append(planned)
            elif has_key:
                lookups.append(planned)
            else:
                error = ValidationError(
                    f"{op.mode.value} needs target_id or key_field/key_value",
                    system=SYSTEM,
                    object=form.entry_id,
                )
                results[index] = _failed(op, error)
        await self._resolve_keys(form, lookups, creates, updates, deletes, results)
        await self._create(form, creates, results)
        await self._update(form, updates, results)
        await self._delete(form, deletes, results)
        return [r if r is not None else _failed(ops[i], _lost(form)) for i, r in enumerate(results)]

    async def _resolve_keys(
        self,
        form: FormSchema,
        lookups: list[_Planned],
        creates: list[_Planned],
        updates: list[_Planned],
        deletes: list[_Planned],
        results: list[WriteResult | None],
    ) -> None:
        by_field: dict[str, list[_Planned]] = {}
        for planned in lookups:
            by_field.setdefault(str(planned.op.key_field), []).append(planned)
        for key_field, group in by_field.items():
            try:
                found = await self._find(form.entry_id, key_field, [p.op.key_value for p in group])
            except AuthError:
                raise
            except ConnectorError as exc:
                for planned in group:
                    results[planned.index] = _failed(planned.op, exc)
                continue
            name = form.resolve(key_field) or key_field
            index: dict[str, list[str]] = {}
            for record in found:
                index.setdefault(str(record.fields.get(name)), []).append(record.id)
            for planned in group:
                ids = index.get(str(planned.op.key_value), [])
                op = planned.op
                if len(ids) > 1:
                    error = ValidationError(
                        f"{len(ids)} records have {name} = {op.key_value!r}; the key is not unique",
                        field=name,
                        system=SYSTEM,
                        object=form.entry_id,
                    )
                    results[planned.index] = _failed(op, error)
                elif ids:
                    planned.target_id = ids[0]
                    (deletes if op.mode is WriteMode.DELETE else updates).append(planned)
                elif op.mode is WriteMode.UPSERT:
                    creates.append(planned)
                elif op.mode is WriteMode.DELETE:
                    results[planned.index] = WriteResult(op.ref, WriteOutcome.DELETED)
                else:
                    missing = NotFoundError(
                        f"no record with {name} = {op.key_value!r}",
                        system=SYSTEM,
                        object=form.entry_id,
                    )
                    results[planned.index] = _failed(op, missing)

    def _body(self, form: FormSchema, **more: object) -> dict[str, object]:
        return {"app_id": self._app_id, "entry_id": form.entry_id, **more}

    async def _create(
        self, form: FormSchema, planned: list[_Planned], results: list[WriteResult | None]
    ) -> None:
        size = min(self._batch_size, MAX_BATCH)
        for chunk in chunks(planned, size):
            if len(chunk) == 1:
                await self._create_one(form, chunk[0], results)
                continue
            body = self._body(form, data_list=[p.data for p in chunk])
            tid = _transaction_id(form.entry_id, "batch_create", [p.op for p in chunk])
            if tid:
                body["transaction_id"] = tid
            try:
                answer = await self.client.call(
                    "app/entry/data/batch_create", body, object=form.entry_id
                )
            except ValidationError:
                # All or nothing: find the refused record(s) by creating one by one.
                await asyncio.gather(*(self._create_one(form, p, results) for p in chunk))
                continue
            except AuthError:
                raise
            except ConnectorError as exc:
                for p in chunk:
                    results[p.index] = _failed(p.op, exc)
                continue
            await self._created_ids(form, chunk, answer, results)

    async def _created_ids(
        self,
        form: FormSchema,
        chunk: Sequence[_Planned],
        answer: Mapping[str, object],
        results: list[WriteResult | None],
    ) -> None:
        ids = answer.get("success_ids")
        if isinstance(ids, list) and len(ids) == len(chunk):
            for p, data_id in zip(chunk, ids, strict=True):
                results[p.index] = WriteResult(
                    p.op.ref, WriteOutcome.CREATED, target_id=str(data_id)
                )
            return
        # ``success_ids`` is not in every copy of the docs: find the new records by key.
        for p in chunk:
            target_id = None
            if p.op.key_field and p.op.key_value not in (None, ""):
                found = await self._find(form.entry_id, p.op.key_field, [p.op.key_value])
                target_id = max((r.id for r in found), default=None)
            results[p.index] = WriteResult(p.op.ref, WriteOutcome.CREATED, target_id=target_id)

    async def _create_one(
        self, form: FormSchema, planned: _Planned, results: list[WriteResult | None]
    ) -> None:
        body = self._body(form, data=planned.data)
        tid = _transaction_id(form.entry_id, "create", [planned.op])
        if tid:
            body["transaction_id"] = tid
        try:
            answer = await self._gated(
                lambda: self.client.call("app/entry/data/create", body, object=form.entry_id)
            )
            record = to_record(form.entry_id, answer.get("data"))
        except AuthError:
            raise
        except ConnectorError as exc:
            results[planned.index] = _failed(planned.op, exc)
            return
        results[planned.index] = WriteResult(
            planned.op.ref, WriteOutcome.CREATED, target_id=record.id, version=record.version
        )

    async def _update(
        self, form: FormSchema, planned: list[_Planned], results: list[WriteResult | None]
    ) -> None:
        groups: dict[str, list[_Planned]] = {}
        singles: list[_Planned] = []
        for p in planned:
            has_subform = any(
                form.widgets[n].type == "subform" for n in p.data if n in form.widgets
            )
            if has_subform or not p.data:
                singles.append(p)
            else:
                groups.setdefault(
                    json.dumps(p.data, sort_keys=True, ensure_ascii=False), []
                ).append(p)
        for group in groups.values():
            if len(group) == 1:
                singles += group
                continue
            for chunk in chunks(group, MAX_BATCH):
                if not await self._batch_update(form, chunk, results):
                    singles += chunk
        await asyncio.gather(*(self._update_one(form, p, results) for p in singles))

    async def _batch_update(
        self, form: FormSchema, chunk: Sequence[_Planned], results: list[WriteResult | None]
    ) -> bool:
        """One ``batch_update``; False when its count does not prove every record changed."""
        body = self._body(form, data_ids=[p.target_id for p in chunk], data=chunk[0].data)
        tid = _transaction_id(form.entry_id, "batch_update", [p.op for p in chunk])
        if tid:
            body["transaction_id"] = tid
        try:
            answer = await self.client.call(
                "app/entry/data/batch_update", body, object=form.entry_id
            )
        except AuthError:
            raise
        except ConnectorError:
            return False
        if answer.get("success_count") != len({p.target_id for p in chunk}):
            return False
        for p in chunk:
            results[p.index] = WriteResult(p.op.ref, WriteOutcome.UPDATED, target_id=p.target_id)
        return True

    async def _update_one(
        self, form: FormSchema, planned: _Planned, results: list[WriteResult | None]
    ) -> None:
        body = self._body(form, data_id=planned.target_id, data=planned.data)
        tid = _transaction_id(form.entry_id, "update", [planned.op])
        if tid:
            body["transaction_id"] = tid
        try:
            answer = await self._gated(
                lambda: self.client.call("app/entry/data/update", body, object=form.entry_id)
            )
            record = to_record(form.entry_id, answer.get("data"))
        except AuthError:
            raise
        except ConnectorError as exc:
            results[planned.index] = _failed(planned.op, exc)
            return
        results[planned.index] = WriteResult(
            planned.op.ref, WriteOutcome.UPDATED, target_id=record.id, version=record.version
        )

    async def _delete(
        self, form: FormSchema, planned: list[_Planned], results: list[WriteResult | None]
    ) -> None:
        # A record already gone counts as deleted: deletes are idempotent by id.
        for chunk in chunks(planned, MAX_BATCH):
            body = self._body(form, data_ids=[p.target_id for p in chunk])
            try:
                await self.client.call("app/entry/data/batch_delete", body, object=form.entry_id)
            except AuthError:
                raise
            except ConnectorError as exc:
                for p in chunk:
                    results[p.index] = _failed(p.op, exc)
                continue
            for p in chunk:
                results[p.index] = WriteResult(
                    p.op.ref, WriteOutcome.DELETED, target_id=p.target_id
                )


def _lost(form: FormSchema) -> ConnectorError:
    return TransientError("no answer was recorded for this op", system=SYSTEM, object=form.entry_id)
