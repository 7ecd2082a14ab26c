"""Excel .xlsx: streaming read (openpyxl read-only) and streaming write (write-only).

openpyxl's read-only sheets do not expose merged cells, so the ``<mergeCells>`` part of
the sheet's XML (written after ``<sheetData>``) is found by a byte scan of the
decompressed stream: one pass, constant memory.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator, Sequence
from datetime import date, datetime, time
from pathlib import Path

from openpyxl import Workbook, load_workbook
from openpyxl.utils.cell import get_column_letter, range_boundaries
from openpyxl.utils.exceptions import IllegalCharacterError, InvalidFileException
from openpyxl.worksheet._read_only import ReadOnlyWorksheet

from erpbridge.connectors.files.reading import (
    FileRefusedError,
    Row,
    RowError,
    check_columns,
    convert_types,
)
from erpbridge.connectors.files.settings import FileSet

__all__ = ["XlsxWriter", "read_xlsx"]

_ERROR_VALUES = frozenset({"#DIV/0!", "#N/A", "#NAME?", "#NULL!", "#NUM!", "#REF!", "#VALUE!"})
_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\s+ref="([A-Z]+[0-9]+:[A-Z]+[0-9]+)"')
_CHUNK = 1 << 20

#: a merged range: (first row, last row, its A1 text).
_Merge = tuple[int, int, str]


def _merged_ranges(path: Path, member: str) -> list[_Merge]:
    found: list[_Merge] = []
    tail = b""
    with zipfile.ZipFile(path) as archive, archive.open(member) as fh:
        seen_tag = False
        while chunk := fh.read(_CHUNK):
            data = tail + chunk
            if not seen_tag and b"mergeCell" not in data:
                tail = data[-64:]
                continue
            seen_tag = True
            tail = data
        if not seen_tag:
            return []
        for match in _MERGE.finditer(tail):
            ref = match.group(1).decode()
            _, min_row, _, max_row = range_boundaries(ref)
            found.append((int(min_row or 0), int(max_row or 0), ref))
    return found


def _cell_value(value: object) -> object:
    # Records travel as JSON: dates and times become ISO text.
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value


def read_xlsx(path: Path, fs: FileSet) -> Iterator[Row | RowError]:
    """Rows of one sheet; ``row`` is the Excel row number.

    Raises:
        FileRefusedError: not an xlsx file, no such sheet, merged or empty header cells.
    """
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise FileRefusedError(f"not a readable .xlsx file: {exc}") from exc
    try:
        if fs.sheet is not None and fs.sheet not in book.sheetnames:
            raise FileRefusedError(f"no sheet {fs.sheet!r} (sheets: {book.sheetnames})")
        sheet = book[fs.sheet] if fs.sheet else book.worksheets[0]
        if isinstance(sheet, ReadOnlyWorksheet):
            # Some writers store a wrong <dimension>; openpyxl would cut rows to it.
            sheet.reset_dimensions()
        merges = _merged_ranges(path, str(getattr(sheet, "_worksheet_path", "")))
        for first, _, ref in merges:
            if first <= fs.header_row:
                raise FileRefusedError(
                    f"merged header cells {ref}: a header must be one row of distinct names; "
                    "unmerge the cells and give each column its own name",
                    row=first,
                )
        body = [(first, last, ref) for first, last, ref in merges if first > fs.header_row]
        yield from _sheet_rows(sheet.iter_rows(values_only=True), fs, body)
    finally:
        book.close()


def _sheet_rows(
    rows: Iterator[tuple[object, ...]], fs: FileSet, merges: Sequence[_Merge]
) -> Iterator[Row | RowError]:
    header: tuple[object, ...] = ()
    for _ in range(fs.header_row):
        header = next(rows, ())
    names = [("" if v is None else str(v)).strip() for v in header]
    while names and not names[-1]:
        names.pop()  # openpyxl may report styled empty cells past the last column
    if not names:
        raise FileRefusedError("the sheet has no header row", row=fs.header_row)
    for i, name in enumerate(names):
        if not name:
            letter = get_column_letter(i + 1)
            raise FileRefusedError(
                f"header cell {letter}{fs.header_row} is empty (a merged header?)",
                row=fs.header_row,
                column=letter,
            )
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise FileRefusedError(f"column name {dup!r} appears twice", row=fs.header_row, column=dup)
    check_columns(names, fs, fs.header_row)
    width = len(names)
    for number, values in enumerate(rows, start=fs.header_row + 1):
        if all(v is None for v in values):
            continue
        error = _row_error(number, values, names, width, merges)
        if error is not None:
            yield error
            continue
        padded = list(values[:width]) + [None] * (width - len(values))
        fields: dict[str, object] = {n: _cell_value(v) for n, v in zip(names, padded, strict=True)}
        problem = convert_types(fields, fs.types)
        if problem is not None:
            yield RowError(number, problem[0], problem[1])
            continue
        yield number, fields


def _row_error(
    number: int,
    values: tuple[object, ...],
    names: list[str],
    width: int,
    merges: Sequence[_Merge],
) -> RowError | None:
    for first, last, ref in merges:
        if first <= number <= last:
            return RowError(number, "", f"cells {ref} are merged; unmerge and fill each row")
    for i in range(width, len(values)):
        if values[i] is not None:
            return RowError(number, get_column_letter(i + 1), "a value beyond the last column")
    for i, value in enumerate(values[:width]):
        if isinstance(value, str) and value in _ERROR_VALUES:
            return RowError(number, names[i], f"the cell holds the Excel error {value}")
    return None


class XlsxWriter:
    """Writes records into one new .xlsx file, streaming (openpyxl write-only)."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self.path = path
        self.columns = list(columns)
        self.count = 0
        self._book = Workbook(write_only=True)
        self._sheet = self._book.create_sheet()
        self._sheet.append(self.columns)

    def add(self, values: Sequence[object]) -> str | None:
        """Append one row; the column that cannot be stored (None when written)."""
        try:
            self._sheet.append(list(values))
        except IllegalCharacterError:
            for column, value in zip(self.columns, values, strict=True):
                if isinstance(value, str) and _has_illegal(value):
                    return column
            return self.columns[0]
        self.count += 1
        return None

    def close(self) -> None:
        """Write the workbook to ``path``."""
        self._book.save(self.path)


def _has_illegal(value: str) -> bool:
    return any(ord(c) < 32 and c not in "\t\n\r" for c in value)
