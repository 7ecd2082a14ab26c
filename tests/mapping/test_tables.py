"""Value tables from YAML and CSV, and alias tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from erpbridge.mapping import Aliases, ValueTable, load_table, load_tables
from erpbridge.mapping.tables import NO_DEFAULT
from erpbridge.spi.errors import ConfigError
from erpbridge.spi.schema import Field, ObjectSchema
from tests.mapping.helpers import compile_rules


def test_plain_yaml_table_is_key_value() -> None:
    table = load_table("grade", {"A": "1", 2: "B"}, Path())

    assert table.values == {"A": "1", "2": "B"} and table.default is NO_DEFAULT


def test_structured_yaml_table_has_default_and_strict(tmp_path: Path) -> None:
    tables = load_tables(
        {
            "org": {"values": {"East": "1010"}, "default": "1000"},
            "tax": {"values": {"VAT13": "J1"}, "strict": True},
        },
        tmp_path,
    )

    assert tables["org"].default == "1000"
    assert tables["tax"].strict


def test_csv_table_with_named_columns_and_bom(tmp_path: Path) -> None:
    (tmp_path / "uom.csv").write_text(
        "\ufeffcrm,note,erp\n个,each,PCS\n箱,box,CAR\n\n", encoding="utf-8"
    )

    table = load_table("uom", {"file": "uom.csv", "key": "crm", "value": "erp"}, tmp_path)

    assert table.values == {"个": "PCS", "箱": "CAR"}
    assert table.origin == str(tmp_path / "uom.csv")


@pytest.mark.parametrize(
    ("content", "raw", "message"),
    [
        ("k,v\na,1\na,2\n", {"file": "t.csv"}, "key 'a' appears twice"),
        ("k,v\na,1\n", {"file": "t.csv", "key": "code"}, "no column 'code'"),
        ("k\n", {"file": "t.csv"}, "needs a header and two columns"),
        (None, {"file": "missing.csv"}, "cannot read"),
        ("k,v\n", {"file": "t.csv", "values": {}}, "give values or file"),
        ("k,v\n", {"values": {}, "strict": "yes"}, "strict must be true or false"),
        ("k,v\n", {"values": {}, "defualt": 1}, "unknown keys"),
        ("k,v\n", {"values": {"a": 1}, "strict": True, "default": 0}, "cannot have a default"),
        ("k,v\n", ["a", "b"], "must be a mapping"),
    ],
)
def test_bad_table_is_a_config_error(
    tmp_path: Path, content: str | None, raw: object, message: str
) -> None:
    if content is not None:
        (tmp_path / "t.csv").write_text(content, encoding="utf-8")

    with pytest.raises(ConfigError, match=message):
        load_table("t", raw, tmp_path)


def test_reverse_lookup_needs_unique_values() -> None:
    tables = {"org": ValueTable("org", {"East": "1010", "Shanghai": "1010"})}

    with pytest.raises(Exception, match="cannot be read in reverse"):
        compile_rules({"R": 'table("org", source.X, reverse=true)'}, tables=tables)


def test_aliases_group_names_and_read_from_schema() -> None:
    schema = ObjectSchema("BD_Customer", [Field("FName", label="客户名称"), Field("FNumber")])
    aliases = Aliases({"Customer Name": "FName"}).merged(Aliases.from_schema(schema))

    assert set(aliases.others("客户名称")) == {"FName", "Customer Name"}
    assert aliases.canonical("客户名称") == "FName"
    assert aliases.others("FNumber") == ()
