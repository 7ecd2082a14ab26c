"""Bulk API 2.0 (``/services/data/vXX.X/jobs/ingest`` and ``/jobs/query``), reference §4.

Ingest: create a job (state ``Open``), ``PUT …/batches`` CSV (201), ``PATCH`` state
``UploadComplete``; the simulator then processes the job at once (Salesforce does it in
the background), so the next ``GET`` says ``JobComplete`` with ``numberRecordsProcessed`` /
``numberRecordsFailed``. Results: ``successfulResults/`` (``sf__Id,sf__Created,…``),
``failedResults/`` (``sf__Id,sf__Error,…``), ``unprocessedrecords/``. Each record is its
own unit (a failed row changes nothing; the others stay), as in Bulk API.

Query: create a job with the SOQL (checked at once: a bad query is a 400), ``GET`` says
``JobComplete``; ``…/results?maxRecords=&locator=`` gives CSV with ``Sforce-NumberOfRecords``
and ``Sforce-Locator`` (``null`` on the last page).

CSV values: empty means "not given" (Salesforce: ``#N/A`` sets null — also accepted);
booleans ``true``/``false``. Only ``COMMA`` delimiters and ``LF``/``CRLF`` line endings.
Jobs live in memory (Salesforce keeps them 7 days) and are lost on restart.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from erpbridge.sims.salesforce.errors import SfError, method_not_allowed, not_found
from erpbridge.sims.salesforce.render import render_query_row
from erpbridge.sims.salesforce.schema import ObjectDef, object_def
from erpbridge.sims.salesforce.soql import BoundQuery, SoqlError, parse_query
from erpbridge.sims.salesforce.state import USER_ID, OrgState, Row

__all__ = ["Bulk2Jobs"]

_OPERATIONS = {"insert", "update", "upsert", "delete", "hardDelete"}
_MAX_UPLOAD_BYTES = 100 * 1024 * 1024


@dataclass(slots=True)
class _Job:
    info: dict[str, object]
    csv: str = ""
    successful: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    bound: BoundQuery | None = None


def _csv_text(header: list[str], rows: list[dict[str, str]], *, quote_all: bool = False) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(
        out,
        fieldnames=header,
        lineterminator="\n",
        extrasaction="ignore",
        quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
    )
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _typed(o: ObjectDef, row: Mapping[str, str]) -> dict[str, object]:
    """CSV strings -> JSON-like values for the field checks (empty = not given)."""
    values: dict[str, object] = {}
    for name, text in row.items():
        if name is None or text == "":
            continue
        if text == "#N/A":
            values[name] = None
            continue
        f = o.field(name)
        if f is not None and f.type == "boolean" and text.lower() in ("true", "false"):
            values[name] = text.lower() == "true"
        else:
            values[name] = text
    return values


@dataclass(slots=True)
class Bulk2Jobs:
    """The org's Bulk API 2.0 jobs."""

    org: OrgState
    _jobs: dict[str, _Job] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def dispatch(
        self, parts: list[str], request: Request, version: str, body: object | None
    ) -> Response:
        """Answer ``jobs/{ingest|query}[/{id}[/…]]``; ``body`` is the parsed JSON, if any."""
        if not parts or parts[0] not in ("ingest", "query"):
            raise not_found()
        kind, rest = parts[0], parts[1:]
        method = request.method
        if not rest:
            if method != "POST":
                raise method_not_allowed(method, "GET,POST")
            return self._create(kind, body, version)
        job = self._jobs.get(rest[0])
        if job is None or job.info["jobType"] != ("V2Query" if kind == "query" else "V2Ingest"):
            raise SfError(404, "NOT_FOUND", "The requested resource does not exist")
        if len(rest) == 1:
            if method == "GET":
                return JSONResponse(job.info)
            if method == "PATCH":
                return self._set_state(job, body)
            if method == "DELETE":
                del self._jobs[rest[0]]
                return Response(status_code=204)
            raise method_not_allowed(method, "GET,PATCH,DELETE")
        leaf = rest[1]
        if kind == "ingest" and leaf == "batches" and method == "PUT":
            return await self._upload(job, request)
        if method != "GET":
            raise method_not_allowed(method, "GET")
        if kind == "query" and leaf == "results":
            return self._results(job, request, version)
        if kind == "ingest" and leaf in (
            "successfulResults",
            "failedResults",
            "unprocessedrecords",
        ):
            return self._ingest_results(job, leaf)
        raise not_found()

    def _create(self, kind: str, body: object, version: str) -> Response:
        if not isinstance(body, Mapping):
            raise SfError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        operation = body.get("operation")
        delimiter = body.get("columnDelimiter", "COMMA")
        if delimiter != "COMMA":
            raise SfError(
                400, "INVALIDJOB", f"columnDelimiter {delimiter} is not supported by the simulator"
            )
        number = next(self._ids)
        info: dict[str, object] = {
            "id": f"750Sm{number:010d}AAA",
            "operation": operation,
            "createdById": USER_ID,
            "createdDate": self.org.now(),
            "systemModstamp": self.org.now(),
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(version),
            "lineEnding": body.get("lineEnding", "LF"),
            "columnDelimiter": "COMMA",
            "jobType": "V2Query" if kind == "query" else "V2Ingest",
        }
        job = _Job(info)
        if kind == "query":
            if operation not in ("query", "queryAll"):
                raise SfError(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
            try:
                job.bound = parse_query(str(body.get("query", "")), now=self.org.clock())
            except SoqlError as exc:
                raise SfError(400, exc.code, exc.message) from None
            if job.bound.children:
                raise SfError(400, "INVALIDJOB", "Bulk API 2.0 does not support child sub-queries")
            if job.bound.count_only:
                raise SfError(400, "INVALIDJOB", "Aggregate queries are not supported in Bulk API")
            job.rows = self.org.query(job.bound, include_deleted=operation == "queryAll")
            job.header = [".".join(p.label) for p in job.bound.fields]
            info.update(state="UploadComplete", query=body.get("query"))
            info["numberRecordsProcessed"] = len(job.rows)
        else:
            o = object_def(str(body.get("object", "")))
            if operation not in _OPERATIONS:
                raise SfError(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
            if o is None:
                raise SfError(
                    400, "INVALIDJOB", f"InvalidJob : Invalid object: {body.get('object')}"
                )
            ext = body.get("externalIdFieldName")
            if operation == "upsert":
                f = o.field(str(ext or ""))
                if f is None or not (f.external_id or f.name == "Id"):
                    raise SfError(
                        400, "INVALIDJOB", f"InvalidJob : Invalid external id field: {ext}"
                    )
                info["externalIdFieldName"] = f.name
            info.update(
                object=o.name, state="Open", numberRecordsProcessed=0, numberRecordsFailed=0
            )
        self._jobs[str(info["id"])] = job
        response = JSONResponse(info, status_code=200)
        if kind == "query":
            info["state"] = "JobComplete"  # the query ran at creation
        return response

    async def _upload(self, job: _Job, request: Request) -> Response:
        if job.info["state"] != "Open":
            raise SfError(400, "INVALIDJOB", "InvalidJob : Job is not open for uploads")
        raw = await request.body()
        if len(raw) > _MAX_UPLOAD_BYTES:
            raise SfError(400, "INVALIDJOB", "InvalidBatch : data exceeds 100 MB")
        try:
            job.csv += raw.decode("utf-8")
        except UnicodeDecodeError:
            raise SfError(400, "INVALIDJOB", "InvalidBatch : the data is not UTF-8") from None
        return Response(status_code=201)

    def _set_state(self, job: _Job, body: object) -> Response:
        state = body.get("state") if isinstance(body, Mapping) else None
        if state == "Aborted" and job.info["state"] in ("Open", "UploadComplete", "InProgress"):
            job.info["state"] = "Aborted"
        elif state == "UploadComplete" and job.info["state"] == "Open":
            job.info["state"] = "UploadComplete"
            self._process(job)
        else:
            raise SfError(
                400,
                "INVALIDJOB",
                f"InvalidJob : cannot change state {job.info['state']} to {state}",
            )
        return JSONResponse(job.info)

    def _process(self, job: _Job) -> None:
        o = object_def(str(job.info["object"]))
        assert o is not None  # noqa: S101 - checked at job creation
        reader = csv.DictReader(io.StringIO(job.csv.replace("\r\n", "\n")))
        job.header = list(reader.fieldnames or [])
        operation, ext = job.info["operation"], job.info.get("externalIdFieldName")
        for row in reader:
            values = _typed(o, row)
            record_id = str(values.pop("Id", "") or "")
            try:
                with self.org.unit():
                    created = False
                    if operation == "insert":
                        record_id = self.org.create(o, values)
                        created = True
                    elif operation == "update":
                        self.org.update(o, record_id, values)
                    elif operation == "upsert":
                        key = str(values.get(str(ext), "") or row.get(str(ext), ""))
                        if not key:
                            raise SfError(
                                400, "MISSING_ARGUMENT", f"{ext} not specified", [str(ext)]
                            )
                        record_id, created = self.org.upsert(o, str(ext), key, values)
                    else:
                        self.org.delete(o, record_id)
                job.successful.append(
                    {"sf__Id": record_id, "sf__Created": str(created).lower(), **row}
                )
            except SfError as exc:
                fields = ":".join(exc.fields)
                error = f"{exc.code}:{exc.message}:{fields} --"
                job.failed.append({"sf__Id": record_id, "sf__Error": error, **row})
        job.info.update(
            state="JobComplete",
            numberRecordsProcessed=len(job.successful) + len(job.failed),
            numberRecordsFailed=len(job.failed),
            systemModstamp=self.org.now(),
        )

    def _ingest_results(self, job: _Job, leaf: str) -> Response:
        if leaf == "successfulResults":
            text = _csv_text(["sf__Id", "sf__Created", *job.header], job.successful)
        elif leaf == "failedResults":
            text = _csv_text(["sf__Id", "sf__Error", *job.header], job.failed)
        else:
            text = _csv_text(job.header, []) if job.header else ""
        return Response(text, media_type="text/csv")

    def _results(self, job: _Job, request: Request, version: str) -> Response:
        bound = job.bound
        assert bound is not None  # noqa: S101 - query jobs always have one
        try:
            limit = int(request.query_params.get("maxRecords", "50000"))
            start = int(request.query_params.get("locator", "0") or "0")
        except ValueError:
            raise SfError(400, "INVALIDJOB", "maxRecords and locator must be numbers") from None
        page = job.rows[start : start + max(1, limit)]
        end = start + len(page)
        out = []
        for row in page:
            rendered = render_query_row(bound, row, version, self.org.parent)
            out.append({name: _cell(rendered, name) for name in job.header})
        headers = {
            "Sforce-NumberOfRecords": str(len(page)),
            "Sforce-Locator": str(end) if end < len(job.rows) else "null",
        }
        # query results quote every value, as Salesforce's do
        text = _csv_text(job.header, out, quote_all=True)
        return Response(text, media_type="text/csv", headers=headers)


def _cell(rendered: Mapping[str, object], dotted: str) -> str:
    value: object = rendered
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else json.dumps(value)
