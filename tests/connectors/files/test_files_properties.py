"""Properties: what the target writes the source reads back; no input bytes crash a read."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from erpbridge.connectors.files import FilesConnector, FilesSettings
from erpbridge.spi.records import Record, WriteMode, WriteOp, WriteOutcome

from .conftest import drain, records_of

_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)),
    max_size=30,
)
_VALUES = st.lists(st.tuples(_TEXT, _TEXT), min_size=1, max_size=20)


def _connector(root: Path, **fileset: object) -> FilesConnector:
    options = {"ready": "immediate", **fileset}
    return FilesConnector(FilesSettings(root=str(root), objects={"o": options}))


async def _read_all(conn: FilesConnector) -> list[Record]:
    return records_of(await drain(conn, "o", page_size=7))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=_VALUES, fmt=st.sampled_from(["csv", "jsonl"]), delimiter=st.sampled_from(",;\t|"))
def test_what_the_target_writes_the_source_reads_back(
    values: list[tuple[str, str]], fmt: str, delimiter: str
) -> None:
    ops = [
        WriteOp(WriteMode.CREATE, {"名称": a, "note": b}, idempotency_key=str(i), ref=str(i))
        for i, (a, b) in enumerate(values)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        options = {"format": fmt, "delimiter": delimiter, "roll_records": 6}

        async def run() -> tuple[list[WriteOutcome], list[Record]]:
            results = await _connector(root, **options).write("o", ops)
            records = await _read_all(_connector(root, **options))
            return [r.outcome for r in results], records

        outcomes, records = asyncio.run(run())

    assert outcomes == [WriteOutcome.CREATED] * len(values)
    assert [(r.fields["名称"], r.fields["note"]) for r in records] == values


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    content=st.binary(max_size=400),
    fmt=st.sampled_from(["csv", "jsonl", "xlsx"]),
    encoding=st.sampled_from(["auto", "utf-8", "gbk"]),
)
def test_no_bytes_make_a_read_fail_and_every_file_is_moved(
    content: bytes, fmt: str, encoding: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / f"in.{fmt}").write_bytes(content)
        options = {"format": fmt, "glob": "in.*"}
        if fmt != "xlsx":
            options["encoding"] = encoding
        asyncio.run(_read_all(_connector(root, **options)))
        left = (root / f"in.{fmt}").exists()
        moved = [p.name for d in ("done", "failed") for p in (root / d).glob("in.*")]

    assert not left
    assert moved in ([f"in.{fmt}"], [f"in.{fmt}", f"in.{fmt}.errors.csv"])
