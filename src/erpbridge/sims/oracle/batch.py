"""The batch media type (reference §4): ``POST <version root>`` with
``Content-Type: application/vnd.oracle.adf.batch+json`` and ``{"parts": [...]}``.

Each part has ``id``, ``path`` (relative to the version root), ``operation`` (get, create,
update, replace, delete), an optional ``payload`` and an optional ``ifMatch``. Parts run in
order inside one transaction: all-or-nothing. When a part fails, nothing is committed and
the answer lists only the failing part, its ``payload`` being the error (Oracle's batch page:
"only the part containing the error is listed in the response … none of the parts are
processed"). The HTTP status of such an answer and the error's place inside the part are
not documented [U]: we answer 400 and put the error object (as for a single call, with its
``status``) in the part's ``payload``. ``Upsert-Mode: true`` on the batch request applies to
its create parts [U]. ``Accept: application/vnd.oracle.adf.resourceitem+json;q=0`` leaves the
payloads out of a successful answer (documented for large upserts).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast
from urllib.parse import parse_qsl

from erpbridge.sims.oracle.errors import TITLES, OracleError
from erpbridge.sims.oracle.query import QueryError
from erpbridge.sims.oracle.service import Answer, Call
from erpbridge.sims.oracle.state import OracleState

__all__ = ["BATCH_MEDIA_TYPE", "MAX_PARTS", "handle_batch"]

BATCH_MEDIA_TYPE = "application/vnd.oracle.adf.batch+json"
#: the framework sets no limit (reference §4); the simulator caps a request all the same.
MAX_PARTS = 1000
_METHODS = {"get": "GET", "create": "POST", "update": "PATCH", "replace": "PUT", "delete": "DELETE"}


class _PartFailedError(Exception):
    def __init__(self, part: dict[str, object], error: OracleError) -> None:
        self.part = part
        self.error = error


def _check_parts(payload: object) -> list[dict[str, object]]:
    if not isinstance(payload, dict) or not isinstance(payload.get("parts"), list):
        raise OracleError(400, 'A batch request body is {"parts": [...]}.', "", "/parts")
    parts = cast(list[object], payload["parts"])
    if not parts:
        raise OracleError(400, "A batch request needs at least one part.", "", "/parts")
    if len(parts) > MAX_PARTS:
        raise OracleError(400, f"A batch request takes at most {MAX_PARTS} parts.", "", "/parts")
    seen: set[str] = set()
    for index, part in enumerate(parts):
        where = f"/parts/{index}"
        if not isinstance(part, dict):
            raise OracleError(400, "A part must be a JSON object.", "", where)
        pid, path, op = part.get("id"), part.get("path"), part.get("operation")
        if not isinstance(pid, str) or not pid or pid in seen:
            raise OracleError(400, "Each part needs a unique string id.", "", f"{where}/id")
        seen.add(pid)
        if not isinstance(path, str) or not path.startswith("/"):
            raise OracleError(400, "A part's path starts with /.", "", f"{where}/path")
        if op not in _METHODS:
            known = ", ".join(_METHODS)
            raise OracleError(
                400, f"A part's operation is one of {known}.", "", f"{where}/operation"
            )
    return cast(list[dict[str, object]], parts)


def _error_payload(error: OracleError) -> dict[str, object]:
    detail: dict[str, object] = {"detail": error.detail}
    if error.code:
        detail["o:errorCode"] = error.code
    if error.path:
        detail["o:errorPath"] = error.path
    return {
        "title": TITLES.get(error.status, "Error"),
        "status": str(error.status),
        "o:errorDetails": [detail],
    }


def handle_batch(state: OracleState, call: Call, handle: Callable[[Call], Answer]) -> Answer:
    """Run every part of a batch request, all or nothing."""
    parts = _check_parts(call.payload)
    suppress = "resourceitem+json;q=0" in call.headers.get("accept", "").replace(" ", "")
    answers: list[dict[str, object]] = []
    try:
        with state.transaction():
            for part in parts:
                path, _, query = cast(str, part["path"]).partition("?")
                headers = {k: v for k, v in call.headers.items() if k == "upsert-mode"}
                if isinstance(part.get("ifMatch"), str):
                    headers["if-match"] = cast(str, part["ifMatch"])
                sub = Call(
                    method=_METHODS[cast(str, part["operation"])],
                    path=path,
                    query=dict(parse_qsl(query, keep_blank_values=True)),
                    headers=headers,
                    root=call.root,
                    payload=part.get("payload"),
                    framework_version=call.framework_version,
                    family=call.family,
                )
                try:
                    answer = handle(sub)
                except QueryError as exc:
                    raise _PartFailedError(part, OracleError(400, str(exc))) from None
                except OracleError as exc:
                    raise _PartFailedError(part, exc) from None
                out = {k: part[k] for k in ("id", "path", "operation")}
                if "if-match" in headers:
                    out["preconditionSucceeded"] = True
                if not (suppress and part["operation"] != "get"):
                    out["payload"] = answer.body
                answers.append(out)
    except _PartFailedError as failed:
        out = {k: failed.part[k] for k in ("id", "path", "operation")}
        if failed.error.status == 412:
            out["preconditionSucceeded"] = False
        out["payload"] = _error_payload(failed.error)
        return Answer(400, {"parts": [out]}, BATCH_MEDIA_TYPE)
    return Answer(200, {"parts": answers}, BATCH_MEDIA_TYPE)
