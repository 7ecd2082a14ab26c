"""Writes one call per op (a generic API has no batch endpoint we can assume).

Ops run concurrently up to ``limits.concurrency``. Creates send an ``Idempotency-Key``
header (the job's key; honoured by APIs that implement the IETF draft, ignored by the
rest). Any failure but an auth failure is that op's result; an auth failure stops the
batch (every other op would fail the same way).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from urllib.parse import quote

import httpx

from erpbridge.connectors.rest.client import RestClient, dig
from erpbridge.connectors.rest.errors import SYSTEM, classify_response
from erpbridge.connectors.rest.settings import RestObject
from erpbridge.spi.errors import AuthError, ConnectorError, ValidationError
from erpbridge.spi.records import WriteMode, WriteOp, WriteOutcome, WriteResult

__all__ = ["write_ops"]


async def write_ops(
    client: RestClient, object: str, spec: RestObject, ops: Sequence[WriteOp]
) -> list[WriteResult]:
    """One result per op, in order.

    Raises:
        AuthError: the API refused the credentials.
    """
    slots = asyncio.Semaphore(client.settings.limits.concurrency)

    async def one(op: WriteOp) -> WriteResult:
        async with slots:
            try:
                return await _write(client, object, spec, op)
            except AuthError:
                raise
            except ConnectorError as exc:
                return WriteResult(op.ref, WriteOutcome.FAILED, error=exc)

    return list(await asyncio.gather(*(one(op) for op in ops)))


async def _write(client: RestClient, object: str, spec: RestObject, op: WriteOp) -> WriteResult:
    if op.mode is WriteMode.DELETE:
        target = _need_id(op, object)
        response = await client.send("DELETE", _item(spec, target), object=object)
        # Already gone is what a delete wants (a retried delete finds nothing).
        if response.is_success or response.status_code in (404, 410):
            return WriteResult(op.ref, WriteOutcome.DELETED, target_id=target)
        raise classify_response(response, object=object, doing=f"DELETE {object} {target}")
    if op.mode is WriteMode.UPDATE or (op.mode is WriteMode.UPSERT and op.target_id):
        target = _need_id(op, object)
        path = _item(spec, target)
        response = await client.send(spec.update_method, path, object=object, json=dict(op.fields))
        if not response.is_success:
            raise classify_response(response, object=object, doing=f"{spec.update_method} {path}")
        return WriteResult(op.ref, WriteOutcome.UPDATED, target_id=target)
    headers = {"Idempotency-Key": op.idempotency_key} if op.idempotency_key else None
    response = await client.send(
        "POST", spec.path, object=object, json=dict(op.fields), headers=headers
    )
    if not response.is_success:
        raise classify_response(response, object=object, doing=f"POST {spec.path}")
    return WriteResult(op.ref, WriteOutcome.CREATED, target_id=_created_id(response, spec, op))


def _item(spec: RestObject, target: str) -> str:
    return spec.item.replace("{id}", quote(target, safe=""))


def _need_id(op: WriteOp, object: str) -> str:
    if not op.target_id:
        raise ValidationError(f"{op.mode.value} needs the target id", system=SYSTEM, object=object)
    return op.target_id


def _created_id(response: httpx.Response, spec: RestObject, op: WriteOp) -> str | None:
    """The new record's id: from the body, else the ``Location`` header's last segment."""
    try:
        body = response.json() if response.content else None
    except ValueError:
        body = None
    for record in (dig(body, spec.item_record_path), body):
        if isinstance(record, dict) and record.get(spec.id_field) not in (None, ""):
            return str(record[spec.id_field])
    location = response.headers.get("location")
    if location:
        return str(location).rstrip("/").rsplit("/", 1)[-1]
    value = op.fields.get(spec.id_field)
    return str(value) if value not in (None, "") else None
