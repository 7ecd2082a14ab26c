"""U8 preset with staging writes, trigger-fed change capture, sequences, and failures."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator

import pydantic
import pytest
import sqlalchemy as sa
import structlog.testing

from erpbridge.connectors.sql import (
    SqlConnector,
    SqlSettings,
    change_capture_ddl,
    install_change_capture,
    install_staging_table,
)
from erpbridge.spi.errors import AuthError, ConflictError, TransientError, ValidationError
from erpbridge.spi.records import Cursor, WriteMode, WriteOp, WriteOutcome
from erpbridge.spi.secrets import Secret
from tests.connectors.sql.test_sql_connector import read_all, rows
from tests.connectors.sql.u8schema import create_u8


def quoted(db: sa.Engine, name: str) -> str:
    return db.dialect.identifier_preparer.quote(name)


@pytest.fixture
async def staged(db_url: str, db: sa.Engine) -> AsyncIterator[SqlConnector]:
    """A U8 preset connection (staging by default) with its staging table installed."""
    create_u8(db)
    settings = SqlSettings.model_validate({"url": db_url, "preset": "u8"})
    install_staging_table(settings, apply=True)
    connector = SqlConnector(settings)
    yield connector
    await connector.aclose()


def order_op(code: str, *, key: str = "job-1", when: str = "2026-11-05") -> WriteOp:
    return WriteOp(
        WriteMode.UPSERT,
        {
            "cSOCode": code,
            "dDate": when,
            "cCusCode": "C0001",
            "SO_SODetails": [{"iRowNo": 1, "cInvCode": "I001", "iQuantity": 4}],
        },
        key_field="cSOCode",
        key_value=code,
        idempotency_key=key,
    )


async def test_staging_table_ddl_is_shown_first_and_installed_on_request(
    db_url: str, db: sa.Engine
) -> None:
    settings = SqlSettings.model_validate({"url": db_url, "preset": "u8"})
    shown = install_staging_table(settings)
    assert any("CREATE TABLE" in s and "erpbridge_staging" in s for s in shown)
    assert "erpbridge_staging" not in sa.inspect(db).get_table_names()
    assert install_staging_table(settings, apply=True) == shown
    assert "erpbridge_staging" in sa.inspect(db).get_table_names()
    assert install_staging_table(settings, apply=True) == []


async def test_u8_preset_stages_writes_and_never_touches_the_erp_tables(
    staged: SqlConnector, db: sa.Engine
) -> None:
    results = await staged.write("SO_SOMain", [order_op("SO0200"), order_op("SO0200")])
    assert [(r.outcome, r.target_id) for r in results] == [
        (WriteOutcome.CREATED, "SO0200"),
        (WriteOutcome.UNCHANGED, "SO0200"),  # same idempotency key: staged once
    ]
    [row] = rows(db, "erpbridge_staging")
    assert (row["object"], row["op"], row["status"], row["record_key"]) == (
        "SO_SOMain",
        "upsert",
        "new",
        "SO0200",
    )
    payload = json.loads(str(row["payload"]))
    assert payload["SO_SODetails"][0]["cInvCode"] == "I001"
    assert [r["cSOCode"] for r in rows(db, "SO_SOMain")] == ["SO0001"]


async def test_a_batch_of_new_records_is_staged_together_and_once(
    staged: SqlConnector, db: sa.Engine
) -> None:
    ops = [
        WriteOp(
            WriteMode.UPSERT,
            {"cCusCode": f"N{n}", "cCusName": f"新{n}"},
            key_field="cCusCode",
            key_value=f"N{n}",
            idempotency_key=f"job-{n}",
        )
        for n in range(3)
    ]
    first = await staged.write("Customer", ops)
    again = await staged.write("Customer", ops)
    assert [(r.outcome, r.target_id) for r in first] == [
        (WriteOutcome.CREATED, f"N{n}") for n in range(3)
    ]
    assert {r.outcome for r in again} == {WriteOutcome.UNCHANGED}
    staged_rows = rows(db, "erpbridge_staging")
    assert [r["record_key"] for r in staged_rows] == ["N0", "N1", "N2"]
    assert json.loads(str(staged_rows[1]["payload"])) == {"cCusCode": "N1", "cCusName": "新1"}


async def test_staged_ops_are_checked_against_the_erp_columns(
    staged: SqlConnector, db: sa.Engine
) -> None:
    bad = order_op("SO0201", key="job-2", when="next tuesday")
    typo = WriteOp(WriteMode.UPSERT, {"cCusCode": "C9", "cCusNam": "x"}, idempotency_key="k3")
    [result] = await staged.write("SO_SOMain", [bad])
    [typo_result] = await staged.write("Customer", [typo])
    assert isinstance(result.error, ValidationError) and result.error.field == "dDate"
    assert "op 0" in str(result.error)
    assert isinstance(typo_result.error, ValidationError)
    assert "did you mean 'cCusName'" in str(typo_result.error)
    assert rows(db, "erpbridge_staging") == []


async def test_u8_stock_is_read_only_and_reads_work(staged: SqlConnector) -> None:
    with pytest.raises(AuthError):
        await staged.write("CurrentStock", [WriteOp(WriteMode.UPSERT, {"cWhCode": "01"})])
    [order] = await staged.get("SO_SOMain", ["SO0001"])
    assert order.fields["ID"] == 1 and len(order.fields["SO_SODetails"]) == 2  # type: ignore[arg-type]
    check = await staged.check()
    assert check.ok, check.reason
    assert check.details["write_mode"] == "staging"


def test_u8_direct_writes_need_the_risks_acknowledged(db_url: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="bypass its business rules"):
        SqlSettings.model_validate({"url": db_url, "preset": "u8", "write_mode": "direct"})
    accepted = SqlSettings.model_validate(
        {
            "url": db_url,
            "preset": "u8",
            "write_mode": "direct",
            "accept_direct_write_risks": True,
        }
    )
    assert accepted.effective_write_mode == "direct"


async def test_u8_direct_writes_carry_the_warning_in_check(db_url: str, db: sa.Engine) -> None:
    create_u8(db)
    connector = SqlConnector(
        SqlSettings.model_validate(
            {
                "url": db_url,
                "preset": "u8",
                "write_mode": "direct",
                "accept_direct_write_risks": True,
            }
        )
    )
    try:
        check = await connector.check()
        assert check.ok and "bypass" in check.details["warning"]
        [result] = await connector.write("SO_SOMain", [order_op("SO0300")])
        assert (result.outcome, result.target_id) == (WriteOutcome.CREATED, "SO0300")
    finally:
        await connector.aclose()


async def test_change_capture_ddl_is_shown_then_installed_and_reads_deletes(
    db_url: str, db: sa.Engine
) -> None:
    create_u8(db)
    settings = SqlSettings.model_validate(
        {"url": db_url, "objects": {"CurrentStock": {"change_capture": True}}}
    )
    shown = change_capture_ddl(settings, "CurrentStock")
    assert any("CREATE TABLE" in s for s in shown) and any("CREATE TRIGGER" in s for s in shown)
    assert "erpbridge_changes" not in sa.inspect(db).get_table_names()
    install_change_capture(settings, "CurrentStock", apply=True)
    stock = sa.Table("CurrentStock", sa.MetaData(), autoload_with=db)
    with db.begin() as conn:
        conn.execute(stock.insert().values(AutoID=2, cWhCode="02", cInvCode="I002", iQuantity=1))
        conn.execute(stock.update().where(stock.c.AutoID == 2).values(iQuantity=9))
        conn.execute(stock.delete().where(stock.c.AutoID == 1))
    connector = SqlConnector(settings)
    try:
        pages, records = await read_all(connector, "CurrentStock", None, 100)
        assert [(r.id, r.deleted) for r in records] == [("2", False), ("1", True)]
        assert records[0].fields["iQuantity"] == 9
        cursor = pages[-1].cursor
        assert cursor is not None and cursor.last_id == "3"
        with db.begin() as conn:
            conn.execute(stock.update().where(stock.c.AutoID == 2).values(iQuantity=11))
        later = Cursor(cursor.stamp, cursor.last_id, dt.timedelta(0))
        _, again = await read_all(connector, "CurrentStock", later, 100)
        # changes at the cursor's own stamp are read again (inclusive); the new one is last
        assert (again[-1].id, again[-1].fields["iQuantity"]) == ("2", 11)
        assert {r.id for r in again} <= {"1", "2"}
    finally:
        await connector.aclose()


async def test_sequence_column_reads_by_sequence_then_id(db_url: str, db: sa.Engine) -> None:
    md = sa.MetaData()
    items = sa.Table(
        "erp_item",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(20)),
        sa.Column("rowver", sa.BigInteger),
    )
    md.create_all(db)
    with db.begin() as conn:
        conn.execute(
            items.insert(),
            [
                {"id": i, "name": f"n{i}", "rowver": v}
                for i, v in [(1, 1), (2, 3), (3, 3), (4, 2), (5, 5)]
            ],
        )
    settings = SqlSettings.model_validate(
        {"url": db_url, "objects": {"item": {"table": "erp_item", "sequence_column": "rowver"}}}
    )
    connector = SqlConnector(settings)
    try:
        pages, records = await read_all(connector, "item", None, 2)
        assert [r.id for r in records] == ["1", "4", "2", "3", "5"]
        cursor = pages[-1].cursor
        assert cursor is not None and cursor.last_id == "5"
        with db.begin() as conn:
            conn.execute(items.update().where(items.c.id == 1).values(rowver=6))
        _, again = await read_all(connector, "item", cursor, 2)
        assert [r.id for r in again] == ["5", "1"]  # from the cursor's sequence, inclusive
    finally:
        await connector.aclose()


async def test_a_row_locked_by_someone_else_fails_the_whole_batch_and_writes_nothing(
    db_url: str, db: sa.Engine
) -> None:
    create_u8(db)
    connector = SqlConnector(
        SqlSettings.model_validate(
            {
                "url": db_url,
                "objects": {"Customer": {}},
                "limits": {"timeout_s": 2},
            }
        )
    )
    customer = sa.Table("Customer", sa.MetaData(), autoload_with=db)
    ops = [
        WriteOp(WriteMode.UPSERT, {"cCusCode": "C0200", "cCusName": "新"}),
        WriteOp(WriteMode.UPDATE, {"cCusName": "改"}, target_id="C0005"),
    ]
    try:
        with db.connect() as holder, holder.begin():
            holder.execute(
                customer.update().where(customer.c.cCusCode == "C0005").values(cCusName="锁")
            )
            with pytest.raises(ConflictError) as info:
                await connector.write("Customer", ops)
        assert info.value.retryable
        assert "C0200" not in {r["cCusCode"] for r in rows(db, "Customer")}
    finally:
        await connector.aclose()


def test_a_password_in_the_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        SqlSettings.model_validate({"url": "mysql+pymysql://erp:Sup3r-Secret-Pw@db/u8"})
    assert "Sup3r-Secret-Pw" not in str(info.value)
    assert "${env:NAME}" in str(info.value)


async def test_refused_password_is_an_auth_error_that_never_shows_it(
    mariadb_admin: sa.Engine,
) -> None:
    url = mariadb_admin.url.set(username="erpbridge_nobody", password=None)
    settings = SqlSettings(
        url=url.render_as_string(hide_password=False), password=Secret.literal("Sup3r-Secret-Pw")
    )
    connector = SqlConnector(settings)
    try:
        check = await connector.check()
        assert not check.ok and check.details["error"] == "AuthError"
        assert "Sup3r-Secret-Pw" not in check.reason
        with pytest.raises(AuthError) as info:
            await connector.get("Customer", ["C0001"])
        assert "Sup3r-Secret-Pw" not in str(info.value) and "Sup3r" not in repr(info.value.raw)
    finally:
        await connector.aclose()


@pytest.mark.parametrize(
    "url", ["mysql+pymysql://root@127.0.0.1:1/x", "postgresql+psycopg://postgres@127.0.0.1:1/x"]
)
async def test_unreachable_database_is_transient_and_check_says_why(url: str) -> None:
    connector = SqlConnector(SqlSettings(url=url, connect_timeout_s=2))
    try:
        check = await connector.check()
        assert not check.ok and check.details["error"] == "TransientError"
        with pytest.raises(TransientError):
            await connector.get("Customer", ["1"])
    finally:
        await connector.aclose()


def test_direct_write_warning_is_logged_without_the_password(db_url: str) -> None:
    settings = SqlSettings(
        url=db_url,
        password=Secret.literal("Sup3r-Secret-Pw"),
        preset="u8",
        write_mode="direct",
        accept_direct_write_risks=True,
    )
    with structlog.testing.capture_logs() as logs:
        connector = SqlConnector(settings)
    connector.db.dispose()
    [event] = [e for e in logs if e["event"] == "sql.direct_writes"]
    assert "bypass" in str(event["warning"]) and event["log_level"] == "warning"
    assert "Sup3r-Secret-Pw" not in repr(logs)


async def test_binary_rowversion_reads_by_its_big_endian_value(db_url: str, db: sa.Engine) -> None:
    md = sa.MetaData()
    stock = sa.Table(
        "stock_rv",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("ufts", sa.LargeBinary(8)),  # SQL Server rowversion: 8 bytes, big-endian
    )
    md.create_all(db)
    with db.begin() as conn:
        conn.execute(
            stock.insert(), [{"id": i, "ufts": v.to_bytes(8, "big")} for i, v in [(1, 300), (2, 7)]]
        )
    settings = SqlSettings.model_validate(
        {"url": db_url, "objects": {"stock": {"table": "stock_rv", "sequence_column": "ufts"}}}
    )
    connector = SqlConnector(settings)
    try:
        pages, records = await read_all(connector, "stock", None, 10)
        assert [r.id for r in records] == ["2", "1"]
        cursor = pages[-1].cursor
        assert cursor is not None and cursor.last_id == "300"
        with db.begin() as conn:
            conn.execute(
                stock.update().where(stock.c.id == 2).values(ufts=(301).to_bytes(8, "big"))
            )
        _, again = await read_all(connector, "stock", cursor, 10)
        assert [r.id for r in again] == ["1", "2"]
    finally:
        await connector.aclose()


async def test_staging_without_its_table_says_how_to_create_it(db_url: str, db: sa.Engine) -> None:
    create_u8(db)
    connector = SqlConnector(SqlSettings.model_validate({"url": db_url, "preset": "u8"}))
    try:
        check = await connector.check()
        assert not check.ok and "install_staging_table" in check.reason
        with pytest.raises(ValidationError, match="install_staging_table"):
            await connector.write("SO_SOMain", [order_op("SO0400")])
    finally:
        await connector.aclose()
