"""OData V2 ``$batch`` on the client side: encode changesets, decode the multipart answer.

Reference §4. Every record's requests go in a changeset of their own (an order's header
``PATCH`` with its item requests), so SAP applies them atomically and one failing record
does not roll back the others; the answer then has one part per changeset, either a nested
multipart holding one response per request or, when the changeset failed, a single
``application/http`` error part in its place.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["BatchOperation", "PartAnswer", "decode_batch_answer", "encode_batch"]

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class BatchOperation:
    """One modifying request inside a changeset; ``path`` is relative to the service root."""

    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PartAnswer:
    """One inner HTTP answer: status, lower-case headers, body."""

    status: int
    headers: dict[str, str]
    body: bytes


def encode_batch(changesets: Sequence[Sequence[BatchOperation]]) -> tuple[str, bytes]:
    """(content type, body) of a ``$batch`` with one changeset per list of operations."""
    batch = f"batch_{uuid.uuid4()}"
    lines: list[str] = []
    for operations in changesets:
        changeset = f"changeset_{uuid.uuid4()}"
        lines += [f"--{batch}", f"Content-Type: multipart/mixed; boundary={changeset}", ""]
        for op in operations:
            lines += [
                f"--{changeset}",
                "Content-Type: application/http",
                "Content-Transfer-Encoding: binary",
                "",
                f"{op.method} {op.path} HTTP/1.1",
                "Accept: application/json",
            ]
            if op.body is not None:
                lines.append("Content-Type: application/json")
            lines += [f"{k}: {v}" for k, v in op.headers.items()]
            lines += ["", (op.body or b"").decode("utf-8")]
        lines += [f"--{changeset}--", ""]
    lines.append(f"--{batch}--")
    return f"multipart/mixed; boundary={batch}", "\r\n".join(lines).encode("utf-8")


def _split(body: bytes, boundary: str) -> list[bytes]:
    delimiter = b"--" + boundary.encode()
    chunks = body.split(delimiter)
    if len(chunks) < 2 or not chunks[-1].lstrip().startswith(b"--"):
        raise ValueError(f"multipart answer lacks its closing --{boundary}--")
    out = []
    for chunk in chunks[1:-1]:
        chunk = chunk.removeprefix(b"\r\n").removeprefix(b"\n")
        out.append(chunk.removesuffix(b"\n").removesuffix(b"\r"))
    return out


def _head_and_rest(data: bytes) -> tuple[dict[str, str], bytes]:
    for sep in (b"\r\n\r\n", b"\n\n"):
        at = data.find(sep)
        if at >= 0:
            head, rest = data[:at], data[at + len(sep) :]
            break
    else:
        head, rest = data, b""
    headers: dict[str, str] = {}
    text = head.decode("utf-8", "replace")
    for line in text.replace("\r\n", "\n").split("\n"):
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
        elif line.strip():
            headers.setdefault(":first", line.strip())
    return headers, rest


def _http_answer(part: bytes) -> PartAnswer:
    mime, inner = _head_and_rest(part)
    if "application/http" not in mime.get("content-type", "").lower():
        raise ValueError("an answer part is not application/http")
    headers, body = _head_and_rest(inner)
    status_line = headers.pop(":first", "")
    words = status_line.split(" ", 2)
    if (
        len(words) < 2
        or not words[0].startswith("HTTP/")
        or not (words[1].isascii() and words[1].isdigit())
    ):
        raise ValueError(f"bad status line {status_line[:60]!r}")
    return PartAnswer(int(words[1]), headers, body.rstrip(b"\r\n"))


def decode_batch_answer(content_type: str, body: bytes) -> list[list[PartAnswer]]:
    """One list per top-level part: a changeset's answers, or one error answer.

    Raises:
        ValueError: the body is not a multipart answer of that shape (says why).
    """
    match = _BOUNDARY.search(content_type)
    if match is None or "multipart/mixed" not in content_type.lower():
        raise ValueError(f"expected multipart/mixed with a boundary, got {content_type!r}")
    result: list[list[PartAnswer]] = []
    for part in _split(body, match[1].strip()):
        headers, rest = _head_and_rest(part)
        part_type = headers.get("content-type", "")
        if part_type.lower().startswith("multipart/mixed"):
            inner = _BOUNDARY.search(part_type)
            if inner is None:
                raise ValueError("changeset answer without a boundary")
            result.append([_http_answer(p) for p in _split(rest, inner[1].strip())])
        else:
            result.append([_http_answer(part)])
    return result
