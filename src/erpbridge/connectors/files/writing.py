"""Building target files locally, one part at a time (csv, jsonl; xlsx in xlsx.py).

Each row is formatted and encoded before anything is written, so a record that cannot be
stored (a character the target encoding lacks) fails alone and never leaves half a row.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from erpbridge.connectors.files.settings import FileSet
from erpbridge.connectors.files.xlsx import XlsxWriter

__all__ = ["PartWriter", "cell_text", "open_part"]


class PartWriter(Protocol):
    """One target file being built."""

    count: int

    def add(self, values: Sequence[object]) -> str | None:
        """Append one record; the column that cannot be stored, or None when written."""
        ...

    def close(self) -> None:
        """Finish the file."""
        ...


def cell_text(value: object) -> str:
    """A value as CSV text: None empty, nested values as JSON, dates as ISO."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


class _TextPart:
    """CSV or JSON lines into a binary file; ``size`` counts the bytes written."""

    def __init__(self, path: Path, fs: FileSet, columns: Sequence[str]) -> None:
        self.path = path
        self.columns = list(columns)
        self.count = 0
        self.size = 0
        self._json = fs.format == "jsonl"
        encoding = "utf-8" if fs.encoding == "auto" else fs.encoding
        self._encoding = encoding
        self._buffer = io.StringIO()
        self._csv = csv.writer(
            self._buffer, delimiter=fs.delimiter, quotechar=fs.quotechar, lineterminator="\r\n"
        )
        self._fh = path.open("wb")
        if not self._json:
            header = self._format(self.columns)
            if isinstance(header, bytes):
                self._write(header)
            else:
                self._fh.close()
                raise UnicodeError(f"column name {header!r} cannot be written as {encoding}")

    def _format(self, values: Sequence[object]) -> bytes | str:
        if self._json:
            record = dict(zip(self.columns, values, strict=True))
            text = json.dumps(record, ensure_ascii=False, default=_json_default) + "\n"
        else:
            self._buffer.seek(0)
            self._buffer.truncate()
            self._csv.writerow([cell_text(v) for v in values])
            text = self._buffer.getvalue()
        try:
            return text.encode(self._encoding)
        except UnicodeEncodeError:
            for column, value in zip(self.columns, values, strict=True):
                try:
                    cell_text(value).encode(self._encoding)
                except UnicodeEncodeError:
                    return column
            return self.columns[0]

    def _write(self, data: bytes) -> None:
        self._fh.write(data)
        self.size += len(data)

    def add(self, values: Sequence[object]) -> str | None:
        """Append one record; the column that the encoding cannot hold, else None."""
        data = self._format(values)
        if isinstance(data, str):
            return data
        self._write(data)
        self.count += 1
        return None

    def close(self) -> None:
        """Flush and close."""
        self._fh.close()


def open_part(path: Path, fs: FileSet, columns: Sequence[str]) -> PartWriter:
    """A writer for a new part file at ``path`` in the file set's format."""
    if fs.format == "xlsx":
        return XlsxWriter(path, columns)
    return _TextPart(path, fs, columns)
