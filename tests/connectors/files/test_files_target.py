"""A local folder as a target: atomic files, named by pattern, rolled by count or size."""

from __future__ import annotations

import csv
import errno
import json
from collections.abc import Callable
from pathlib import Path

from erpbridge.connectors.files import FilesConnector, FilesSettings
from erpbridge.connectors.files.storage import LocalFolder
from erpbridge.connectors.files.target import WRITTEN
from erpbridge.spi.errors import TransientError, ValidationError
from erpbridge.spi.records import WriteMode, WriteOp, WriteOutcome

from .conftest import drain, records_of

Make = Callable[..., FilesConnector]


def ops(count: int, start: int = 0, **extra: object) -> list[WriteOp]:
    return [
        WriteOp(
            WriteMode.UPSERT,
            {"单号": f"SO-{i}", "客户": "华北机械", "金额": i * 1.5, **extra},
            idempotency_key=f"flow:SO-{i}:v1",
            ref=str(i),
        )
        for i in range(start, start + count)
    ]


def data_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


async def test_write_publishes_one_csv_named_by_pattern(make_local: Make, tmp_path: Path) -> None:
    conn = make_local(folder="out", pattern="{object}-{date}-{part}.csv")

    results = await conn.write("orders", ops(3))

    (only,) = data_files(tmp_path / "drop" / "out")
    assert only.name == "orders-20261125-001.csv"
    with only.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["单号"] for r in rows] == ["SO-0", "SO-1", "SO-2"]
    assert [r.outcome for r in results] == [WriteOutcome.CREATED] * 3
    assert [r.target_id for r in results] == [f"{only.name}#{n}" for n in (1, 2, 3)]


async def test_write_rolls_by_record_count(make_local: Make, tmp_path: Path) -> None:
    conn = make_local(folder="out", roll_records=4)

    await conn.write("orders", ops(10))

    files = data_files(tmp_path / "drop" / "out")
    counts = [len(f.read_text(encoding="utf-8").splitlines()) - 1 for f in files]
    assert counts == [4, 4, 2]
    assert [f.name.rsplit("-", 1)[1] for f in files] == ["001.csv", "002.csv", "003.csv"]


async def test_write_rolls_by_size(make_local: Make, tmp_path: Path) -> None:
    conn = make_local(folder="out", format="jsonl", roll_bytes=300)

    await conn.write("orders", ops(10))

    files = data_files(tmp_path / "drop" / "out")
    assert len(files) > 1
    lines = [json.loads(x) for f in files for x in f.read_text(encoding="utf-8").splitlines()]
    assert [x["单号"] for x in lines] == [f"SO-{i}" for i in range(10)]
    # a file is closed at the first record that takes it past the limit
    assert all(f.stat().st_size < 300 + 120 for f in files)


async def test_a_retried_write_call_is_answered_unchanged_not_written_twice(
    make_local: Make, tmp_path: Path
) -> None:
    conn = make_local(folder="out")
    first = await conn.write("orders", ops(3))

    again = await make_local(folder="out").write("orders", ops(3))  # after a restart

    assert len(data_files(tmp_path / "drop" / "out")) == 1
    assert [r.outcome for r in again] == [WriteOutcome.UNCHANGED] * 3
    assert [r.target_id for r in again] == [r.target_id for r in first]
    assert (tmp_path / "drop" / "out" / WRITTEN).exists()


async def test_a_name_already_taken_is_never_overwritten(make_local: Make, tmp_path: Path) -> None:
    conn = make_local(folder="out", pattern="fixed.csv")
    await conn.write("orders", ops(1))

    results = await conn.write("orders", ops(1, start=5))

    names = [p.name for p in data_files(tmp_path / "drop" / "out")]
    assert names == ["fixed-2.csv", "fixed.csv"]
    assert results[0].target_id == "fixed-2.csv#1"
    assert "SO-0" in (tmp_path / "drop" / "out" / "fixed.csv").read_text(encoding="utf-8")


async def test_no_temp_file_is_left_and_nothing_half_written_is_visible(
    make_local: Make, tmp_path: Path
) -> None:
    conn = make_local(folder="out", roll_records=2)

    await conn.write("orders", ops(5))

    everything = sorted(p.name for p in (tmp_path / "drop" / "out").iterdir())
    assert not [n for n in everything if n.endswith(".tmp")]


async def test_a_value_the_encoding_cannot_hold_fails_alone(
    make_local: Make, tmp_path: Path
) -> None:
    conn = make_local(folder="out", encoding="gbk", columns=("单号", "客户"))
    batch = ops(3)
    batch[1] = WriteOp(WriteMode.CREATE, {"单号": "SO-1", "客户": "emoji 😀"}, ref="1")

    results = await conn.write("orders", batch)

    assert [r.outcome for r in results] == [
        WriteOutcome.CREATED,
        WriteOutcome.FAILED,
        WriteOutcome.CREATED,
    ]
    assert isinstance(results[1].error, ValidationError) and results[1].error.field == "客户"
    (only,) = data_files(tmp_path / "drop" / "out")
    assert only.read_bytes().decode("gbk").splitlines() == [
        "单号,客户",
        "SO-0,华北机械",
        "SO-2,华北机械",
    ]


async def test_delete_ops_fail_as_validation(make_local: Make) -> None:
    conn = make_local(folder="out")

    results = await conn.write("orders", [WriteOp(WriteMode.DELETE, {}, target_id="x", ref="d")])

    assert results[0].outcome is WriteOutcome.FAILED
    assert isinstance(results[0].error, ValidationError)


async def test_nested_values_are_json_in_csv_and_read_back(
    make_local: Make, tmp_path: Path
) -> None:
    writer = make_local(folder="out", pattern="o.csv")
    lines = [{"sku": "A-1", "qty": 2}]
    await writer.write("orders", [WriteOp(WriteMode.CREATE, {"id": "1", "lines": lines}, ref="1")])
    reader = make_local(folder="out", key="id")

    (record,) = records_of(await drain(reader))

    assert json.loads(str(record.fields["lines"])) == lines


class _DiskFullAfter(LocalFolder):
    """A real local folder whose disk "fills up" after ``parts`` publishes (fault injection)."""

    def __init__(self, root: Path, parts: int) -> None:
        super().__init__(root)
        self.left = parts

    async def publish(self, local: Path, path: str) -> None:
        if self.left == 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.left -= 1
        await super().publish(local, path)


async def test_a_part_that_cannot_be_published_fails_only_its_records(tmp_path: Path) -> None:
    root = tmp_path / "drop"
    root.mkdir()
    settings = FilesSettings(root=str(root), objects={"orders": {"roll_records": 2}})
    conn = FilesConnector(settings, storage=_DiskFullAfter(root, parts=1))

    results = await conn.write("orders", ops(4))
    retry = await FilesConnector(settings).write("orders", ops(2, start=2))

    assert [r.outcome for r in results] == [WriteOutcome.CREATED] * 2 + [WriteOutcome.FAILED] * 2
    assert isinstance(results[2].error, TransientError)
    assert [r.outcome for r in retry] == [WriteOutcome.CREATED] * 2
    written = [
        line.split(",")[0]
        for f in data_files(root)
        for line in f.read_text(encoding="utf-8").splitlines()[1:]
    ]
    assert sorted(written) == ["SO-0", "SO-1", "SO-2", "SO-3"]


async def test_an_update_of_a_known_record_is_a_new_line_reported_updated(
    make_local: Make, tmp_path: Path
) -> None:
    conn = make_local(folder="out")
    (first,) = await conn.write("orders", ops(1))
    update = WriteOp(WriteMode.UPDATE, {"单号": "SO-0", "金额": 9}, target_id=first.target_id)

    (result,) = await conn.write("orders", [update])

    assert result.outcome is WriteOutcome.UPDATED
    assert result.target_id != first.target_id
    assert len(data_files(tmp_path / "drop" / "out")) == 2
