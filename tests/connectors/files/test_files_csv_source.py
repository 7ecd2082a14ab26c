"""A local folder as a CSV source: encodings, delimiters, once per content, done/ and failed/."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from erpbridge.connectors.files import FilesConnector
from erpbridge.connectors.files.finish import LEDGER
from erpbridge.spi.records import Cursor

from .conftest import ManualClock, drain, poll, records_of

Make = Callable[..., FilesConnector]

CHINESE = "订单号,客户名称,金额\nSO-1,华北机械有限公司,1200.50\nSO-2,上海贸易,88\n"


def report_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig", "utf-8"])
async def test_chinese_csv_is_read_in_any_common_encoding(
    make_local: Make, tmp_path: Path, encoding: str
) -> None:
    (tmp_path / "drop").mkdir()
    (tmp_path / "drop" / "orders.csv").write_bytes(CHINESE.encode(encoding))
    conn = make_local(key="订单号")

    records = records_of(await drain(conn))

    assert [r.id for r in records] == ["SO-1", "SO-2"]
    assert records[0].fields["客户名称"] == "华北机械有限公司"
    assert list(records[0].fields)[:3] == ["订单号", "客户名称", "金额"]  # no BOM on the name


async def test_explicit_encoding_is_used_as_given(make_local: Make, tmp_path: Path) -> None:
    (tmp_path / "drop").mkdir()
    (tmp_path / "drop" / "orders.csv").write_bytes(CHINESE.encode("gb18030"))
    conn = make_local(key="订单号", encoding="gb18030")

    records = records_of(await drain(conn))

    assert records[1].fields["客户名称"] == "上海贸易"


@pytest.mark.parametrize(("delimiter", "sep"), [(";", ";"), ("\t", "\t"), ("|", "|")])
async def test_delimiters_and_quoted_newlines(
    make_local: Make, tmp_path: Path, delimiter: str, sep: str
) -> None:
    (tmp_path / "drop").mkdir()
    text = f'id{sep}note\n1{sep}"two\nlines{sep} quoted"\n2{sep}plain\n'
    (tmp_path / "drop" / "orders.csv").write_text(text, encoding="utf-8")
    conn = make_local(key="id", delimiter=delimiter)

    records = records_of(await drain(conn))

    assert [r.fields["note"] for r in records] == [f"two\nlines{sep} quoted", "plain"]
    assert [r.fields["_row"] for r in records] == [2, 4]


async def test_header_row_below_a_title_and_types_convert(make_local: Make, tmp_path: Path) -> None:
    (tmp_path / "drop").mkdir()
    text = '销售订单导出 2026-11\nid,qty,amount,ok,day\n1,"1,200",3.50,是,2026/11/02\n'
    (tmp_path / "drop" / "orders.csv").write_text(text, encoding="utf-8")
    types = {"qty": "integer", "amount": "decimal", "ok": "boolean", "day": "date"}
    conn = make_local(key="id", header_row=2, types=types)

    (record,) = records_of(await drain(conn))

    assert record.fields["qty"] == 1200
    assert str(record.fields["amount"]) == "3.50"
    assert record.fields["ok"] is True
    assert record.fields["day"] == "2026-11-02"


async def test_read_file_moves_to_done_and_is_not_read_again(
    make_local: Make, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "orders.csv").write_text("id,x\n1,a\n2,b\n", encoding="utf-8")
    conn = make_local(key="id")

    first = records_of(await drain(conn))
    second = records_of(await drain(conn))

    assert len(first) == 2 and second == []
    assert not (drop / "orders.csv").exists()
    assert (drop / "done" / "orders.csv").read_text(encoding="utf-8") == "id,x\n1,a\n2,b\n"
    assert (drop / "done" / LEDGER).exists()


async def test_identical_file_dropped_again_is_skipped_by_content_hash(
    make_local: Make, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a.csv").write_text("id,x\n1,a\n", encoding="utf-8")
    conn = make_local(key="id")
    first = records_of(await drain(conn))
    (drop / "again.csv").write_text("id,x\n1,a\n", encoding="utf-8")

    again = records_of(await drain(conn))

    assert len(first) == 1 and again == []
    assert (drop / "done" / "again.csv").exists()


async def test_ledger_survives_a_restart(make_local: Make, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a.csv").write_text("id,x\n1,a\n", encoding="utf-8")
    await drain(make_local(key="id"))
    (drop / "b.csv").write_text("id,x\n1,a\n", encoding="utf-8")

    again = records_of(await drain(make_local(key="id")))

    assert again == []


async def test_versions_are_content_hash_and_row_so_redelivery_dedups(
    make_local: Make, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a.csv").write_text("id,x\n1,a\n2,b\n", encoding="utf-8")
    conn = make_local()  # no key: id = hash + row

    records = records_of(await drain(conn))

    prefix = records[0].version.split(":")[0]  # type: ignore[union-attr]
    assert [r.version for r in records] == [f"{prefix}:2", f"{prefix}:3"]
    assert [r.id for r in records] == [r.version for r in records]


async def test_same_name_later_goes_to_done_without_overwriting(
    make_local: Make, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    conn = make_local(key="id")
    (drop / "daily.csv").write_text("id\n1\n", encoding="utf-8")
    await drain(conn)
    (drop / "daily.csv").write_text("id\n2\n", encoding="utf-8")

    await drain(conn)

    kept = sorted(p.name for p in (drop / "done").iterdir() if not p.name.startswith("."))
    assert len(kept) == 2 and "daily.csv" in kept
    assert (drop / "done" / "daily.csv").read_text(encoding="utf-8") == "id\n1\n"


async def test_files_are_read_in_mtime_then_name_order(make_local: Make, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    for name, mtime in [("b.csv", 100), ("a.csv", 200), ("c.csv", 100)]:
        (drop / name).write_text(f"id\n{name}\n", encoding="utf-8")
        os.utime(drop / name, (mtime, mtime))
    conn = make_local(key="id")

    records = records_of(await drain(conn))

    assert [r.id for r in records] == ["b.csv", "c.csv", "a.csv"]


async def test_pages_split_a_file_and_it_moves_once_the_engine_hands_back_its_cursor(
    make_local: Make, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "big.csv").write_text("id\n" + "".join(f"{i}\n" for i in range(25)), encoding="utf-8")
    conn = make_local(key="id")

    first = await poll(conn, page_size=10)
    after_first = (drop / "big.csv").exists()
    second = await poll(conn, page_size=10)

    assert [len(p.records) for p in first] == [10, 10, 5]
    assert [p.cursor is None for p in first] == [True, True, False]  # named on its last page
    assert after_first and second == []
    assert not (drop / "big.csv").exists()
    assert (drop / "done" / "big.csv").exists()


async def test_reading_without_a_cursor_never_moves_files(make_local: Make, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a.csv").write_text("id\n1\n", encoding="utf-8")
    (drop / "bad.csv").write_text("id\n", encoding="latin-1")
    conn = make_local(key="id")

    # a preview reads with no cursor; a recon with a "since" cursor of its own
    preview = [p async for p in conn.read_changes("orders", None, 100)]
    recon = [p async for p in conn.read_changes("orders", Cursor(preview[0].records[0].stamp), 100)]  # type: ignore[arg-type]

    assert len(records_of(preview)) == len(records_of(recon)) == 1
    assert sorted(p.name for p in drop.iterdir() if p.is_file() and not p.name.startswith(".")) == [
        "a.csv",
        "bad.csv",
    ]
    assert not (drop / "done").exists()


async def test_a_file_replaced_after_its_read_is_read_again_not_moved(
    make_local: Make, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a.csv").write_text("id\n1\n", encoding="utf-8")
    conn = make_local(key="id")
    await poll(conn)
    (drop / "a.csv").write_text("id\n1\n2\n", encoding="utf-8")  # new content, same name

    again = records_of(await poll(conn))

    assert [r.id for r in again] == ["1", "2"]
    assert (drop / "a.csv").exists()


async def test_a_read_stopped_before_the_end_leaves_the_file_to_read_again(
    make_local: Make, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "big.csv").write_text("id\n" + "".join(f"{i}\n" for i in range(25)), encoding="utf-8")
    conn = make_local(key="id")
    pages = conn.read_changes("orders", None, 10)
    await anext(pages)  # a crash (or max_pages) after one page
    await pages.aclose()

    again = records_of(await drain(conn, page_size=10))

    assert len(again) == 25
    assert (drop / "done" / "big.csv").exists()


async def test_bad_rows_are_reported_and_the_rest_processed(
    make_local: Make, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    text = (
        "id,name,qty\n"
        "1,ok,5\n"
        "2,too,many,values\n"
        '3,"bad"quote,1\n'
        "4,short\n"
        "5,fine,x\n"
        ",nokey,1\n"
        "6,last,7\n"
    )
    (drop / "mixed.csv").write_text(text, encoding="utf-8")
    conn = make_local(key="id", types={"qty": "integer"})

    records = records_of(await drain(conn))

    assert [r.id for r in records] == ["1", "6"]
    assert not (drop / "mixed.csv").exists()
    assert (drop / "failed" / "mixed.csv").read_text(encoding="utf-8") == text
    report = report_rows(drop / "failed" / "mixed.csv.errors.csv")
    assert [(r["row"], r["column"]) for r in report] == [
        ("3", ""),
        ("4", ""),
        ("5", ""),
        ("6", "qty"),
        ("7", "id"),
    ]
    assert "4 values, the header has 3 columns" in report[0]["reason"]
    assert "malformed CSV" in report[1]["reason"]
    assert "'x' is not a valid integer" in report[3]["reason"]
    assert report[4]["reason"] == "the key column is empty"
    assert {r["file"] for r in report} == {"mixed.csv"}


async def test_rows_in_a_wrong_encoding_are_reported_by_column(
    make_local: Make, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    good = "id,name\n1,华北\n".encode()
    bad = "2,上海\n".encode("gbk")  # a GBK row pasted into a UTF-8 file
    (drop / "mixed.csv").write_bytes(good + bad + b"3,ok\n")
    conn = make_local(key="id", encoding="utf-8")

    records = records_of(await drain(conn))

    assert [r.id for r in records] == ["1", "3"]
    (error,) = report_rows(drop / "failed" / "mixed.csv.errors.csv")
    assert (error["row"], error["column"]) == ("3", "name")
    assert "not valid utf-8" in error["reason"]


async def test_unclosed_quote_is_reported_not_swallowed_silently(
    make_local: Make, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "q.csv").write_text('id,name\n1,a\n2,"never closed\n3,c\n', encoding="utf-8")
    conn = make_local(key="id")

    records = records_of(await drain(conn))

    assert [r.id for r in records] == ["1"]
    (error,) = report_rows(drop / "failed" / "q.csv.errors.csv")
    assert error["row"] == "3" and "unclosed quote" in error["reason"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "no header row"),
        (b"id,,name\n1,2,3\n", "column 2 of the header has no name"),
        (b"id,id\n1,2\n", "appears twice"),
    ],
)
async def test_a_file_without_a_usable_header_goes_to_failed_whole(
    make_local: Make, tmp_path: Path, content: bytes, reason: str
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "bad.csv").write_bytes(content)
    conn = make_local(key="id")

    records = records_of(await drain(conn))

    assert records == []
    assert (drop / "failed" / "bad.csv").read_bytes() == content
    (error,) = report_rows(drop / "failed" / "bad.csv.errors.csv")
    assert reason in error["reason"]


async def test_half_written_file_is_not_read_until_stable(
    make_local: Make, tmp_path: Path, clock: ManualClock
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    conn = make_local(key="id", ready="stable", stable_s=5)
    target = drop / "growing.csv"
    target.write_text("id\n1\n", encoding="utf-8")
    seen_at_first = records_of(await drain(conn))
    clock.advance(10)
    with target.open("a", encoding="utf-8") as fh:
        fh.write("2\n")  # still being written: size changed since the last look
    seen_while_growing = records_of(await drain(conn))
    clock.advance(3)
    too_soon = records_of(await drain(conn))
    clock.advance(3)

    stable = records_of(await drain(conn))

    assert seen_at_first == seen_while_growing == too_soon == []
    assert [r.id for r in stable] == ["1", "2"]


async def test_marker_file_gates_reading_and_is_removed_after(
    make_local: Make, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    conn = make_local(key="id", ready="marker", glob="*")
    (drop / "orders.csv").write_text("id\n1\n", encoding="utf-8")
    before_marker = records_of(await drain(conn))
    (drop / "orders.csv.ok").write_text("", encoding="utf-8")

    after_marker = records_of(await drain(conn))

    assert before_marker == []
    assert [r.id for r in after_marker] == ["1"]
    assert not (drop / "orders.csv.ok").exists()
    assert (drop / "done" / "orders.csv").exists()


async def test_records_carry_file_mtime_as_stamp_and_file_and_row(
    make_local: Make, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a.csv").write_text("id\n1\n", encoding="utf-8")
    os.utime(drop / "a.csv", (1_764_000_000, 1_764_000_000))
    conn = make_local(key="id")

    pages = await drain(conn)

    record = pages[0].records[0]
    assert record.stamp is not None and record.stamp.timestamp() == 1_764_000_000
    assert (record.fields["_file"], record.fields["_row"]) == ("a.csv", 2)
    assert pages[-1].cursor is not None and '"a.csv"' in pages[-1].cursor.last_id
    assert pages[-1].has_more is False


async def test_auto_keeps_utf8_when_only_a_few_rows_are_not_utf8(
    make_local: Make, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    good = "".join(f"{i},华北机械有限公司第{i}分公司\n" for i in range(1, 6))
    bad = "6,上海\n".encode("gbk")
    (drop / "mixed.csv").write_bytes(f"id,name\n{good}".encode() + bad + b"7,ok\n")
    conn = make_local(key="id")

    records = records_of(await drain(conn))

    assert [r.id for r in records] == ["1", "2", "3", "4", "5", "7"]
    assert records[0].fields["name"] == "华北机械有限公司第1分公司"
    (error,) = report_rows(drop / "failed" / "mixed.csv.errors.csv")
    assert (error["row"], error["column"]) == ("7", "name")


async def test_local_file_untouched_for_stable_s_is_read_on_first_sight(
    make_local: Make, tmp_path: Path, clock: ManualClock
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    old, fresh = drop / "old.csv", drop / "fresh.csv"
    old.write_text("id\nold\n", encoding="utf-8")
    fresh.write_text("id\nfresh\n", encoding="utf-8")
    then = clock.now.timestamp()
    os.utime(old, (then - 60, then - 60))
    os.utime(fresh, (then - 1, then - 1))
    conn = make_local(key="id", ready="stable", stable_s=5)

    records = records_of(await drain(conn))

    assert [r.id for r in records] == ["old"]
    assert fresh.exists()


async def test_a_header_without_the_configured_columns_is_refused(
    make_local: Make, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a.csv").write_text("单号,金额\n1,2\n", encoding="utf-8")
    conn = make_local(key="订单号", columns=("订单号", "金额"))

    records = records_of(await drain(conn))

    assert records == []
    (error,) = report_rows(drop / "failed" / "a.csv.errors.csv")
    assert error["row"] == "1"
    assert error["reason"] == "the header lacks column(s) 订单号 (it has: 单号, 金额)"


async def test_a_poll_reads_at_most_a_hundred_files_and_the_next_continues(
    make_local: Make, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    for i in range(101):
        (drop / f"f{i:03d}.csv").write_text(f"id\n{i}\n", encoding="utf-8")
        os.utime(drop / f"f{i:03d}.csv", (1_700_000_000 + i, 1_700_000_000 + i))
    conn = make_local(key="id")

    first = await poll(conn)
    second = await poll(conn)

    assert len(records_of(first)) == 100 and first[-1].has_more
    assert [r.id for r in records_of(second)] == ["100"] and not second[-1].has_more
    assert len(list((drop / "done").glob("f*.csv"))) == 100
