"""Bulk API 1.0 with JSON content (``/services/async/{version}/job…``), reference §4.

Copied flow: ``POST job`` (JobInfo, state ``Open``) → ``POST job/{id}/batch`` (a JSON
array of records, or the SOQL text for query jobs; BatchInfo) → ``GET
job/{id}/batch/{bid}`` until ``Completed`` → ``GET …/result`` (per-record results; for
queries a list of result ids, then ``GET …/result/{rid}`` gives the records) and ``GET
…/request`` (the records sent). ``POST job/{id}`` with ``{"state": "Closed"}`` closes the
job. Authentication is the ``X-SFDC-Session`` header. Errors are Bulk API's JSON shape
``{"exceptionCode", "exceptionMessage"}`` (``InvalidJob``, ``InvalidBatch``,
``InvalidSessionId``) — not the REST error list.

The simulator processes a batch when it is added (Salesforce queues it), so its first
status is ``Completed``; each record is its own unit, like Bulk API's per-record results.
Any ``concurrencyMode`` value is accepted (simple-salesforce sends 0/1). Jobs live in
memory only.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from erpbridge.sims.salesforce.errors import SfError
from erpbridge.sims.salesforce.render import render_query_row
from erpbridge.sims.salesforce.schema import object_def
from erpbridge.sims.salesforce.soql import SoqlError, parse_query
from erpbridge.sims.salesforce.state import USER_ID, OrgState

__all__ = ["Bulk1Jobs", "BulkError"]

_DML = {"insert", "update", "upsert", "delete", "hardDelete"}


class BulkError(Exception):
    """A Bulk API 1.0 refusal: ``{"exceptionCode", "exceptionMessage"}`` with a status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        self.code, self.message, self.status = code, message, status
        super().__init__(f"{code}: {message}")

    def response(self) -> Response:
        """The JSON answer Bulk API gives."""
        body = {"exceptionCode": self.code, "exceptionMessage": self.message}
        return JSONResponse(body, status_code=self.status)


@dataclass(slots=True)
class _Batch:
    info: dict[str, object]
    request: list[object]
    results: list[dict[str, object]] = field(default_factory=list)
    rows: list[dict[str, object]] = field(default_factory=list)


@dataclass(slots=True)
class _Job:
    info: dict[str, object]
    batches: dict[str, _Batch] = field(default_factory=dict)


@dataclass(slots=True)
class Bulk1Jobs:
    """The org's Bulk API 1.0 jobs."""

    org: OrgState
    _jobs: dict[str, _Job] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def dispatch(self, parts: list[str], request: Request, version: str) -> Response:
        """Answer ``job[/{id}[/batch[/{bid}[/result[/{rid}]|/request]]]]``."""
        try:
            return await self._dispatch(parts, request, version)
        except BulkError as exc:
            return exc.response()

    async def _dispatch(self, parts: list[str], request: Request, version: str) -> Response:
        method = request.method
        if not parts or parts[0] != "job":
            raise BulkError("InvalidUrl", "unknown Bulk API resource", 404)
        if len(parts) == 1:
            if method != "POST":
                raise BulkError("InvalidUrl", f"{method} not allowed on job", 405)
            return self._create(await _json(request), version)
        job = self._jobs.get(parts[1])
        if job is None:
            raise BulkError("InvalidJob", f"Unable to find job by id: {parts[1]}")
        if len(parts) == 2:
            if method == "GET":
                return JSONResponse(job.info)
            if method == "POST":
                return self._set_state(job, await _json(request))
            raise BulkError("InvalidUrl", f"{method} not allowed on a job", 405)
        if parts[2] != "batch":
            raise BulkError("InvalidUrl", "unknown Bulk API resource", 404)
        if len(parts) == 3:
            if method != "POST":
                raise BulkError("InvalidUrl", f"{method} not allowed on batch", 405)
            return await self._add_batch(job, request, version)
        batch = job.batches.get(parts[3])
        if batch is None:
            raise BulkError("InvalidBatch", f"Unable to find batch by id: {parts[3]}")
        if method != "GET":
            raise BulkError("InvalidUrl", f"{method} not allowed on a batch", 405)
        return self._batch_resource(job, batch, parts[4:])

    def _batch_resource(self, job: _Job, batch: _Batch, rest: list[str]) -> Response:
        if not rest:
            return JSONResponse(batch.info)
        if rest == ["request"]:
            return JSONResponse(batch.request)
        if rest == ["result"]:
            if job.info["operation"] in ("query", "queryAll"):
                return JSONResponse([f"752Sm{batch.info['id']}"])
            return JSONResponse(batch.results)
        if len(rest) == 2 and rest[0] == "result" and rest[1] == f"752Sm{batch.info['id']}":
            return JSONResponse(batch.rows)
        raise BulkError("InvalidBatch", "unknown batch resource", 404)

    def _create(self, body: object, version: str) -> Response:
        if not isinstance(body, Mapping):
            raise BulkError("InvalidJob", "the job must be a JSON object")
        operation = body.get("operation")
        o = object_def(str(body.get("object", "")))
        if operation not in (_DML | {"query", "queryAll"}):
            raise BulkError("InvalidJob", f"Invalid operation: {operation}")
        if o is None:
            raise BulkError("InvalidJob", f"Unable to find object: {body.get('object')}")
        if body.get("contentType", "JSON") != "JSON":
            raise BulkError("InvalidJob", "the simulator accepts contentType JSON only")
        info: dict[str, object] = {
            "id": f"750Sm{next(self._ids):010d}AAA",
            "operation": operation,
            "object": o.name,
            "createdById": USER_ID,
            "createdDate": self.org.now(),
            "systemModstamp": self.org.now(),
            "state": "Open",
            "concurrencyMode": "Serial"
            if body.get("concurrencyMode") in (1, "Serial")
            else "Parallel",
            "contentType": "JSON",
            "numberBatchesQueued": 0,
            "numberBatchesInProgress": 0,
            "numberBatchesCompleted": 0,
            "numberBatchesFailed": 0,
            "numberBatchesTotal": 0,
            "numberRecordsProcessed": 0,
            "numberRecordsFailed": 0,
            "apiVersion": float(version),
        }
        if operation == "upsert":
            f = o.field(str(body.get("externalIdFieldName", "")))
            if f is None or not (f.external_id or f.name == "Id"):
                raise BulkError("InvalidJob", "upsert needs an External ID externalIdFieldName")
            info["externalIdFieldName"] = f.name
        self._jobs[str(info["id"])] = _Job(info)
        return JSONResponse(info, status_code=201)

    def _set_state(self, job: _Job, body: object) -> Response:
        state = body.get("state") if isinstance(body, Mapping) else None
        if state not in ("Closed", "Aborted") or job.info["state"] != "Open":
            raise BulkError(
                "InvalidJobState", f"cannot set state {state} on a {job.info['state']} job"
            )
        job.info["state"] = state
        return JSONResponse(job.info)

    async def _add_batch(self, job: _Job, request: Request, version: str) -> Response:
        if job.info["state"] != "Open":
            raise BulkError("InvalidJobState", "Job is not open for new batches")
        raw = (await request.body()).decode("utf-8", errors="replace")
        number = next(self._ids)
        info: dict[str, object] = {
            "id": f"751Sm{number:010d}AAA",
            "jobId": job.info["id"],
            "state": "Completed",
            "createdDate": self.org.now(),
            "systemModstamp": self.org.now(),
            "totalProcessingTime": 0,
        }
        if job.info["operation"] in ("query", "queryAll"):
            batch = _Batch(info, [raw])
            self._run_query(job, batch, raw, version)
        else:
            try:
                records = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise BulkError("InvalidBatch", f"the batch is not JSON: {exc}") from None
            if not isinstance(records, list):
                raise BulkError("InvalidBatch", "a batch is a JSON array of records")
            if len(records) > 10000:
                raise BulkError("InvalidBatch", "a batch holds at most 10,000 records")
            batch = _Batch(info, records)
            batch.results = [self._one(job, r) for r in records]
        failed = sum(1 for r in batch.results if not r["success"])
        processed = len(batch.results) if batch.results else len(batch.rows)
        info.update(numberRecordsProcessed=processed, numberRecordsFailed=failed)
        job.batches[str(info["id"])] = batch
        for key in ("numberBatchesCompleted", "numberBatchesTotal"):
            job.info[key] = int(str(job.info[key])) + 1
        job.info["numberRecordsProcessed"] = int(str(job.info["numberRecordsProcessed"])) + int(
            str(info["numberRecordsProcessed"])
        )
        job.info["numberRecordsFailed"] = int(str(job.info["numberRecordsFailed"])) + failed
        return JSONResponse(info, status_code=201)

    def _run_query(self, job: _Job, batch: _Batch, soql: str, version: str) -> None:
        try:
            bound = parse_query(soql, now=self.org.clock())
        except SoqlError as exc:
            batch.info.update(state="Failed", stateMessage=f"{exc.code} : {exc.message}")
            return
        if bound.children or bound.count_only or bound.sobject.name != job.info["object"]:
            batch.info.update(
                state="Failed",
                stateMessage="InvalidBatch : the query must select fields of the job's object "
                "without sub-queries or aggregates",
            )
            return
        rows = self.org.query(bound, include_deleted=job.info["operation"] == "queryAll")
        batch.rows = [render_query_row(bound, r, version, self.org.parent) for r in rows]

    def _one(self, job: _Job, record: object) -> dict[str, object]:
        o = object_def(str(job.info["object"]))
        assert o is not None  # noqa: S101 - checked at job creation
        operation = job.info["operation"]
        values = dict(record) if isinstance(record, Mapping) else {}
        record_id = str(values.pop("Id", "") or "")
        try:
            if not isinstance(record, Mapping):
                raise SfError(400, "INVALID_INPUT", "a record must be a JSON object")
            with self.org.unit():
                created = False
                if operation == "insert":
                    record_id, created = self.org.create(o, values), True
                elif operation == "update":
                    self.org.update(o, record_id, values)
                elif operation == "upsert":
                    ext = str(job.info["externalIdFieldName"])
                    key = values.get(ext)
                    if key in (None, ""):
                        raise SfError(400, "MISSING_ARGUMENT", f"{ext} not specified", [ext])
                    record_id, created = self.org.upsert(o, ext, str(key), values)
                else:
                    self.org.delete(o, record_id)
        except SfError as exc:
            return {
                "id": record_id or None,
                "success": False,
                "created": False,
                "errors": [exc.result_error()],
            }
        return {"id": record_id, "success": True, "created": created, "errors": []}


async def _json(request: Request) -> object:
    try:
        return json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BulkError("InvalidJob", f"the request is not JSON: {exc}") from None
