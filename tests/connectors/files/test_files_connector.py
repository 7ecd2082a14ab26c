"""check, describe, settings refused at load with a reason, and the registry entry."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pydantic
import pytest

from erpbridge.connectors.files import FilesConnector, FilesSettings
from erpbridge.spi import ConnectorRegistry
from erpbridge.spi.errors import NotFoundError
from erpbridge.spi.schema import FieldType

Make = Callable[..., FilesConnector]


async def test_check_names_a_missing_folder(make_local: Make) -> None:
    conn = make_local(folder="nowhere")

    result = await conn.check()

    assert not result.ok
    assert result.details["error"] == NotFoundError.__name__
    assert "nowhere" in result.reason


async def test_check_passes_on_an_existing_folder(make_local: Make) -> None:
    result = await make_local().check()

    assert result.ok


async def test_describe_reads_the_oldest_files_header_and_types(
    make_local: Make, tmp_path: Path
) -> None:
    (tmp_path / "drop").mkdir()
    (tmp_path / "drop" / "a.csv").write_bytes("订单号,金额\nSO-1,5\n".encode("gbk"))
    conn = make_local(key="订单号", types={"金额": "decimal"})

    catalog = await conn.describe()

    schema = catalog.objects["orders"]
    assert [f.name for f in schema.fields] == ["订单号", "金额", "_file", "_row"]
    assert schema.field("金额").type is FieldType.DECIMAL  # type: ignore[union-attr]
    assert schema.natural_keys == ("订单号",)
    assert (tmp_path / "drop" / "a.csv").exists()  # describe never consumes a file


async def test_describe_of_an_empty_drop_without_columns_is_open(
    make_local: Make, tmp_path: Path
) -> None:
    from erpbridge.mapping import MappingSpec, check_mapping

    (tmp_path / "drop").mkdir()
    catalog = await make_local().describe()
    schema = catalog.objects["orders"]
    assert schema.is_open  # nothing says which columns will come
    spec = MappingSpec(flow="f", rules={"Amount": "source.金额"})
    assert [p for p in check_mapping(spec, schema, None) if p.severity == "error"] == []
    (tmp_path / "drop" / "a.csv").write_text("订单号\nSO-1\n", encoding="utf-8")
    closed = (await make_local().describe()).objects["orders"]
    assert not closed.is_open
    errors = [p for p in check_mapping(spec, closed, None) if p.severity == "error"]
    assert errors and "金额" in errors[0].message


async def test_unknown_object_is_not_found(make_local: Make) -> None:
    with pytest.raises(NotFoundError, match="no file set 'nope'"):
        await make_local().write("nope", [])


@pytest.mark.parametrize(
    ("fileset", "message"),
    [
        ({"encoding": "klingon"}, "unknown encoding 'klingon'"),
        ({"folder": "../etc"}, "inside the connection's root"),
        ({"pattern": "{object}-{seq}.csv"}, "unknown placeholder ['seq']"),
        ({"format": "xlsx", "roll_bytes": 1000}, "roll_bytes applies to csv and jsonl"),
        ({"delimiter": ";;"}, "at most 1 character"),
        ({"ready": "whenever"}, "'stable', 'marker' or 'immediate'"),
    ],
)
def test_bad_settings_are_refused_with_a_reason(fileset: dict[str, object], message: str) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        FilesSettings(root="/data", objects={"o": fileset})

    assert message in str(info.value)


def test_registry_knows_files() -> None:
    spec = ConnectorRegistry(use_entry_points=False).get("files")

    assert spec.settings is FilesSettings
