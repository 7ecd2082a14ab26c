"""Excel .xlsx: streaming read (merged headers refused clearly) and streaming write."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook, load_workbook

from erpbridge.connectors.files import FilesConnector
from erpbridge.spi.records import WriteMode, WriteOp, WriteOutcome

from .conftest import drain, records_of

Make = Callable[..., FilesConnector]


def save(
    path: Path, rows: list[list[object]], merge: str | None = None, sheet: str = "Sheet"
) -> None:
    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.title = sheet
    for row in rows:
        ws.append(row)
    if merge:
        ws.merge_cells(merge)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)


def report(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


async def test_xlsx_rows_become_records_with_cell_types(make_local: Make, tmp_path: Path) -> None:
    rows: list[list[object]] = [
        ["物料编码", "名称", "数量", "日期"],
        ["M-1", "轴承", 12, datetime(2026, 11, 2, 8, 30)],
        ["M-2", "齿轮", 3.5, None],
    ]
    save(tmp_path / "drop" / "stock.xlsx", rows)
    conn = make_local(glob="*.xlsx", format="xlsx", key="物料编码")

    records = records_of(await drain(conn))

    assert [r.id for r in records] == ["M-1", "M-2"]
    assert records[0].fields["数量"] == 12
    assert records[0].fields["日期"] == "2026-11-02T08:30:00"
    assert records[1].fields["_row"] == 3
    assert (tmp_path / "drop" / "done" / "stock.xlsx").exists()


async def test_named_sheet_and_header_below_a_title(make_local: Make, tmp_path: Path) -> None:
    rows: list[list[object]] = [["库存报表"], ["code", "qty"], ["A", 1]]
    save(tmp_path / "drop" / "s.xlsx", rows, sheet="库存")
    conn = make_local(glob="*.xlsx", format="xlsx", key="code", sheet="库存", header_row=2)

    records = records_of(await drain(conn))

    assert [(r.id, r.fields["qty"]) for r in records] == [("A", 1)]


async def test_merged_header_cells_are_refused_with_their_range(
    make_local: Make, tmp_path: Path
) -> None:
    rows: list[list[object]] = [["客户信息", None, "金额"], ["C1", "华北", 10]]
    save(tmp_path / "drop" / "merged.xlsx", rows, merge="A1:B1")
    conn = make_local(glob="*.xlsx", format="xlsx")

    records = records_of(await drain(conn))

    assert records == []
    assert (tmp_path / "drop" / "failed" / "merged.xlsx").exists()
    (error,) = report(tmp_path / "drop" / "failed" / "merged.xlsx.errors.csv")
    assert error["row"] == "1"
    assert "merged header cells A1:B1" in error["reason"]


async def test_merged_body_cells_fail_their_rows_only(make_local: Make, tmp_path: Path) -> None:
    rows: list[list[object]] = [["id", "region"], ["1", "华北"], ["2", None], ["3", "华东"]]
    save(tmp_path / "drop" / "m.xlsx", rows, merge="B2:B3")
    conn = make_local(glob="*.xlsx", format="xlsx", key="id")

    records = records_of(await drain(conn))

    assert [r.id for r in records] == ["3"]
    errors = report(tmp_path / "drop" / "failed" / "m.xlsx.errors.csv")
    assert [e["row"] for e in errors] == ["2", "3"]
    assert all("B2:B3 are merged" in e["reason"] for e in errors)


async def test_excel_error_values_and_stray_cells_are_row_errors(
    make_local: Make, tmp_path: Path
) -> None:
    rows: list[list[object]] = [["id", "v"], ["1", "#DIV/0!"], ["2", 5, "stray"], ["3", 6]]
    save(tmp_path / "drop" / "e.xlsx", rows)
    conn = make_local(glob="*.xlsx", format="xlsx", key="id")

    records = records_of(await drain(conn))

    assert [r.id for r in records] == ["3"]
    errors = report(tmp_path / "drop" / "failed" / "e.xlsx.errors.csv")
    assert [(e["row"], e["column"]) for e in errors] == [("2", "v"), ("3", "C")]


async def test_not_an_xlsx_file_is_refused(make_local: Make, tmp_path: Path) -> None:
    (tmp_path / "drop").mkdir()
    (tmp_path / "drop" / "fake.xlsx").write_text("id,name\n", encoding="utf-8")
    conn = make_local(glob="*.xlsx", format="xlsx")

    records = records_of(await drain(conn))

    assert records == []
    (error,) = report(tmp_path / "drop" / "failed" / "fake.xlsx.errors.csv")
    assert "not a readable .xlsx file" in error["reason"]


async def test_xlsx_target_streams_rows_and_rolls_by_count(
    make_local: Make, tmp_path: Path
) -> None:
    conn = make_local(folder="out", format="xlsx", roll_records=2, columns=("编号", "数量"))
    batch = [WriteOp(WriteMode.CREATE, {"编号": f"N{i}", "数量": i}, ref=str(i)) for i in range(3)]

    results = await conn.write("orders", batch)

    files = sorted((tmp_path / "drop" / "out").glob("*.xlsx"))
    assert len(files) == 2
    book = load_workbook(files[0], read_only=True)
    assert list(book.worksheets[0].iter_rows(values_only=True)) == [
        ("编号", "数量"),
        ("N0", 0),
        ("N1", 1),
    ]
    book.close()
    assert all(r.outcome is WriteOutcome.CREATED for r in results)


async def test_xlsx_control_characters_fail_the_record_alone(
    make_local: Make, tmp_path: Path
) -> None:
    conn = make_local(folder="out", format="xlsx", columns=("a",))
    batch = [
        WriteOp(WriteMode.CREATE, {"a": "ok"}, ref="1"),
        WriteOp(WriteMode.CREATE, {"a": "bell\x07"}, ref="2"),
    ]

    results = await conn.write("orders", batch)

    assert [r.outcome for r in results] == [WriteOutcome.CREATED, WriteOutcome.FAILED]


async def test_empty_rows_keep_excel_row_numbers(make_local: Make, tmp_path: Path) -> None:
    rows: list[list[object]] = [["id", "v"], ["1", "a"], [None, None], ["3", "#N/A"]]
    save(tmp_path / "drop" / "gap.xlsx", rows)
    conn = make_local(glob="*.xlsx", format="xlsx", key="id")

    records = records_of(await drain(conn))

    assert [(r.id, r.fields["_row"]) for r in records] == [("1", 2)]
    (error,) = report(tmp_path / "drop" / "failed" / "gap.xlsx.errors.csv")
    assert (error["row"], error["column"]) == ("4", "v")
