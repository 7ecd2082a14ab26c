"""Direct writes: a batch in one transaction, each op in its own savepoint.

Each op is checked against the reflected columns first (unknown column, wrong type, too
long, NULL where NOT NULL), then run inside a savepoint: a row that the database refuses
(a constraint, a foreign key) rolls back to its savepoint, so it leaves nothing of itself
behind, and the rest of the batch goes on. Upserts are portable (look up, then update or
insert) rather than dialect-specific ``ON CONFLICT``, so they work on every database
SQLAlchemy speaks, and an update that changes nothing is reported ``unchanged``.
An error that is not about the row (lost connection, deadlock, lock timeout) aborts the
whole batch: the transaction rolls back and the error is raised, so nothing is half-done.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from erpbridge.connectors.sql.batch import insert_new, is_unchanged, plan_batch, update_known
from erpbridge.connectors.sql.database import LinesInfo, TableInfo, did_you_mean
from erpbridge.connectors.sql.dialects import is_rowversion, locking_lookup
from erpbridge.connectors.sql.errors import SYSTEM, classify_db_error
from erpbridge.connectors.sql.values import UnfitValueError, coerce, to_db_stamp
from erpbridge.spi.errors import ConnectorError, NotFoundError, ValidationError
from erpbridge.spi.records import WriteMode, WriteOp, WriteOutcome, WriteResult

__all__ = ["Prepared", "failed", "prepare", "write_direct"]

#: error classes that belong to one op; anything else fails the whole batch.
ROW_ERRORS = (ValidationError, NotFoundError)


@dataclass(frozen=True, slots=True)
class Prepared:
    """An op checked against the table: column values, lines, where to find its row."""

    values: dict[str, object]
    lines: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    locate: tuple[sa.Column[Any], object] | None = None


def failed(op: WriteOp, error: ConnectorError) -> WriteResult:
    """The result of an op that failed with ``error``."""
    return WriteResult(op.ref, WriteOutcome.FAILED, op.target_id, error=error)


def _where(pos: int, op: WriteOp) -> str:
    return f"op {pos}" + (f" (ref {op.ref})" if op.ref else "")


def _refuse(info: TableInfo, pos: int, op: WriteOp, message: str, column: str | None) -> None:
    raise ValidationError(
        f"{_where(pos, op)}: {message}", field=column, system=SYSTEM, object=info.name
    )


def _coerced(
    table: sa.Table,
    fields: Mapping[str, object],
    zone: ZoneInfo,
    refuse: Any,
    prefix: str = "",
) -> dict[str, object]:
    values: dict[str, object] = {}
    for name, value in fields.items():
        if name not in table.c:
            refuse(
                f"table {table.name!r} has no column {prefix}{name!r}"
                f"{did_you_mean(name, table.c.keys())}",
                f"{prefix}{name}",
            )
        column = table.c[name]
        if column.computed is not None:
            refuse(f"column {prefix}{name!r} is computed by the database", f"{prefix}{name}")
        if is_rowversion(column):
            refuse(f"column {prefix}{name!r} is a rowversion set by SQL Server", f"{prefix}{name}")
        try:
            values[name] = coerce(value, column, zone)
        except UnfitValueError as exc:
            refuse(f"column {prefix}{name!r} {exc} (value {value!r})", f"{prefix}{name}")
    return values


def _lines(lines: LinesInfo, value: object, zone: ZoneInfo, refuse: Any) -> list[dict[str, object]]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, Mapping) for v in value):
        refuse(f"{lines.name} must be a list of lines (records)", lines.name)
    out = []
    checked: Sequence[Mapping[str, object]] = value  # type: ignore[assignment]  # checked above
    for n, line in enumerate(checked):
        fields = {k: v for k, v in line.items() if k != lines.parent_column.name}
        out.append(_coerced(lines.table, fields, zone, refuse, f"{lines.name}[{n}]."))
    return out


def prepare(info: TableInfo, pos: int, op: WriteOp, zone: ZoneInfo, now: datetime) -> Prepared:
    """Check one op against the table; everything here is refused before any SQL runs.

    Raises:
        ValidationError: naming the op's position, the column and why.
    """

    def refuse(message: str, column: str | None = None) -> None:
        _refuse(info, pos, op, message, column)

    columns = {k: v for k, v in op.fields.items() if k not in info.lines}
    values = _coerced(info.table, columns, zone, refuse)
    lines = {
        name: _lines(info.lines[name], op.fields[name], zone, refuse)
        for name in info.lines
        if name in op.fields
    }
    stamp = info.stamp_column
    if (
        op.mode is not WriteMode.DELETE
        and stamp is not None
        and info.touch_stamp
        and stamp.name not in values
    ):
        values[stamp.name] = to_db_stamp(now.astimezone(UTC), stamp, zone)
    locate: tuple[sa.Column[Any], object] | None = None
    try:
        if op.target_id is not None:
            locate = (info.id_column, coerce(op.target_id, info.id_column, zone))
        elif op.key_field is not None and op.key_value is not None:
            key = info.column(op.key_field)
            locate = (key, coerce(op.key_value, key, zone))
        elif info.id_column.name in values and values[info.id_column.name] is not None:
            locate = (info.id_column, values[info.id_column.name])
    except UnfitValueError as exc:
        refuse(f"the record's id or key {exc}", op.key_field or info.id_column.name)
    if locate is None and op.mode in (WriteMode.UPDATE, WriteMode.DELETE):
        refuse(f"{op.mode.value} needs target_id or key_field/key_value")
    return Prepared(values, lines, locate)


def _existing(
    conn: sa.Connection, info: TableInfo, where: str, prepared: Prepared
) -> sa.Row[Any] | None:
    if prepared.locate is None:
        return None
    column, value = prepared.locate
    query = locking_lookup(sa.select(info.table).where(column == value).limit(2), info.table)
    rows = list(conn.execute(query))
    if len(rows) > 1:
        raise ValidationError(
            f"{where}: {column.name} = {value!r} matches more than one record; use a unique key",
            field=column.name,
            system=SYSTEM,
            object=info.name,
        )
    return rows[0] if rows else None


def _replace_lines(
    conn: sa.Connection, info: TableInfo, prepared: Prepared, parent: Mapping[Any, object]
) -> None:
    for name, lines in prepared.lines.items():
        spec = info.lines[name]
        key = parent[spec.parent_key]
        conn.execute(sa.delete(spec.table).where(spec.parent_column == key))
        if lines:
            rows = [{**line, spec.parent_column.name: key} for line in lines]
            conn.execute(sa.insert(spec.table), rows)


class _Unknown:
    """Marks an op whose current row was not read ahead."""


UNKNOWN = _Unknown()


def _apply(
    conn: sa.Connection,
    info: TableInfo,
    where: str,
    op: WriteOp,
    prepared: Prepared,
    existing: sa.Row[Any] | _Unknown | None = UNKNOWN,
) -> WriteResult:
    table, values = info.table, prepared.values
    row = _existing(conn, info, where, prepared) if isinstance(existing, _Unknown) else existing
    if op.mode is WriteMode.DELETE:
        if row is None:  # already gone: deleting again is done, not an error
            return WriteResult(op.ref, WriteOutcome.UNCHANGED, op.target_id)
        for spec in info.lines.values():
            conn.execute(
                sa.delete(spec.table).where(spec.parent_column == row._mapping[spec.parent_key])
            )
        conn.execute(sa.delete(table).where(info.id_column == row._mapping[info.id_column]))
        return WriteResult(op.ref, WriteOutcome.DELETED, str(row._mapping[info.id_column]))
    if row is None and op.mode is WriteMode.UPDATE:
        column, value = prepared.locate or (info.id_column, op.target_id)
        raise NotFoundError(
            f"{where}: no record with {column.name} = {value!r} to update",
            system=SYSTEM,
            object=info.name,
        )
    if row is not None and op.mode is not WriteMode.CREATE:
        if is_unchanged(row, values, info) and not prepared.lines:
            return WriteResult(op.ref, WriteOutcome.UNCHANGED, str(row._mapping[info.id_column]))
        same_id = info.id_column == row._mapping[info.id_column]
        conn.execute(sa.update(table).where(same_id).values(values))
        merged = {c: row._mapping[c] for c in table.c}
        merged.update({table.c[k]: v for k, v in values.items()})
        _replace_lines(conn, info, prepared, merged)
        return WriteResult(op.ref, WriteOutcome.UPDATED, str(merged[info.id_column]))
    result = conn.execute(sa.insert(table).values(values))
    merged = {table.c[k]: v for k, v in values.items()}
    pk = result.inserted_primary_key
    if pk is not None:
        for column, value in zip(table.primary_key.columns, pk, strict=False):
            if value is not None:
                merged[column] = value
    new_id = merged.get(info.id_column)
    if prepared.lines:
        _replace_lines(conn, info, prepared, merged)
    return WriteResult(op.ref, WriteOutcome.CREATED, None if new_id is None else str(new_id))


def _write_one(
    conn: sa.Connection,
    info: TableInfo,
    pos: int,
    op: WriteOp,
    prepared: Prepared,
    secret: str | None,
    existing: sa.Row[Any] | _Unknown | None,
) -> WriteResult:
    """One op in its own savepoint; a row error rolls back to it and becomes the result."""
    savepoint = conn.begin_nested()
    try:
        result = _apply(conn, info, _where(pos, op), op, prepared, existing)
    except ROW_ERRORS as exc:
        savepoint.rollback()
        return failed(op, exc)
    except sa.exc.SQLAlchemyError as exc:
        error = classify_db_error(exc, object=info.name, secret=secret, where=_where(pos, op))
        if not isinstance(error, ROW_ERRORS):
            raise error from exc
        savepoint.rollback()
        return failed(op, error)
    savepoint.commit()
    return result


def write_direct(
    conn: sa.Connection,
    info: TableInfo,
    ops: Sequence[WriteOp],
    zone: ZoneInfo,
    secret: str | None,
) -> list[WriteResult]:
    """Write ``ops`` inside the caller's transaction; one result per op, in order.

    Records are looked up with one query per key column and new ones inserted together
    where that is safe (batch.py); everything else is written op by op.

    Raises:
        ConnectorError: an error that is not about one row (the caller rolls back).
    """
    now = datetime.now(UTC)
    results: dict[int, WriteResult] = {}
    prepared: list[Prepared | None] = []
    for pos, op in enumerate(ops):
        try:
            prepared.append(prepare(info, pos, op, zone, now))
        except ValidationError as exc:
            prepared.append(None)
            results[pos] = failed(op, exc)
    plan = plan_batch(conn, info, ops, prepared)
    new = [(pos, ops[pos], p) for pos in plan.new if (p := prepared[pos]) is not None]
    inserted = insert_new(conn, info, new, secret)
    if inserted is not None:
        results.update(inserted)
    known = [
        (pos, ops[pos], p, row)
        for pos, row in plan.known.items()
        if row is not None
        and (p := prepared[pos]) is not None
        and ops[pos].mode in (WriteMode.UPSERT, WriteMode.UPDATE)
        and not p.lines
    ]
    updated = update_known(conn, info, known, secret)
    if updated is not None:
        results.update(updated)
    for pos, op in enumerate(ops):
        p = prepared[pos]
        if pos in results or p is None:
            continue
        results[pos] = _write_one(conn, info, pos, op, p, secret, plan.known.get(pos, UNKNOWN))
    return [results[pos] for pos in range(len(ops))]
