"""Every statement the sql connector issues, compiled for SQL Server and Oracle (no server).

No SQL Server or Oracle runs here (docs/connectors/sql.md says so). These tests run the
connector's own read and write code on a connection that compiles each statement with
SQLAlchemy's real ``mssql`` and ``oracle`` dialects (tests/connectors/sql/recording.py)
and check what matters: row limits, keyset order, bound (never inlined) values, IN-list
sizes, rowversion and ORA_ROWSCN change sources, SQL Server's upsert lock hints,
identity keys coming back (OUTPUT / RETURNING), savepoints, the staging DDL, the session
setup, and the driver errors of pymssql and python-oracledb classified by their codes.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mssql, oracle

from erpbridge.connectors.sql.changes import (
    null_stamp_page,
    sequence_page,
    stamp_page,
    whole_page,
)
from erpbridge.connectors.sql.database import Database, TableInfo, _session_setup
from erpbridge.connectors.sql.describe import object_schema
from erpbridge.connectors.sql.dialects import ora_rowscn
from erpbridge.connectors.sql.errors import classify_db_error
from erpbridge.connectors.sql.reader import IN_CHUNK, lookup, records_of
from erpbridge.connectors.sql.settings import SqlSettings
from erpbridge.connectors.sql.staging import staging_ddl, staging_table, write_staging
from erpbridge.connectors.sql.writer import write_direct
from erpbridge.spi.errors import (
    AuthError,
    ConflictError,
    NotFoundError,
    TransientError,
    ValidationError,
)
from erpbridge.spi.records import WriteMode, WriteOp, WriteOutcome
from tests.connectors.sql.recording import FakeRow, RecordingConnection

SHANGHAI = ZoneInfo("Asia/Shanghai")
T = dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)


def _u8_customer() -> sa.Table:
    """U8's Customer on SQL Server: NVARCHAR key, DATETIME stamp, rowversion ufts."""
    return sa.Table(
        "Customer",
        sa.MetaData(),
        sa.Column("cCusCode", mssql.NVARCHAR(20), primary_key=True),
        sa.Column("cCusName", mssql.NVARCHAR(98), nullable=False),
        sa.Column("iCusCreLine", sa.Numeric(19, 4)),
        sa.Column("dModifyDate", mssql.DATETIME()),
        sa.Column("ufts", mssql.TIMESTAMP()),
    )


def _orders(metadata: sa.MetaData | None = None) -> sa.Table:
    """An order table keyed by an IDENTITY column (SQL Server) / identity (Oracle)."""
    return sa.Table(
        "SalesOrder",
        metadata or sa.MetaData(),
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("no", sa.Unicode(30), nullable=False, unique=True),
        sa.Column("amount", sa.Numeric(18, 2)),
    )


def _oracle_customer() -> sa.Table:
    return sa.Table(
        "customer",
        sa.MetaData(),
        sa.Column("code", oracle.VARCHAR2(20), primary_key=True),
        sa.Column("name", oracle.VARCHAR2(100), nullable=False),
        sa.Column("credit", oracle.NUMBER(19, 4)),
        sa.Column("modified", oracle.DATE()),
    )


def _info(
    table: sa.Table,
    *,
    stamp: str | None = None,
    sequence: sa.Column[Any] | str | None = None,
    keys: tuple[str, ...] = (),
) -> TableInfo:
    seq = table.c[sequence] if isinstance(sequence, str) else sequence
    pk = next(iter(table.primary_key.columns))
    return TableInfo(
        name=table.name,
        table=table,
        id_column=pk,
        stamp_column=table.c[stamp] if stamp else None,
        sequence_column=seq,
        change_capture=False,
        natural_keys=keys or (pk.name,),
        read_only=False,
        is_view=False,
        touch_stamp=True,
    )


def _mssql(answer: Any = None) -> RecordingConnection:
    return RecordingConnection(mssql.dialect(), answer or (lambda s: []))


def _oracle(answer: Any = None) -> RecordingConnection:
    return RecordingConnection(oracle.dialect(), answer or (lambda s: []))


# --- reading ---------------------------------------------------------------------------


def test_mssql_stamp_pages_are_top_n_keyset_reads_with_naive_local_stamps() -> None:
    conn = _mssql()
    info = _info(_u8_customer(), stamp="dModifyDate")

    stamp_page(conn, info, SHANGHAI, T, (dt.datetime(2026, 11, 25, 16), "C001"), 200)  # type: ignore[arg-type]

    (sent,) = conn.sent
    assert sent.flat.startswith("SELECT TOP 200 [Customer].[cCusCode]")
    assert "[Customer].[dModifyDate] >= :dModifyDate_1" in sent.flat
    assert (
        "([Customer].[dModifyDate] > :dModifyDate_2 OR [Customer].[dModifyDate] = "
        ":dModifyDate_3 AND [Customer].[cCusCode] > :cCusCode_1)"
    ) in sent.flat
    assert sent.flat.endswith("ORDER BY [Customer].[dModifyDate], [Customer].[cCusCode]")
    # DATETIME holds Shanghai wall time without a zone: 08:00 UTC is 16:00 there
    assert sent.params[0]["dModifyDate_1"] == dt.datetime(2026, 11, 25, 16, 0)
    assert sent.params[0]["cCusCode_1"] == "C001"


def test_mssql_rowversion_sequence_reads_below_min_active_rowversion_with_8_byte_values() -> None:
    conn = _mssql()
    info = _info(_u8_customer(), sequence="ufts")

    sequence_page(conn, info, SHANGHAI, 0x7D3, None, 500)  # type: ignore[arg-type]

    (sent,) = conn.sent
    assert sent.flat.startswith("SELECT TOP 500 ")
    assert "[Customer].ufts < MIN_ACTIVE_ROWVERSION()" in sent.flat
    assert "[Customer].ufts >= :ufts_1" in sent.flat
    assert sent.params[0]["ufts_1"] == (0x7D3).to_bytes(8, "big")
    assert sent.flat.endswith("ORDER BY [Customer].ufts, [Customer].[cCusCode]")


def test_mssql_identity_sequence_is_an_integer_without_the_rowversion_bound() -> None:
    conn = _mssql()
    info = _info(_orders(), sequence="id")

    sequence_page(conn, info, SHANGHAI, 42, None, 10)  # type: ignore[arg-type]

    (sent,) = conn.sent
    assert "MIN_ACTIVE_ROWVERSION" not in sent.flat
    assert sent.params[0]["id_1"] == 42


def test_whole_and_null_stamp_pages_page_by_id() -> None:
    conn = _mssql()
    info = _info(_u8_customer(), stamp="dModifyDate")

    whole_page(conn, info, SHANGHAI, "C100", 50)  # type: ignore[arg-type]
    null_stamp_page(conn, info, SHANGHAI, None, 50)  # type: ignore[arg-type]

    whole, nulls = conn.sent
    assert whole.flat.startswith("SELECT TOP 50 ")
    assert "WHERE [Customer].[cCusCode] > :cCusCode_1" in whole.flat
    assert "[Customer].[dModifyDate] IS NULL" in nulls.flat
    assert nulls.flat.endswith("ORDER BY [Customer].[cCusCode]")


def test_oracle_pages_use_fetch_first_and_naive_date_stamps() -> None:
    conn = _oracle()
    info = _info(_oracle_customer(), stamp="modified")

    stamp_page(conn, info, SHANGHAI, T, None, 100)  # type: ignore[arg-type]

    (sent,) = conn.sent
    assert sent.flat.endswith("ORDER BY customer.modified, customer.code FETCH FIRST 100 ROWS ONLY")
    assert "customer.modified >= :modified_1" in sent.flat
    assert sent.params[0]["modified_1"] == dt.datetime(2026, 11, 25, 16, 0)


def test_oracle_ora_rowscn_is_selected_compared_and_ordered_as_the_sequence() -> None:
    conn = _oracle(
        lambda s: [
            FakeRow(
                {
                    **{c: v for c, v in zip(table.c, ("C1", "北方", 10, None), strict=True)},
                    scn: 881234,
                }
            )
        ]
    )
    table = _oracle_customer()
    scn = ora_rowscn()
    info = _info(table, sequence=scn)

    page = sequence_page(conn, info, SHANGHAI, 880000, None, 100)  # type: ignore[arg-type]

    (sent,) = conn.sent
    assert sent.flat.startswith(
        "SELECT customer.code, customer.name, customer.credit, customer.modified, ORA_ROWSCN "
    )
    assert "ORA_ROWSCN IS NOT NULL AND ORA_ROWSCN >= :ORA_ROWSCN_1" in sent.flat
    assert "ORDER BY ORA_ROWSCN, customer.code FETCH FIRST 100 ROWS ONLY" in sent.flat
    assert sent.params[0]["ORA_ROWSCN_1"] == 880000
    (record,) = page.records
    assert record.version is not None and record.version.startswith("881234#")
    assert "ORA_ROWSCN" not in record.fields  # a pseudo-column is not a field
    assert object_schema(info).stamp_field is None


def test_lookups_bind_at_most_500_values_per_in_list() -> None:
    conn = _oracle()
    info = _info(_oracle_customer())

    lookup(conn, info, info.id_column, [f"C{n}" for n in range(1200)], SHANGHAI)  # type: ignore[arg-type]

    assert [len(s.params[0]) for s in conn.sent] == [IN_CHUNK, IN_CHUNK, 200]
    assert all(" IN (" in s.flat and "ORDER BY customer.code" in s.flat for s in conn.sent)
    assert IN_CHUNK <= 1000  # Oracle's IN-list limit (SQL Server's is 2100 parameters)


def test_read_values_come_back_as_aware_utc_and_bytes_as_hex() -> None:
    table = _u8_customer()
    info = _info(table, stamp="dModifyDate")
    row = FakeRow(
        dict(
            zip(
                table.c,
                ("C1", "华北机械", 1000, dt.datetime(2026, 11, 25, 16, 0), b"\x00" * 7 + b"\x09"),
                strict=True,
            )
        )
    )

    (record,) = records_of(_mssql(), info, [row], SHANGHAI)  # type: ignore[arg-type]

    assert record.stamp == T
    assert record.fields["ufts"] == "0000000000000009"


# --- writing ---------------------------------------------------------------------------


def test_mssql_upsert_of_new_records_locks_the_lookup_and_inserts_in_a_savepoint() -> None:
    conn = _mssql()
    info = _info(_u8_customer(), stamp="dModifyDate")
    ops = [
        WriteOp(WriteMode.UPSERT, {"cCusCode": f"C{n}", "cCusName": f"客户{n}"}, ref=str(n))
        for n in range(3)
    ]

    results = write_direct(conn, info, ops, SHANGHAI, None)  # type: ignore[arg-type]

    assert [r.outcome for r in results] == [WriteOutcome.CREATED] * 3
    (lookup_sql,) = conn.matching("SELECT")
    assert "FROM [Customer] WITH (UPDLOCK, HOLDLOCK) WHERE [Customer].[cCusCode] IN" in (
        lookup_sql.flat
    )
    assert [s.flat.split()[0] for s in conn.sent] == ["SELECT", "SAVE", "INSERT"]
    (insert,) = conn.matching("INSERT")
    assert insert.flat.startswith("INSERT INTO [Customer] ([cCusCode], [cCusName], [dModifyDate])")
    assert [p["cCusName"] for p in insert.params] == ["客户0", "客户1", "客户2"]
    # the stamp is touched in the database's zone, without a zone (DATETIME)
    assert all(p["dModifyDate"].tzinfo is None for p in insert.params)


def test_mssql_insert_into_an_identity_table_gets_the_id_back_with_output() -> None:
    conn = _mssql()
    info = _info(_orders(), keys=("no",))
    op = WriteOp(
        WriteMode.UPSERT, {"no": "SO-1", "amount": "12.50"}, key_field="no", key_value="SO-1"
    )

    (result,) = write_direct(conn, info, [op], SHANGHAI, None)  # type: ignore[arg-type]

    (insert,) = conn.matching("INSERT")
    assert (
        insert.flat
        == "INSERT INTO [SalesOrder] (no, amount) OUTPUT inserted.id VALUES (:no, :amount)"
    )
    assert result.outcome is WriteOutcome.CREATED and result.target_id == "1001"
    assert conn.matching("SAVE TRANSACTION sa_savepoint_")


def test_oracle_insert_into_an_identity_table_returns_the_id_into_a_bind() -> None:
    conn = _oracle()
    info = _info(_orders(), keys=("no",))
    op = WriteOp(WriteMode.CREATE, {"no": "SO-1"}, key_field="no", key_value="SO-1")

    write_direct(conn, info, [op], SHANGHAI, None)  # type: ignore[arg-type]

    (insert,) = conn.matching("INSERT")
    assert (
        insert.flat
        == 'INSERT INTO "SalesOrder" (no) VALUES (:no) RETURNING "SalesOrder".id INTO :ret_0'
    )
    (lookup_sql,) = conn.matching("SELECT")
    assert "WITH (UPDLOCK" not in lookup_sql.flat  # SQL Server's hint only
    assert conn.matching("SAVEPOINT sa_savepoint_")


def test_known_records_are_updated_by_id_in_one_executemany() -> None:
    table = _u8_customer()
    existing = {
        f"C{n}": FakeRow(
            dict(zip(table.c, (f"C{n}", "old", 0, dt.datetime(2026, 1, 1), b"\0" * 8), strict=True))
        )
        for n in range(2)
    }
    conn = _mssql(lambda s: list(existing.values()) if isinstance(s, sa.Select) else [])
    info = _info(table, stamp="dModifyDate")
    ops = [
        WriteOp(WriteMode.UPSERT, {"cCusCode": code, "cCusName": "新名"}, target_id=code)
        for code in existing
    ]

    results = write_direct(conn, info, ops, SHANGHAI, None)  # type: ignore[arg-type]

    assert [r.outcome for r in results] == [WriteOutcome.UPDATED] * 2
    (update,) = conn.matching("UPDATE")
    assert update.flat.startswith("UPDATE [Customer] SET [cCusCode]=:v0, [cCusName]=:v1")
    assert update.flat.endswith("WHERE [Customer].[cCusCode] = :id_")
    assert [p["id_"] for p in update.params] == ["C0", "C1"]


def test_a_rowversion_column_is_never_written() -> None:
    conn = _mssql()
    info = _info(_u8_customer())
    op = WriteOp(WriteMode.UPSERT, {"cCusCode": "C1", "cCusName": "x", "ufts": "00"})

    (result,) = write_direct(conn, info, [op], SHANGHAI, None)  # type: ignore[arg-type]

    assert isinstance(result.error, ValidationError) and result.error.field == "ufts"
    assert "rowversion set by SQL Server" in str(result.error)
    assert conn.sent == []  # refused before any SQL


def test_delete_of_a_found_record_is_one_delete_by_id() -> None:
    table = _u8_customer()
    row = FakeRow(dict(zip(table.c, ("C9", "x", 0, None, b"\0" * 8), strict=True)))
    conn = _oracle(lambda s: [row] if isinstance(s, sa.Select) else [])
    info = _info(table)

    (result,) = write_direct(
        conn, info, [WriteOp(WriteMode.DELETE, {}, target_id="C9")], SHANGHAI, None
    )  # type: ignore[arg-type]

    assert result.outcome is WriteOutcome.DELETED
    (delete,) = conn.matching("DELETE")
    assert delete.flat == 'DELETE FROM "Customer" WHERE "Customer"."cCusCode" = :cCusCode_1'


@pytest.mark.parametrize("dialect", [mssql.dialect(), oracle.dialect()], ids=["mssql", "oracle"])
def test_staging_ddl_and_writes_for_the_dialect(dialect: sa.Dialect) -> None:
    conn = RecordingConnection(dialect)
    staging = staging_table("erpbridge_staging")
    info = _info(_u8_customer())
    ops = [
        WriteOp(WriteMode.UPSERT, {"cCusCode": "C1", "cCusName": "华北"}, idempotency_key="k1"),
        WriteOp(WriteMode.UPSERT, {"cCusCode": "C2", "cCusName": "上海"}, idempotency_key="k2"),
    ]

    ddl = staging_ddl(SimpleNamespace(dialect=dialect), "erpbridge_staging", None)  # type: ignore[arg-type]
    results = write_staging(conn, info, staging, ops, SHANGHAI, None)  # type: ignore[arg-type]

    text = " ".join(" ".join(s.split()) for s in ddl)
    if dialect.name == "mssql":
        assert "staging_id BIGINT NOT NULL IDENTITY" in text
        assert "payload NVARCHAR(max) NOT NULL" in text and "record_key NVARCHAR(255)" in text
        assert "created_at DATETIME2 NOT NULL" in text
        assert (
            "UNIQUE INDEX ux_erpbridge_staging_idem ON erpbridge_staging (idempotency_key) WHERE idempotency_key IS NOT NULL"
            in text
        )
    else:
        assert "staging_id NUMBER(19) GENERATED BY DEFAULT AS IDENTITY" in text
        assert "payload CLOB NOT NULL" in text and "created_at TIMESTAMP NOT NULL" in text
        assert max(len(i.name or "") for i in staging.indexes) <= 30  # pre-12.2 Oracle
    assert [r.outcome for r in results] == [WriteOutcome.UPDATED, WriteOutcome.UPDATED] or [
        r.outcome for r in results
    ] == [WriteOutcome.CREATED, WriteOutcome.CREATED]
    (insert,) = conn.matching("INSERT INTO erpbridge_staging")
    assert [p["idempotency_key"] for p in insert.params] == ["k1", "k2"]
    assert '"payload"' not in insert.flat and "payload" in insert.flat


# --- session, errors -------------------------------------------------------------------


class _DbapiConnection:
    def __init__(self) -> None:
        self.statements: list[str] = []
        self.call_timeout = 0

    def cursor(self) -> _DbapiConnection:
        return self

    def execute(self, sql: str) -> None:
        self.statements.append(sql)

    def close(self) -> None:
        pass

    def commit(self) -> None:
        pass


def test_session_setup_sets_the_lock_timeout_on_mssql_and_the_call_timeout_on_oracle() -> None:
    sqlserver, ora = _DbapiConnection(), _DbapiConnection()

    _session_setup("mssql", 30, read_only=False)(sqlserver, None)
    _session_setup("oracle", 30, read_only=False)(ora, None)

    assert sqlserver.statements == ["SET LOCK_TIMEOUT 15000"]
    assert ora.statements == [] and ora.call_timeout == 30_000


def test_ora_rowscn_resolves_as_a_sequence_on_oracle_only() -> None:
    table = _oracle_customer()

    class Reflected(Database):
        def reflect(self, table_name: str, *, where: str) -> tuple[sa.Table, bool]:
            return table, False  # the one call that would ask the server

    def resolve(url: str) -> TableInfo:
        settings = SqlSettings(url=url, objects={"customer": {"sequence_column": "ORA_ROWSCN"}})
        return Reflected(settings).info("customer")

    info = resolve("oracle+oracledb://erp@db:1521/?service_name=ERP")

    assert info.sequence_column is not None and info.sequence_column.name == "ORA_ROWSCN"
    from erpbridge.spi.errors import ConfigError

    with pytest.raises(ConfigError, match="has no column 'ORA_ROWSCN'"):
        resolve("mssql+pymssql://erp@db:1433/UFDATA_001_2026")


pymssql = pytest.importorskip("pymssql")
oracledb = pytest.importorskip("oracledb")


def _wrapped(orig: BaseException) -> sa.exc.DBAPIError:
    return sa.exc.DBAPIError.instance("INSERT …", {}, orig, Exception)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("number", "text", "expected", "field"),
    [
        (2627, b"Violation of PRIMARY KEY constraint 'PK_Customer'.", ValidationError, None),
        (
            515,
            b"Cannot insert the value NULL into column 'cCusName', table 'U8.dbo.Customer'",
            ValidationError,
            "cCusName",
        ),
        (
            1205,
            b"Transaction was deadlocked on lock resources and has been chosen as the deadlock victim.",
            ConflictError,
            None,
        ),
        (1222, b"Lock request time out period exceeded.", ConflictError, None),
        (18456, b"Login failed for user 'erp'.", AuthError, None),
        (4060, b'Cannot open database "UFDATA_999" requested by the login.', NotFoundError, None),
        (272, b"Cannot update a timestamp column.", ValidationError, None),
    ],
)
def test_sql_server_errors_are_classified_by_their_number(
    number: int, text: bytes, expected: type[Exception], field: str | None
) -> None:
    orig = pymssql.exceptions.OperationalError(number, text)

    error = classify_db_error(_wrapped(orig), object="Customer")

    assert type(error) is expected and error.status == number
    if field:
        assert isinstance(error, ValidationError) and error.field == field


def test_mysql_1205_and_sql_server_1205_are_told_apart_by_driver() -> None:
    sqlserver = classify_db_error(_wrapped(pymssql.exceptions.OperationalError(1205, b"deadlock")))
    unknown_driver = classify_db_error(_wrapped(ValueError(1205, "something")))

    assert isinstance(sqlserver, ConflictError)
    assert not isinstance(unknown_driver, ConflictError)  # an int alone is not a MySQL errno


def _ora(code: int, message: str) -> BaseException:
    from oracledb.errors import _Error

    return oracledb.DatabaseError(_Error(message=message, code=code))


@pytest.mark.parametrize(
    ("code", "message", "expected", "field"),
    [
        (1, "ORA-00001: unique constraint (ERP.PK_CUSTOMER) violated", ValidationError, None),
        (
            1400,
            'ORA-01400: cannot insert NULL into ("ERP"."CUSTOMER"."NAME")',
            ValidationError,
            "NAME",
        ),
        (
            12899,
            'ORA-12899: value too large for column "ERP"."CUSTOMER"."NAME" (actual: 30, maximum: 20)',
            ValidationError,
            "NAME",
        ),
        (
            2291,
            "ORA-02291: integrity constraint (ERP.FK_ORDER_CUSTOMER) violated - parent key not found",
            ValidationError,
            None,
        ),
        (60, "ORA-00060: deadlock detected while waiting for resource", ConflictError, None),
        (1017, "ORA-01017: invalid username/password; logon denied", AuthError, None),
        (3113, "ORA-03113: end-of-file on communication channel", TransientError, None),
    ],
)
def test_oracle_errors_are_classified_by_their_ora_number(
    code: int, message: str, expected: type[Exception], field: str | None
) -> None:
    error = classify_db_error(_wrapped(_ora(code, message)), object="customer")

    # python-oracledb's thin driver reports a lost connection as its own DPY-4011
    status = "DPY-4011" if code == 3113 else f"ORA-{code:05d}"
    assert type(error) is expected and error.status == status
    if field:
        assert isinstance(error, ValidationError) and error.field == field


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("mssql+pymssql://erp@127.0.0.1:1/UFDATA", 20009),
        ("oracle+oracledb://erp@127.0.0.1:1/?service_name=ERP", "DPY-6005"),
    ],
)
def test_a_server_that_is_not_there_is_transient_through_the_real_driver(
    url: str, status: object
) -> None:
    from erpbridge.spi.secrets import Secret

    settings = SqlSettings(url=url, password=Secret.literal("pw-never-shown"), connect_timeout_s=2)
    database = Database(settings)
    try:
        with pytest.raises(sa.exc.SQLAlchemyError) as caught, database.engine.connect():
            pass
    finally:
        database.dispose()

    error = classify_db_error(caught.value, secret="pw-never-shown")

    assert isinstance(error, TransientError) and error.status == status, error
    assert "pw-never-shown" not in str(error)
