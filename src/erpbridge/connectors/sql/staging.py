"""Staging writes: each op becomes a row of an interface table that the ERP imports.

The safer default with a preset: erpbridge never touches the ERP's own tables; the ERP's
import job (a U8 plug-in, a scheduled procedure, a person with a spreadsheet) reads rows
whose ``status`` is ``new`` in ``staging_id`` order, applies them through the ERP's own
logic, and sets ``status`` to ``imported`` or ``failed`` with a ``message`` and
``processed_at``. A flow can read the staging table back as an object to watch that.

Fields are still checked against the ERP table's columns before they are staged, so a
wrong type or an unknown column is a per-op error now, not an import failure later.
The op's idempotency key is unique in the table: the same job staged twice is one row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import mssql, oracle
from sqlalchemy.schema import CreateIndex, CreateTable

from erpbridge.connectors.sql.changes import UTC_ZONE
from erpbridge.connectors.sql.database import TableInfo
from erpbridge.connectors.sql.errors import classify_db_error
from erpbridge.connectors.sql.reader import IN_CHUNK
from erpbridge.connectors.sql.values import to_db_stamp, to_json_text
from erpbridge.connectors.sql.writer import ROW_ERRORS, failed, prepare
from erpbridge.spi.errors import ValidationError
from erpbridge.spi.records import WriteMode, WriteOp, WriteOutcome, WriteResult

__all__ = ["staging_ddl", "staging_table", "write_staging"]


def staging_table(name: str, schema: str | None = None) -> sa.Table:
    """The staging table's definition (DDL via :func:`staging_ddl`).

    Portable across the dialects: an identity key (Oracle has no auto-increment without
    one), Unicode text (SQL Server ``NVARCHAR``: Chinese names and payloads survive any
    collation), and Oracle ``TIMESTAMP`` rather than ``DATE`` (which has no fractions).
    """
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    stamp = (
        sa.DateTime()
        .with_variant(oracle.TIMESTAMP(), "oracle")
        .with_variant(mssql.DATETIME2(), "mssql")  # type: ignore[no-untyped-call]  # untyped in SQLAlchemy
    )
    table = sa.Table(
        name,
        sa.MetaData(schema=schema),
        sa.Column("staging_id", big, sa.Identity(), primary_key=True, autoincrement=True),
        sa.Column("object", sa.Unicode(128), nullable=False),
        sa.Column("op", sa.String(16), nullable=False),
        sa.Column("key_field", sa.Unicode(128)),
        sa.Column("record_key", sa.Unicode(255)),
        sa.Column("idempotency_key", sa.Unicode(255)),
        sa.Column("payload", long_text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="new"),
        sa.Column("message", long_text()),
        sa.Column("created_at", stamp, nullable=False),  # UTC
        sa.Column("processed_at", stamp),  # UTC, set by the importer
        sa.Index(f"ix_{name}_status", "status", "staging_id"),
    )
    # Unique where set. A plain UNIQUE would allow one NULL only on SQL Server, so there
    # the index is filtered; elsewhere NULLs never collide.
    key = table.c.idempotency_key
    sa.Index(f"ux_{name}_idem", key, unique=True, mssql_where=key.is_not(None))
    return table


def long_text() -> sa.types.TypeEngine[str]:
    """Unbounded Unicode text: ``NVARCHAR(max)`` on SQL Server, ``NCLOB`` on Oracle."""
    return sa.UnicodeText().with_variant(mssql.NVARCHAR(), "mssql")


def staging_ddl(engine: sa.Engine, name: str, schema: str | None) -> list[str]:
    """The statements that create the staging table, for this database's dialect."""
    table = staging_table(name, schema)
    statements = [str(CreateTable(table).compile(dialect=engine.dialect)).strip()]
    statements += [
        str(CreateIndex(index).compile(dialect=engine.dialect)).strip()
        for index in sorted(table.indexes, key=lambda i: str(i.name))  # a set: fix the order
    ]
    return statements


def _key(info: TableInfo, op: WriteOp) -> tuple[str | None, str | None]:
    if op.target_id is not None:
        return info.id_column.name, op.target_id
    if op.key_field is not None and op.key_value is not None:
        return op.key_field, str(op.key_value)
    value = op.fields.get(info.id_column.name)
    return info.id_column.name, None if value is None else str(value)


def _stage_one(
    conn: sa.Connection, staging: sa.Table, info: TableInfo, op: WriteOp, now: datetime
) -> WriteResult:
    record_key = _key(info, op)[1]
    if op.idempotency_key is not None:
        query = sa.select(staging.c.staging_id, staging.c.record_key).where(
            staging.c.idempotency_key == op.idempotency_key
        )
        seen = conn.execute(query).first()
        if seen is not None:
            target = seen.record_key or f"staging:{seen.staging_id}"
            return WriteResult(op.ref, WriteOutcome.UNCHANGED, target)
    result = conn.execute(sa.insert(staging).values(_row(info, staging, op, now)))
    staging_id = result.inserted_primary_key[0] if result.inserted_primary_key else None
    outcome = _OUTCOMES.get(op.mode, WriteOutcome.CREATED)
    return WriteResult(op.ref, outcome, record_key or f"staging:{staging_id}")


def _row(info: TableInfo, staging: sa.Table, op: WriteOp, now: datetime) -> dict[str, object]:
    key_field, record_key = _key(info, op)
    return {
        "object": info.name,
        "op": op.mode.value,
        "key_field": key_field,
        "record_key": record_key,
        "idempotency_key": op.idempotency_key,
        "payload": to_json_text(op.fields),
        "status": "new",
        "created_at": to_db_stamp(now, staging.c.created_at, UTC_ZONE),
    }


_OUTCOMES = {WriteMode.DELETE: WriteOutcome.DELETED, WriteMode.UPDATE: WriteOutcome.UPDATED}


def _stage_together(
    conn: sa.Connection,
    info: TableInfo,
    staging: sa.Table,
    items: list[tuple[int, WriteOp]],
    now: datetime,
    secret: str | None,
) -> dict[int, WriteResult]:
    """Stage ops with distinct, new idempotency keys and a record key in one INSERT.

    Returns the results of the ops it staged; the others (and all of them when the
    database refuses the INSERT) are left to the op-by-op path.
    """
    keys = Counter(op.idempotency_key for _, op in items)
    wanted = [
        (pos, op)
        for pos, op in items
        if op.idempotency_key is not None
        and keys[op.idempotency_key] == 1
        and _key(info, op)[1] is not None
    ]
    seen: set[object] = set()
    column = staging.c.idempotency_key
    for start in range(0, len(wanted), IN_CHUNK):
        chunk = [op.idempotency_key for _, op in wanted[start : start + IN_CHUNK]]
        seen.update(conn.execute(sa.select(column).where(column.in_(chunk))).scalars())
    fresh = [(pos, op) for pos, op in wanted if op.idempotency_key not in seen]
    if not fresh:
        return {}
    savepoint = conn.begin_nested()
    try:
        conn.execute(sa.insert(staging), [_row(info, staging, op, now) for _, op in fresh])
    except sa.exc.SQLAlchemyError as exc:
        error = classify_db_error(exc, object=info.name, secret=secret)
        if not isinstance(error, ROW_ERRORS):
            raise error from exc
        savepoint.rollback()
        return {}
    savepoint.commit()
    return {
        pos: WriteResult(op.ref, _OUTCOMES.get(op.mode, WriteOutcome.CREATED), _key(info, op)[1])
        for pos, op in fresh
    }


def write_staging(
    conn: sa.Connection,
    info: TableInfo,
    staging: sa.Table,
    ops: Sequence[WriteOp],
    zone: ZoneInfo,
    secret: str | None,
) -> list[WriteResult]:
    """Stage ``ops`` inside the caller's transaction; one result per op, in order.

    Raises:
        ConnectorError: an error that is not about one row (the caller rolls back).
    """
    now = datetime.now(UTC)
    results: dict[int, WriteResult] = {}
    checked: list[tuple[int, WriteOp]] = []
    for pos, op in enumerate(ops):
        try:
            prepare(info, pos, op, zone, now)  # the ERP table's columns and types
        except ValidationError as exc:
            results[pos] = failed(op, exc)
            continue
        checked.append((pos, op))
    results.update(_stage_together(conn, info, staging, checked, now, secret))
    for pos, op in checked:
        if pos in results:
            continue
        savepoint = conn.begin_nested()
        try:
            result = _stage_one(conn, staging, info, op, now)
        except sa.exc.SQLAlchemyError as exc:
            error = classify_db_error(exc, object=info.name, secret=secret, where=f"op {pos}")
            if not isinstance(error, ROW_ERRORS):
                raise error from exc
            savepoint.rollback()
            results[pos] = failed(op, error)
            continue
        savepoint.commit()
        results[pos] = result
    return [results[pos] for pos in range(len(ops))]
