"""The SQL connector against real MariaDB and PostgreSQL with a U8-like schema."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal

import pydantic
import pytest
import sqlalchemy as sa

from erpbridge.connectors.sql import SqlConnector, SqlSettings
from erpbridge.spi.errors import AuthError, NotFoundError, ValidationError
from erpbridge.spi.records import Cursor, WriteMode, WriteOp, WriteOutcome
from erpbridge.spi.registry import ConnectorRegistry
from erpbridge.spi.schema import FieldType
from tests.connectors.sql.u8schema import T0, create_u8

UTC = dt.UTC

DIRECT = {
    "Customer": {"stamp_column": "dModifyDate"},
    "Inventory": {},
    "SO_SOMain": {
        "stamp_column": "dmodifysystime",
        "lines": {
            "SO_SODetails": {"table": "SO_SODetails", "parent_column": "ID", "order_by": "iRowNo"}
        },
    },
    "SO_SODetails": {},
    "CurrentStock": {},
    "v_customer_credit": {"id_column": "cCusCode"},
}


@pytest.fixture
async def u8(db_url: str, db: sa.Engine) -> AsyncIterator[SqlConnector]:
    """A direct-write connector on a fresh U8-like schema."""
    create_u8(db)
    connector = SqlConnector(SqlSettings.model_validate({"url": db_url, "objects": DIRECT}))
    yield connector
    await connector.aclose()


def rows(db: sa.Engine, table: str) -> list[dict[str, object]]:
    md = sa.MetaData()
    t = sa.Table(table, md, autoload_with=db)
    with db.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(t).order_by(*t.primary_key))]


async def read_all(connector: SqlConnector, object: str, cursor: Cursor | None, size: int):
    pages = [p async for p in connector.read_changes(object, cursor, size)]
    return pages, [r for p in pages for r in p.records]


def test_registry_knows_the_sql_connector() -> None:
    spec = ConnectorRegistry(use_entry_points=False).get("sql")
    assert spec.settings is SqlSettings


async def test_describe_reflects_tables_types_keys_views_and_lines(u8: SqlConnector) -> None:
    catalog = await u8.describe()
    order = catalog.objects["SO_SOMain"]
    assert order.id_field == "ID"
    assert "cSOCode" in order.natural_keys
    assert order.stamp_field == "dmodifysystime"
    types = {f.name: f.type for f in order.fields}
    assert types["dDate"] is FieldType.DATE
    assert types["iTaxRate"] is FieldType.DECIMAL
    assert types["ID"] is FieldType.INTEGER
    assert types["dmodifysystime"] is FieldType.DATETIME
    lines = order.field("SO_SODetails")
    assert lines is not None and lines.type is FieldType.LINES
    assert lines.lines is not None and lines.lines.field("iQuantity") is not None
    assert order.field("cCusCode").reference_to == "Customer"  # type: ignore[union-attr]
    assert order.field("cSOCode").required and order.field("cSOCode").max_length == 30  # type: ignore[union-attr]
    assert order.field("ID").read_only  # type: ignore[union-attr]
    assert "v_customer_credit" in catalog.objects


async def test_check_reports_dialect_and_objects(u8: SqlConnector) -> None:
    result = await u8.check()
    assert result.ok, result.reason
    assert result.details["objects"] == "6"


async def test_read_changes_pages_same_stamp_records_by_id_without_skipping(
    u8: SqlConnector, db: sa.Engine
) -> None:
    with db.begin() as conn:  # 30 customers share one stamp: only the id orders them
        conn.execute(
            sa.text('UPDATE "Customer" SET "dModifyDate" = :s'.replace('"', _q(db))),
            {"s": T0 + dt.timedelta(minutes=5)},
        )
        for n in range(6, 31):
            conn.execute(
                sa.text(
                    'INSERT INTO "Customer" ("cCusCode", "cCusName", "dModifyDate") '
                    "VALUES (:c, :n, :s)".replace('"', _q(db))
                ),
                {"c": f"C{n:04d}", "n": f"客户{n}", "s": T0 + dt.timedelta(minutes=5)},
            )
    pages, records = await read_all(u8, "Customer", None, 7)
    assert [r.id for r in records] == [f"C{n:04d}" for n in range(1, 31)]
    assert len(pages) == 5 and pages[-1].has_more is False
    assert pages[-1].cursor == Cursor(
        T0.replace(tzinfo=UTC) + dt.timedelta(minutes=5), "C0030", dt.timedelta(seconds=5)
    )


def _q(db: sa.Engine) -> str:
    return "`" if db.dialect.name in ("mysql", "mariadb") else '"'


async def test_read_changes_from_cursor_rereads_overlap_and_sees_later_edits(
    u8: SqlConnector, db: sa.Engine
) -> None:
    _, first = await read_all(u8, "Customer", None, 100)
    cursor = Cursor(first[-1].stamp, first[-1].id, dt.timedelta(seconds=2))  # type: ignore[arg-type]
    await u8.write(
        "Customer",
        [WriteOp(WriteMode.UPDATE, {"cCusPhone": "010-1"}, target_id="C0002")],
    )
    _, again = await read_all(u8, "Customer", cursor, 100)
    ids = [r.id for r in again]
    assert ids[-1] == "C0002"  # edited now: after everything else
    assert "C0003" in ids and "C0001" not in ids  # inside the 2 s overlap / before it
    edited = again[-1]
    assert edited.fields["cCusPhone"] == "010-1"
    assert edited.version != next(r for r in first if r.id == "C0002").version


async def test_read_changes_reads_unstamped_records_on_a_full_read(
    u8: SqlConnector, db: sa.Engine
) -> None:
    with db.begin() as conn:
        conn.execute(
            sa.text(
                'UPDATE "Customer" SET "dModifyDate" = NULL WHERE "cCusCode" = :c'.replace(
                    '"', _q(db)
                )
            ),
            {"c": "C0004"},
        )
    pages, records = await read_all(u8, "Customer", None, 2)
    assert records[0].id == "C0004" and records[0].stamp is None
    assert pages[0].cursor is None
    assert sorted(r.id for r in records) == [f"C{n:04d}" for n in range(1, 6)]


async def test_get_and_find_return_records_with_ordered_lines(u8: SqlConnector) -> None:
    [order] = await u8.get("SO_SOMain", ["1", "999", "not-a-number"])
    lines = order.fields["SO_SODetails"]
    assert isinstance(lines, list) and [line["iRowNo"] for line in lines] == [1, 2]
    assert order.fields["dDate"] == dt.date(2026, 11, 2)
    assert order.stamp == T0.replace(tzinfo=UTC)
    found = await u8.find("SO_SOMain", "cSOCode", ["SO0001", "SO9999"])
    assert [r.id for r in found] == ["1"]


async def test_unknown_object_or_column_is_a_validation_error_with_did_you_mean(
    u8: SqlConnector,
) -> None:
    with pytest.raises(ValidationError, match="did you mean 'Customer'"):
        await u8.get("Custmer", ["C0001"])
    with pytest.raises(ValidationError, match="did you mean 'cCusCode'") as info:
        await u8.find("Customer", "cCusCod", ["C0001"])
    assert info.value.field == "cCusCod"


async def test_write_batch_creates_updates_and_reports_unchanged(
    u8: SqlConnector, db: sa.Engine
) -> None:
    ops = [
        WriteOp(WriteMode.UPSERT, {"cCusCode": "C0100", "cCusName": "新客户"}, ref="a"),
        WriteOp(
            WriteMode.UPSERT,
            {"cCusName": "客户2改", "iCusCreLine": "25000.50"},
            key_field="cCusCode",
            key_value="C0002",
            ref="b",
        ),
        WriteOp(WriteMode.UPDATE, {"cCusName": "客户3"}, target_id="C0003", ref="c"),
        WriteOp(WriteMode.CREATE, {"cInvCode": "X"}, ref="d"),  # wrong object field
    ][:3]
    results = await u8.write("Customer", ops)
    assert [(r.ref, r.outcome, r.target_id) for r in results] == [
        ("a", WriteOutcome.CREATED, "C0100"),
        ("b", WriteOutcome.UPDATED, "C0002"),
        ("c", WriteOutcome.UNCHANGED, "C0003"),
    ]
    stored = {r["cCusCode"]: r for r in rows(db, "Customer")}
    assert stored["C0002"]["iCusCreLine"] == Decimal("25000.50")
    assert stored["C0100"]["dModifyDate"] is not None  # stamp touched so readers see it


async def test_bad_rows_fail_with_position_and_the_rest_is_written(
    u8: SqlConnector, db: sa.Engine
) -> None:
    good = {"cCusName": "好"}
    ops = [
        WriteOp(WriteMode.UPSERT, {"cCusCode": "G1", **good}, ref="ok-1"),
        WriteOp(WriteMode.UPSERT, {"cCusCode": "B1", "cCusName": "x", "iCusCreLine": "abc"}),
        WriteOp(WriteMode.UPSERT, {"cCusCode": "B2", "cCusName": "x", "cCusNmae": "typo"}),
        WriteOp(WriteMode.UPSERT, {"cCusCode": "B3", "cCusName": "长" * 99}),
        WriteOp(WriteMode.UPSERT, {"cCusCode": "B4", "cCusName": None}),
        WriteOp(WriteMode.UPSERT, {"cCusCode": "B5", "cCusName": "x", "iCusCreLine": -1}),
        WriteOp(WriteMode.UPDATE, {"cCusName": "x"}, target_id="NOPE"),
        WriteOp(WriteMode.UPSERT, {"cCusCode": "G2", **good}, ref="ok-2"),
    ]
    results = await u8.write("Customer", ops)
    outcomes = [r.outcome for r in results]
    assert outcomes == [WriteOutcome.CREATED] + [WriteOutcome.FAILED] * 6 + [WriteOutcome.CREATED]
    errors = [r.error for r in results[1:7]]
    assert [type(e) for e in errors] == [ValidationError] * 5 + [NotFoundError]
    assert [getattr(e, "field", None) for e in errors[:4]] == [
        "iCusCreLine",
        "cCusNmae",
        "cCusName",
        "cCusName",
    ]
    assert "op 1" in str(errors[0]) and "expects a number" in str(errors[0])
    assert "did you mean 'cCusName'" in str(errors[1])
    assert "op 5" in str(errors[4])  # the database's own CHECK refusal, with position
    codes = {r["cCusCode"] for r in rows(db, "Customer")}
    assert {"G1", "G2"} <= codes and not codes & {"B1", "B2", "B3", "B4", "B5"}


async def test_order_with_a_bad_line_leaves_nothing_half_written(
    u8: SqlConnector, db: sa.Engine
) -> None:
    def order(code: str, item: str) -> WriteOp:
        return WriteOp(
            WriteMode.UPSERT,
            {
                "cSOCode": code,
                "dDate": "2026-11-03",
                "cCusCode": "C0002",
                "SO_SODetails": [
                    {"iRowNo": 1, "cInvCode": "I001", "iQuantity": 1},
                    {"iRowNo": 2, "cInvCode": item, "iQuantity": 3},
                ],
            },
            key_field="cSOCode",
            key_value=code,
        )

    results = await u8.write(
        "SO_SOMain", [order("SO0100", "NO-SUCH-ITEM"), order("SO0101", "I003")]
    )
    assert results[0].outcome is WriteOutcome.FAILED
    assert isinstance(results[0].error, ValidationError)  # foreign key on the second line
    assert results[1].outcome is WriteOutcome.CREATED
    codes = [r["cSOCode"] for r in rows(db, "SO_SOMain")]
    assert "SO0100" not in codes and "SO0101" in codes
    [created] = await u8.find("SO_SOMain", "cSOCode", ["SO0101"])
    assert [line["cInvCode"] for line in created.fields["SO_SODetails"]] == ["I001", "I003"]  # type: ignore[union-attr]
    assert len(rows(db, "SO_SODetails")) == 4  # 2 seeded + 2 of SO0101, none of SO0100


async def test_read_only_connection_refuses_writes_even_below_the_connector(
    db_url: str, db: sa.Engine
) -> None:
    create_u8(db)
    connector = SqlConnector(
        SqlSettings.model_validate({"url": db_url, "objects": DIRECT, "read_only": True})
    )
    try:
        with pytest.raises(AuthError, match="read-only"):
            await connector.write("Customer", [WriteOp(WriteMode.UPSERT, {"cCusCode": "X"})])
        with pytest.raises(sa.exc.DBAPIError), connector.db.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM " + _q(db) + "Inventory" + _q(db)))
        assert len(rows(db, "Inventory")) == 3
        assert len(await connector.get("Customer", ["C0001"])) == 1
    finally:
        await connector.aclose()


async def test_views_are_read_but_never_written(u8: SqlConnector) -> None:
    _, records = await read_all(u8, "v_customer_credit", None, 100)
    assert len(records) == 5
    with pytest.raises(AuthError, match="view"):
        await u8.write("v_customer_credit", [WriteOp(WriteMode.UPSERT, {"cCusCode": "C0001"})])


async def test_delete_removes_the_record_with_its_lines_and_repeats_harmlessly(
    u8: SqlConnector, db: sa.Engine
) -> None:
    op = WriteOp(WriteMode.DELETE, {}, target_id="1")
    first = await u8.write("SO_SOMain", [op])
    again = await u8.write("SO_SOMain", [op])
    assert first[0].outcome is WriteOutcome.DELETED
    assert again[0].outcome is WriteOutcome.UNCHANGED
    assert rows(db, "SO_SODetails") == []


async def test_named_query_is_a_read_only_object_read_by_its_stamp(
    db_url: str, db: sa.Engine
) -> None:
    create_u8(db)
    q = _q(db)
    sql = (
        f"SELECT c.{q}cCusCode{q} AS code, c.{q}cCusName{q} AS name, "
        f"c.{q}iCusCreLine{q} AS credit, c.{q}dModifyDate{q} AS changed "
        f"FROM {q}Customer{q} c WHERE c.{q}iCusCreLine{q} >= 20000"
    )
    settings = SqlSettings.model_validate(
        {
            "url": db_url,
            "objects": {
                "credit": {
                    "query": {
                        "sql": sql,
                        "columns": {
                            "code": "string",
                            "name": "string",
                            "credit": "decimal",
                            "changed": "datetime",
                        },
                    },
                    "id_column": "code",
                    "stamp_column": "changed",
                }
            },
        }
    )
    connector = SqlConnector(settings)
    try:
        schema = (await connector.describe()).objects["credit"]
        assert schema.field("credit").type is FieldType.DECIMAL  # type: ignore[union-attr]
        cursor = Cursor(T0.replace(tzinfo=UTC) + dt.timedelta(seconds=3), "C0003", dt.timedelta(0))
        _, records = await read_all(connector, "credit", cursor, 1)
        assert [r.id for r in records] == ["C0003", "C0004", "C0005"]
        assert records[0].fields["credit"] == Decimal("30000.00")
        assert [r.id for r in await connector.find("credit", "name", ["客户2"])] == ["C0002"]
        with pytest.raises(AuthError):
            await connector.write("credit", [WriteOp(WriteMode.UPSERT, {"code": "C0002"})])
    finally:
        await connector.aclose()


def test_named_query_must_be_one_select() -> None:
    with pytest.raises(pydantic.ValidationError, match="one statement"):
        SqlSettings.model_validate(
            {
                "url": "postgresql+psycopg://u@h/d",
                "objects": {
                    "x": {
                        "query": {
                            "sql": "SELECT 1 AS a; DROP TABLE t",
                            "columns": {"a": "integer"},
                        },
                        "id_column": "a",
                    }
                },
            }
        )


async def test_same_new_key_twice_in_a_batch_is_created_then_updated(
    u8: SqlConnector, db: sa.Engine
) -> None:
    ops = [
        WriteOp(WriteMode.UPSERT, {"cCusCode": "C0300", "cCusName": "一"}, ref="1"),
        WriteOp(WriteMode.UPSERT, {"cCusCode": "C0300", "cCusName": "二"}, ref="2"),
    ]
    results = await u8.write("Customer", ops)
    assert [r.outcome for r in results] == [WriteOutcome.CREATED, WriteOutcome.UPDATED]
    assert next(r for r in rows(db, "Customer") if r["cCusCode"] == "C0300")["cCusName"] == "二"


async def test_key_matching_by_the_databases_collation_never_makes_a_duplicate(
    u8: SqlConnector, db: sa.Engine
) -> None:
    op = WriteOp(
        WriteMode.UPSERT,
        {"cCusCode": "c0003", "cCusName": "小写"},
        key_field="cCusCode",
        key_value="c0003",
    )
    [result] = await u8.write("Customer", [op])
    codes = [r["cCusCode"] for r in rows(db, "Customer")]
    if db.dialect.name in ("mysql", "mariadb"):  # case-insensitive collation: the same record
        assert result.outcome is WriteOutcome.UPDATED
        assert [c for c in codes if c.lower() == "c0003"] == ["c0003"]
    else:
        assert (result.outcome, result.target_id) == (WriteOutcome.CREATED, "c0003")
        assert sorted(c for c in codes if c.lower() == "c0003") == ["C0003", "c0003"]


async def test_a_refused_update_in_a_batch_fails_alone_with_its_position(
    u8: SqlConnector, db: sa.Engine
) -> None:
    ops = [
        WriteOp(WriteMode.UPDATE, {"iCusCreLine": -1}, target_id="C0002", ref="bad"),
        WriteOp(WriteMode.UPDATE, {"cCusPhone": "021-3"}, target_id="C0003", ref="good"),
        WriteOp(WriteMode.UPSERT, {"cCusCode": "C0004", "cCusName": "客户4"}, ref="same"),
    ]
    results = await u8.write("Customer", ops)
    assert [r.outcome for r in results] == [
        WriteOutcome.FAILED,
        WriteOutcome.UPDATED,
        WriteOutcome.UNCHANGED,
    ]
    assert isinstance(results[0].error, ValidationError) and "op 0" in str(results[0].error)
    stored = {r["cCusCode"]: r for r in rows(db, "Customer")}
    assert stored["C0002"]["iCusCreLine"] == Decimal("20000.00")
    assert stored["C0003"]["cCusPhone"] == "021-3"


async def test_without_objects_every_table_and_view_is_an_object(
    db_url: str, db: sa.Engine
) -> None:
    create_u8(db)
    connector = SqlConnector(SqlSettings(url=db_url))
    try:
        catalog = await connector.describe()
        assert set(catalog.objects) == {
            "Customer",
            "Inventory",
            "SO_SOMain",
            "SO_SODetails",
            "CurrentStock",
        }  # the view has no primary key: left out (configure it with id_column)
        check = await connector.check()
        assert check.ok and check.details["skipped"] == "v_customer_credit"
        pages, records = await read_all(connector, "Inventory", None, 2)
        assert [r.id for r in records] == ["I001", "I002", "I003"]
        assert all(p.cursor is None for p in pages)  # no change source: a snapshot
        with pytest.raises(ValidationError, match="did you mean 'Inventory'"):
            await connector.get("inventry", ["I001"])
    finally:
        await connector.aclose()
