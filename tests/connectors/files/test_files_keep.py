"""``after_read: keep``: files stay in place; the stored cursor says which were read."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from erpbridge.connectors.files import FilesConnector
from erpbridge.spi.errors import ValidationError
from erpbridge.spi.records import ChangePage

from .conftest import ManualClock, poll, records_of

Make = Callable[..., FilesConnector]


def _drop(tmp_path: Path, name: str, text: str, mtime: float | None = None) -> Path:
    folder = tmp_path / "drop"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def _listed(pages: list[ChangePage]) -> list[str]:
    cursor = next(p.cursor for p in reversed(pages) if p.cursor is not None)
    return [row[0] for row in json.loads(cursor.last_id)["files"]]


async def test_kept_file_is_read_once_and_left_where_it_is(
    make_local: Make, tmp_path: Path
) -> None:
    _drop(tmp_path, "a.csv", "id,n\n1,x\n2,y\n")
    conn = make_local(key="id", after_read="keep")

    first = records_of(await poll(conn))
    second = records_of(await poll(conn))
    third = records_of(await poll(conn))

    assert [r.id for r in first] == ["1", "2"]
    assert second == [] and third == []
    assert sorted(p.name for p in (tmp_path / "drop").iterdir()) == ["a.csv"]  # no done/, no ledger


async def test_a_changed_file_with_the_same_name_is_a_new_file(
    make_local: Make, tmp_path: Path
) -> None:
    path = _drop(tmp_path, "a.csv", "id,n\n1,x\n", mtime=1_700_000_000)
    conn = make_local(key="id", after_read="keep")
    first = records_of(await poll(conn))
    path.write_text("id,n\n1,changed\n2,new\n", encoding="utf-8")
    os.utime(path, (1_700_000_100, 1_700_000_100))

    second = records_of(await poll(conn))

    assert [(r.id, r.fields["n"]) for r in second] == [("1", "changed"), ("2", "new")]
    assert first[0].version != second[0].version  # a new version: the engine takes it


async def test_a_touched_or_copied_file_with_the_same_content_is_not_read_again(
    make_local: Make, tmp_path: Path
) -> None:
    path = _drop(tmp_path, "a.csv", "id,n\n1,x\n", mtime=1_700_000_000)
    conn = make_local(key="id", after_read="keep")
    await poll(conn)
    os.utime(path, (1_700_000_500, 1_700_000_500))
    shutil.copy(path, tmp_path / "drop" / "copy.csv")

    pages = await poll(conn)
    again = await poll(conn)

    assert records_of(pages) == [] and again == []
    assert _listed(pages) == ["a.csv", "copy.csv"]  # both known now, so not even fetched again


async def test_files_that_left_the_folder_leave_the_cursor(
    make_local: Make, tmp_path: Path
) -> None:
    _drop(tmp_path, "a.csv", "id\n1\n", mtime=1_700_000_000)
    conn = make_local(key="id", after_read="keep")
    await poll(conn)
    (tmp_path / "drop" / "a.csv").unlink()
    _drop(tmp_path, "b.csv", "id\n2\n", mtime=1_700_000_100)

    pages = await poll(conn)

    assert [r.id for r in records_of(pages)] == ["2"]
    assert _listed(pages) == ["b.csv"]


async def test_row_errors_of_a_kept_file_are_read_errors_naming_file_hash_and_row(
    make_local: Make, tmp_path: Path
) -> None:
    _drop(tmp_path, "a.csv", "id,amount\n1,5\n2,x\n,7\n")
    conn = make_local(key="id", after_read="keep", types={"amount": "decimal"})

    pages = await poll(conn)

    errors = [e for p in pages for e in p.errors]
    assert [r.id for r in records_of(pages)] == ["1"]
    assert [(e.error.field, type(e.error)) for e in errors] == [
        ("amount", ValidationError),
        ("id", ValidationError),
    ]
    assert errors[0].position.startswith("a.csv (sha256 ")
    assert errors[0].position.endswith(" row 3 column amount")
    assert "'x' is not a valid decimal" in str(errors[0].error)
    assert sorted(p.name for p in (tmp_path / "drop").iterdir()) == ["a.csv"]
    assert pages[-1].cursor is not None


async def test_a_refused_kept_file_is_one_read_error_and_is_not_read_again(
    make_local: Make, tmp_path: Path
) -> None:
    _drop(tmp_path, "a.csv", "")
    conn = make_local(key="id", after_read="keep")

    pages = await poll(conn)
    again = await poll(conn)

    assert [e.position for p in pages for e in p.errors] == [
        f"a.csv (sha256 {'e3b0c44298fc1c14'}) row 0"
    ]
    assert again == []


async def test_a_read_without_a_stored_cursor_reads_everything_and_moves_nothing(
    make_local: Make, tmp_path: Path
) -> None:
    _drop(tmp_path, "a.csv", "id\n1\n")
    conn = make_local(key="id", after_read="keep")

    first = [p async for p in conn.read_changes("orders", None, 10)]
    second = [p async for p in conn.read_changes("orders", None, 10)]

    assert len(records_of(first)) == len(records_of(second)) == 1


async def test_many_files_are_read_over_polls_of_one_hundred(
    make_local: Make, tmp_path: Path
) -> None:
    for i in range(130):
        _drop(tmp_path, f"f{i:03d}.csv", f"id\n{i}\n", mtime=1_700_000_000 + i)
    conn = make_local(key="id", after_read="keep")

    first = await poll(conn)
    second = await poll(conn)
    third = await poll(conn)

    assert len(records_of(first)) == 100 and first[-1].has_more
    assert len(records_of(second)) == 30 and not second[-1].has_more
    assert third == []
    assert len(_listed(second)) == 130


async def test_stable_wait_applies_to_kept_files(
    make_local: Make, tmp_path: Path, clock: ManualClock
) -> None:
    path = _drop(tmp_path, "a.csv", "id\n1\n")
    os.utime(path, (clock.now.timestamp(), clock.now.timestamp()))
    conn = make_local(key="id", after_read="keep", ready="stable", stable_s=5)

    early = await poll(conn)
    clock.advance(6)
    later = await poll(conn)

    assert early == []
    assert [r.id for r in records_of(later)] == ["1"]
