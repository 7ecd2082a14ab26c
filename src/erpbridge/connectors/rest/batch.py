"""Writes through a configured batch endpoint: many records per call, one result per record.

A generic API's batch endpoint is described by the object's ``batch`` settings (where
the records go in the body, where the answer holds one result per record, where a
result holds its id, error and status). What happens to a call:

- 2xx with one result per record sent: each record gets its own outcome;
- 401/403: the whole write fails with an ``AuthError`` (every record would fail alike);
- 404, 405, 501 (no such endpoint): logged once, and from then on this object is
  written one call per record (writer.py);
- 400/422 for the batch as a whole (one bad record refuses all, in all-or-nothing APIs):
  the records of that call are written again one call per record, so each gets its
  own answer and the good ones are written;
- 409, 429, 5xx, timeouts: every record of the call fails with that (retryable) error;
- 2xx whose results cannot be matched to the records (not a list, another count): every
  record fails with a validation error naming ``result_path``; they go to dead letters,
  since some may have been written (a person checks, and a replay looks the natural key
  up first).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import httpx
import structlog

from erpbridge.connectors.rest.client import RestClient, dig
from erpbridge.connectors.rest.errors import SYSTEM, classify_response, classify_result
from erpbridge.connectors.rest.settings import RestBatch, RestObject
from erpbridge.connectors.rest.writer import write_ops
from erpbridge.spi.errors import AuthError, ConnectorError, ValidationError
from erpbridge.spi.records import WriteMode, WriteOp, WriteOutcome, WriteResult

__all__ = ["BatchWriter"]

_log = structlog.get_logger(__name__)
#: answers that mean "this server has no such batch endpoint".
_NO_ENDPOINT = frozenset({404, 405, 501})
#: answers that refuse the batch as a whole for its content.
_REFUSED = frozenset({400, 422})


class BatchWriter:
    """Writes objects that have a batch endpoint; remembers endpoints found missing."""

    def __init__(self, client: RestClient) -> None:
        self.client = client
        self._missing: set[str] = set()

    async def write(
        self, object: str, spec: RestObject, ops: Sequence[WriteOp]
    ) -> list[WriteResult]:
        """One result per op, in order.

        Raises:
            AuthError: the API refused the credentials.
        """
        batch = spec.batch
        if batch is None or object in self._missing:
            return await write_ops(self.client, object, spec, ops)
        results: dict[int, WriteResult] = {}
        batched = [i for i, op in enumerate(ops) if _goes_by_batch(op, batch)]
        singles = [i for i in range(len(ops)) if i not in set(batched)]
        for start in range(0, len(batched), batch.max_records):
            chunk = batched[start : start + batch.max_records]
            answer = await self._call(object, spec, batch, [ops[i] for i in chunk])
            if answer is None:
                singles += chunk
            else:
                results.update(zip(chunk, answer, strict=True))
        singles.sort()
        one_by_one = await write_ops(self.client, object, spec, [ops[i] for i in singles])
        results.update(zip(singles, one_by_one, strict=True))
        return [results[i] for i in range(len(ops))]

    async def _call(
        self, object: str, spec: RestObject, batch: RestBatch, ops: list[WriteOp]
    ) -> list[WriteResult] | None:
        """The results of one batch call, or None: write these ops one call per record."""
        records = [_record(op, spec) for op in ops]
        body = _body(batch, records)
        keys = [op.idempotency_key for op in ops]
        headers = None
        if all(keys):
            digest = hashlib.sha256("\n".join(k or "" for k in keys).encode()).hexdigest()
            headers = {"Idempotency-Key": f"batch-{digest[:40]}"}
        doing = f"{batch.method} {batch.path} ({len(ops)} records)"
        try:
            response = await self.client.send(
                batch.method, batch.path, object=object, json=body, headers=headers
            )
        except ConnectorError as exc:  # transport: every record of the call failed so
            return [WriteResult(op.ref, WriteOutcome.FAILED, error=exc) for op in ops]
        if response.status_code in _NO_ENDPOINT:
            self._missing.add(object)
            _log.warning(
                "rest.batch_endpoint_missing",
                object=object,
                path=batch.path,
                status=response.status_code,
            )
            return None
        if response.status_code in _REFUSED:
            _log.info("rest.batch_refused", object=object, path=batch.path, records=len(ops))
            return None
        if not response.is_success:
            error = classify_response(response, object=object, doing=doing)
            if isinstance(error, AuthError):
                raise error
            return [WriteResult(op.ref, WriteOutcome.FAILED, error=error) for op in ops]
        return _results(response, object, spec, batch, ops)


def _body(batch: RestBatch, records: list[dict[str, object]]) -> object:
    return {batch.body_path: records} if batch.body_path else records


def _goes_by_batch(op: WriteOp, batch: RestBatch) -> bool:
    if op.mode is WriteMode.DELETE or (op.mode is WriteMode.UPDATE and not op.target_id):
        return False  # one call per record (an update without a target id fails there)
    return ("update" if _is_update(op) else "create") in batch.operations


def _is_update(op: WriteOp) -> bool:
    return op.mode is WriteMode.UPDATE or (op.mode is WriteMode.UPSERT and bool(op.target_id))


def _record(op: WriteOp, spec: RestObject) -> dict[str, object]:
    record = dict(op.fields)
    if _is_update(op) and op.target_id:
        record[spec.id_field] = op.target_id
    return record


def _results(
    response: httpx.Response,
    object: str,
    spec: RestObject,
    batch: RestBatch,
    ops: list[WriteOp],
) -> list[WriteResult]:
    try:
        items = dig(response.json(), batch.result_path)
    except ValueError:
        items = None
    if not isinstance(items, list) or len(items) != len(ops):
        found = f"{len(items)} results" if isinstance(items, list) else "no list"
        error = ValidationError(
            f"{batch.method} {batch.path}: the answer has {found} at result_path "
            f"{batch.result_path!r} for {len(ops)} records; some may have been written "
            "(check batch.result_path, then replay: the natural key is looked up first)",
            system=SYSTEM,
            object=object,
            raw=response.text[:500],
        )
        return [WriteResult(op.ref, WriteOutcome.FAILED, error=error) for op in ops]
    return [_result(item, op, object, spec, batch) for item, op in zip(items, ops, strict=True)]


def _result(
    item: object, op: WriteOp, object: str, spec: RestObject, batch: RestBatch
) -> WriteResult:
    if not isinstance(item, dict):
        error = ValidationError(
            f"batch result is {type(item).__name__}, not an object", system=SYSTEM, object=object
        )
        return WriteResult(op.ref, WriteOutcome.FAILED, error=error)
    status = _status(dig(item, batch.status_path)) if batch.status_path else None
    problem = dig(item, batch.error_path)
    if problem not in (None, "", [], {}, False) or (status is not None and status >= 400):
        text = problem if isinstance(problem, str) else json.dumps(problem, ensure_ascii=False)
        field = problem.get("field") if isinstance(problem, dict) else None
        failed = classify_result(
            status if status is not None and status >= 400 else None,
            text,
            object=object,
            field=str(field) if field else None,
        )
        return WriteResult(op.ref, WriteOutcome.FAILED, error=failed)
    if _is_update(op):
        return WriteResult(op.ref, WriteOutcome.UPDATED, target_id=op.target_id)
    # As for one call per record: the id from the answer, else one the record carried.
    new_id = dig(item, batch.id_path or spec.id_field)
    if new_id in (None, "") or isinstance(new_id, dict | list | bool):
        new_id = op.fields.get(spec.id_field)
    target = str(new_id) if new_id not in (None, "") else None
    return WriteResult(op.ref, WriteOutcome.CREATED, target_id=target)


def _status(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None
