"""Reading one local file into records, row by row, with errors located (file, row, column).

Everything here is blocking and runs in a worker thread (``asyncio.to_thread``). Files are
streamed: CSV and JSON lines line by line, xlsx through openpyxl's read-only mode
(xlsx.py), so memory stays flat whatever the file's size.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from erpbridge.connectors.files.settings import FileSet, ValueType

__all__ = [
    "FileRefusedError",
    "Row",
    "RowError",
    "check_columns",
    "convert_types",
    "hash_and_sniff",
    "read_csv",
    "read_jsonl",
]

_CHUNK = 1 << 20
#: bytes the decoder could not read show up as lone surrogates (surrogateescape).
_UNDECODED = re.compile("[\udc80-\udcff]+")
_TRUE = frozenset({"true", "1", "yes", "y", "是", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "否", "f"})


@dataclass(frozen=True, slots=True)
class RowError:
    """One row that could not be read: its row (as a spreadsheet shows it), column, reason."""

    row: int
    column: str
    reason: str


#: a good row: its row number and its fields.
Row = tuple[int, dict[str, object]]


class FileRefusedError(Exception):
    """The whole file cannot be read (no header, merged header cells …); nothing is yielded."""

    def __init__(self, reason: str, *, row: int = 0, column: str = "") -> None:
        self.reason = reason
        self.row = row
        self.column = column
        super().__init__(reason)


def hash_and_sniff(path: Path, encoding: str) -> tuple[str, str]:
    """The file's SHA-256 and the encoding to read it with, in one streaming pass.

    ``auto``: a UTF-8 BOM gives ``utf-8-sig``, a UTF-16 BOM ``utf-16``; else ``utf-8``
    when the file is UTF-8 (a few undecodable bytes among plenty of valid multi-byte
    text are bad rows of a UTF-8 file, reported as such, not a reason to misread every
    other row), else ``gb18030`` (what Chinese Excel saves as "CSV", a superset of GBK
    and GB2312). A given encoding is kept; ``utf-8`` becomes ``utf-8-sig`` so a BOM never
    sticks to the first column name.
    """
    digest = hashlib.sha256()
    detect = encoding == "auto"
    is_utf8 = detect or codecs.lookup(encoding).name == "utf-8"
    found = "utf-8-sig" if is_utf8 else encoding
    decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape") if detect else None
    bad = extra = 0
    first = True
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            if first and detect:
                first = False
                if chunk.startswith(codecs.BOM_UTF8):
                    decoder = None
                elif chunk.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                    found, decoder = "utf-16", None
            if decoder is not None:
                text = decoder.decode(chunk)
                undecoded = sum(len(m) for m in _UNDECODED.findall(text))
                bad += undecoded
                # each valid multi-byte character adds its length - 1 to this
                extra += len(chunk) - len(text)
    if decoder is not None:
        bad += len(decoder.decode(b"", final=True))
        if bad and extra < 8 * bad:
            found = "gb18030"
    return digest.hexdigest(), found


def _header(names: list[str], encoding: str, row: int) -> list[str]:
    header = [n.strip().lstrip("\ufeff") for n in names]
    for i, name in enumerate(header):
        if _UNDECODED.search(name):
            raise FileRefusedError(
                f"the header is not valid {encoding} text (wrong encoding?)", row=row
            )
        if not name:
            raise FileRefusedError(
                f"column {i + 1} of the header has no name", row=row, column=str(i + 1)
            )
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise FileRefusedError(f"column name {name!r} appears twice", row=row, column=name)
        seen.add(name)
    return header


def check_columns(header: list[str], fs: FileSet, row: int) -> None:
    """Refuse a file whose header lacks a column the file set names (``columns``, ``key``).

    Extra columns are fine; a missing one would silently map to null on every record.
    """
    wanted = list(fs.columns) + ([fs.key] if fs.key else [])
    missing = [c for c in dict.fromkeys(wanted) if c not in header]
    if missing:
        raise FileRefusedError(
            f"the header lacks column(s) {', '.join(missing)} (it has: {', '.join(header)})",
            row=row,
        )


def read_csv(path: Path, fs: FileSet, encoding: str) -> Iterator[Row | RowError]:
    """Rows of a CSV file; ``row`` is the line a record starts on (the header's is 1).

    Raises:
        FileRefusedError: no header, or a header that is empty, duplicated or undecodable.
    """
    with path.open("r", encoding=encoding, errors="surrogateescape", newline="") as fh:
        reader = csv.reader(fh, delimiter=fs.delimiter, quotechar=fs.quotechar, strict=True)
        header: list[str] | None = None
        for _ in range(fs.header_row):
            start = reader.line_num + 1
            try:
                header = next(reader)
            except StopIteration:
                raise FileRefusedError("the file has no header row (empty file)") from None
            except csv.Error as exc:
                raise FileRefusedError(f"malformed header: {exc}", row=start) from exc
        columns = _header(header or [], encoding, reader.line_num)
        check_columns(columns, fs, reader.line_num)
        yield from _csv_rows(reader, columns, fs, encoding)


def _csv_rows(
    reader: Iterator[list[str]], columns: list[str], fs: FileSet, encoding: str
) -> Iterator[Row | RowError]:
    width = len(columns)
    line_num = 0
    while True:
        start = reader.line_num + 1  # type: ignore[attr-defined]  # a csv reader
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            hint = " (an unclosed quote?)" if "end of data" in str(exc) else ""
            yield RowError(start, "", f"malformed CSV: {exc}{hint}")
            continue
        line_num = start
        if not values:
            continue  # a blank line
        if len(values) != width:
            yield RowError(line_num, "", f"{len(values)} values, the header has {width} columns")
            continue
        bad = _undecoded_column(values, columns)
        if bad is not None:
            column, raw = bad
            yield RowError(line_num, column, f"bytes {raw} are not valid {encoding} text")
            continue
        fields: dict[str, object] = dict(zip(columns, values, strict=True))
        yield _typed(line_num, fields, fs.types)


def _undecoded_column(values: list[str], columns: list[str]) -> tuple[str, str] | None:
    if not _UNDECODED.search("".join(values)):
        return None
    for column, value in zip(columns, values, strict=True):
        hit = _UNDECODED.search(value)
        if hit:
            raw = hit.group().encode("utf-8", "surrogateescape")[:8].hex(" ")
            return column, raw
    return None


def _typed(row: int, fields: dict[str, object], types: Mapping[str, ValueType]) -> Row | RowError:
    error = convert_types(fields, types)
    if error is not None:
        column, reason = error
        return RowError(row, column, reason)
    return row, fields


def convert_types(
    fields: dict[str, object], types: Mapping[str, ValueType]
) -> tuple[str, str] | None:
    """Convert ``fields`` in place per ``types``; the first (column, reason) that fails.

    Empty text becomes None. Dates and datetimes are kept as ISO text (records travel as
    JSON); integers and decimals as ``int`` and ``Decimal``.
    """
    for column, kind in types.items():
        value = fields.get(column)
        if value is None or kind == "string":
            continue
        if isinstance(value, str):
            value = value.strip()
            if value == "":
                fields[column] = None
                continue
        try:
            fields[column] = _convert(value, kind)
        except (ValueError, InvalidOperation):
            return column, f"{value!r} is not a valid {kind}"
    return None


def _convert(value: object, kind: ValueType) -> object:
    if kind == "integer":
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(kind)
        return int(str(value).replace(",", ""))
    if kind == "decimal":
        return Decimal(str(value).replace(",", ""))
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise ValueError(kind)
    if kind == "date":
        if isinstance(value, datetime):
            return value.date().isoformat()
        if isinstance(value, date):
            return value.isoformat()
        return date.fromisoformat(str(value).replace("/", "-")).isoformat()
    if isinstance(value, datetime):
        return value.isoformat()
    return datetime.fromisoformat(str(value).replace("/", "-")).isoformat()


def read_jsonl(path: Path, fs: FileSet, encoding: str) -> Iterator[Row | RowError]:
    """Rows of a JSON-lines file: one JSON object per line; ``row`` is the line number."""
    with path.open("r", encoding=encoding, errors="surrogateescape", newline="\n") as fh:
        for number, line in enumerate(fh, start=1):
            text = line.strip()
            if not text:
                continue
            if _UNDECODED.search(text):
                yield RowError(number, "", f"the line is not valid {encoding} text")
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                yield RowError(number, "", f"not JSON: {exc.msg} at character {exc.colno}")
                continue
            if not isinstance(value, dict):
                yield RowError(number, "", f"a JSON {type(value).__name__}, not an object")
                continue
            yield _typed(number, value, fs.types)
