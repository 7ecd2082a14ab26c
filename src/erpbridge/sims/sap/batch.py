"""``$batch``: multipart/mixed requests with changesets, answered as SAP Gateway does.

Reference §4: the body is a list of parts, each either a retrieve (``application/http``
holding one GET) or a changeset (a nested ``multipart/mixed`` of modifying requests).
Changesets run atomically and in order: the first failing operation rolls back the whole
changeset and the answer is one error part in its place. Retrieve parts run independently.
The outer status is 202 whatever happens inside. Content-ID references (``$1``) are not
supported (README.md).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import parse_qsl, unquote, urlsplit

from erpbridge.sims.sap.errors import ODataError
from erpbridge.sims.sap.service import ODataRequest, ODataResponse
from erpbridge.sims.sap.state import SapState

__all__ = ["MAX_BATCH_OPERATIONS", "handle_batch"]

#: operations per $batch; more is refused with 400 (Gateway's limit is by time, UNSURE).
MAX_BATCH_OPERATIONS = 1000

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_MODIFYING = {"POST", "PUT", "PATCH", "MERGE", "DELETE"}


def _batch_error(message: str) -> ODataError:
    return ODataError(400, "/IWBEP/CM_MGW_RT/007", f"Invalid batch request: {message}")


@dataclass(frozen=True, slots=True)
class _Part:
    headers: dict[str, str]
    body: bytes


class _RollbackError(Exception):
    def __init__(self, response: ODataResponse) -> None:
        self.response = response


def _boundary(content_type: str) -> str:
    match = _BOUNDARY.search(content_type)
    if match is None or not content_type.lower().startswith("multipart/mixed"):
        raise _batch_error("Content-Type must be multipart/mixed with a boundary")
    return match[1].strip()


def _split_head(data: bytes) -> tuple[list[str], bytes]:
    """Header lines and the rest, split at the first blank line (CRLF or LF)."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        at = data.find(sep)
        if at >= 0:
            head, rest = data[:at], data[at + len(sep) :]
            break
    else:
        head, rest = data, b""
    lines = head.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
    return [line for line in lines], rest


def _headers(lines: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise _batch_error(f"malformed header line {line[:60]!r}")
        headers[name.strip().lower()] = value.strip()
    return headers


def _split_parts(body: bytes, boundary: str) -> list[_Part]:
    delimiter = b"--" + boundary.encode()
    chunks = body.split(delimiter)
    if len(chunks) < 2 or not chunks[-1].lstrip().startswith(b"--"):
        raise _batch_error(f"missing closing delimiter --{boundary}--")
    parts: list[_Part] = []
    for chunk in chunks[1:-1]:
        chunk = chunk.removeprefix(b"\r\n").removeprefix(b"\n")
        chunk = chunk.removesuffix(b"\n").removesuffix(b"\r")
        lines, rest = _split_head(chunk)
        parts.append(_Part(_headers(lines), rest))
    return parts


@dataclass(frozen=True, slots=True)
class _Inner:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes


def _inner_request(part: _Part) -> _Inner:
    if "application/http" not in part.headers.get("content-type", "").lower():
        raise _batch_error("each operation must be an application/http part")
    lines, body = _split_head(part.body)
    request_line = lines[0].strip() if lines else ""
    words = request_line.split(" ")
    if len(words) != 3 or not words[2].startswith("HTTP/"):
        raise _batch_error(f"bad request line {request_line[:80]!r}")
    method, target = words[0].upper(), words[1]
    split = urlsplit(target)
    return _Inner(
        method,
        unquote(split.path),
        dict(parse_qsl(split.query, keep_blank_values=True)),
        _headers(lines[1:]),
        body.rstrip(b"\r\n"),
    )


def _http_part(response: ODataResponse, boundary_line: str) -> str:
    try:
        reason = HTTPStatus(response.status).phrase
    except ValueError:
        reason = "Error"
    head = [
        boundary_line,
        "Content-Type: application/http",
        "Content-Transfer-Encoding: binary",
        "",
        f"HTTP/1.1 {response.status} {reason}",
    ]
    body = response.body.decode("utf-8")
    headers = dict(response.headers)
    headers["content-length"] = str(len(response.body))
    head += [f"{_title(k)}: {v}" for k, v in headers.items()]
    return "\r\n".join([*head, "", body])


def _title(name: str) -> str:
    return "-".join(word.capitalize() for word in name.split("-"))


def handle_batch(
    state: SapState,
    outer: ODataRequest,
    run: Callable[[ODataRequest], ODataResponse],
) -> ODataResponse:
    """Answer a ``$batch`` request; ``run`` answers one inner request.

    Raises:
        ODataError: 400 when the multipart body itself is malformed (nothing ran then).
    """
    boundary = _boundary(outer.headers.get("content-type", ""))
    parts = _split_parts(outer.body, boundary)
    plan: list[list[_Inner] | _Inner] = []
    operations = 0
    for part in parts:
        content_type = part.headers.get("content-type", "")
        if content_type.lower().startswith("multipart/mixed"):
            inner = [_inner_request(p) for p in _split_parts(part.body, _boundary(content_type))]
            for op in inner:
                if op.method not in _MODIFYING:
                    raise _batch_error(f"{op.method} is not allowed inside a changeset")
            plan.append(inner)
            operations += len(inner)
        else:
            op = _inner_request(part)
            if op.method != "GET":
                raise _batch_error(f"{op.method} outside a changeset (only GET is allowed there)")
            plan.append(op)
            operations += 1
    if operations > MAX_BATCH_OPERATIONS:
        raise _batch_error(f"{operations} operations; at most {MAX_BATCH_OPERATIONS} per $batch")

    def to_request(op: _Inner) -> ODataRequest:
        return ODataRequest(
            op.method, outer.service, op.path, op.params, op.headers, op.body, outer.root_url
        )

    out_boundary = f"batchresponse_{uuid.uuid4()}"
    with state.persist_together():
        chunks = _run_plan(state, plan, to_request, run, out_boundary)
    text = "\r\n".join([*chunks, f"--{out_boundary}--", ""])
    return ODataResponse(
        202,
        {"content-type": f"multipart/mixed; boundary={out_boundary}"},
        text.encode("utf-8"),
    )


def _run_plan(
    state: SapState,
    plan: list[list[_Inner] | _Inner],
    to_request: Callable[[_Inner], ODataRequest],
    run: Callable[[ODataRequest], ODataResponse],
    out_boundary: str,
) -> list[str]:
    """Run the parts in order; the answer parts (changesets atomic, GETs on their own)."""
    chunks: list[str] = []
    for item in plan:
        if isinstance(item, _Inner):
            chunks.append(_http_part(run(to_request(item)), f"--{out_boundary}"))
            continue
        try:
            with state.transaction():
                answers = []
                for op in item:
                    response = run(to_request(op))
                    if response.status >= 400:
                        raise _RollbackError(response)
                    answers.append(response)
        except _RollbackError as failed:
            chunks.append(_http_part(failed.response, f"--{out_boundary}"))
            continue
        cs_boundary = f"changesetresponse_{uuid.uuid4()}"
        inner_parts = [_http_part(a, f"--{cs_boundary}") for a in answers]
        chunks.append(
            "\r\n".join(
                [
                    f"--{out_boundary}",
                    f"Content-Type: multipart/mixed; boundary={cs_boundary}",
                    "",
                    *inner_parts,
                    f"--{cs_boundary}--",
                    "",
                ]
            )
        )
    return chunks
