"""Fewer round trips for a write batch: one look-up, one INSERT for new, one UPDATE for known.

The per-op path (writer.py) costs a savepoint, a look-up and a write per record. Here:

- the records of every op located by a **unique** column (primary key, unique constraint
  or index) are read in one ``IN`` query; an op's row is taken from it only when no other
  op of the batch names the same key or id, so no earlier op can have changed it;
- if the database returns a row whose key is not exactly one of the values asked for (a
  case-insensitive collation, padded ``CHAR``), the column is not trusted and its ops take
  the per-op path;
- ops whose record is known to be absent, with their id and no lines, are inserted with
  one multi-row INSERT in one savepoint. If the database refuses it (a row breaks a
  constraint), the savepoint is rolled back and those ops take the per-op path, which
  finds the culprit and reports it with its position; the others are still written;
- ops whose record is known to exist are ``unchanged`` without any SQL when the values
  are the same, and otherwise updated by id with one executemany per column set, with the
  same fall-back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from erpbridge.connectors.sql.database import TableInfo
from erpbridge.connectors.sql.dialects import locking_lookup
from erpbridge.connectors.sql.errors import classify_db_error
from erpbridge.connectors.sql.reader import IN_CHUNK
from erpbridge.spi.errors import NotFoundError, ValidationError
from erpbridge.spi.records import WriteMode, WriteOp, WriteOutcome, WriteResult

__all__ = ["Plan", "insert_new", "is_unchanged", "plan_batch", "update_known"]

Row = sa.Row[Any]


@dataclass(frozen=True, slots=True)
class Plan:
    """What one look-up query learnt: each op's current row (None: absent), and new ones."""

    known: dict[int, Row | None] = field(default_factory=dict)
    new: list[int] = field(default_factory=list)


def _unique_columns(table: sa.Table) -> set[str]:
    names: set[str] = set()
    if len(table.primary_key.columns) == 1:
        names.update(c.name for c in table.primary_key.columns)
    for constraint in getattr(table, "constraints", ()):
        if isinstance(constraint, sa.UniqueConstraint) and len(constraint.columns) == 1:
            names.update(c.name for c in constraint.columns)
    for index in getattr(table, "indexes", ()):
        if index.unique and len(index.columns) == 1:
            names.update(c.name for c in index.columns)
    return names


def _pairs(info: TableInfo, names: set[str], prepared: Any) -> frozenset[tuple[str, object]]:
    pairs = {(n, v) for n, v in prepared.values.items() if n in names}
    if prepared.locate is not None:
        pairs.add((prepared.locate[0].name, prepared.locate[1]))
    return frozenset(pairs)


def plan_batch(
    conn: sa.Connection, info: TableInfo, ops: Sequence[WriteOp], prepared: Sequence[Any]
) -> Plan:
    """Read the current rows of the ops that can be planned, with one query per key column.

    ``prepared[i]`` is the op's ``writer.Prepared``, or None when it was refused.
    """
    unique = _unique_columns(info.table)
    names = unique | {info.id_column.name}
    pairs = {pos: _pairs(info, names, p) for pos, p in enumerate(prepared) if p is not None}
    counts = Counter(pair for op_pairs in pairs.values() for pair in op_pairs)
    by_column: dict[str, dict[int, object]] = {}
    for pos, p in enumerate(prepared):
        if p is None or p.locate is None or p.locate[0].name not in unique:
            continue
        if all(counts[pair] == 1 for pair in pairs[pos]):
            by_column.setdefault(p.locate[0].name, {})[pos] = p.locate[1]
    plan = Plan()
    for name, wanted in by_column.items():
        column = info.table.c[name]
        values = list(dict.fromkeys(wanted.values()))
        found: dict[object, Row] = {}
        for start in range(0, len(values), IN_CHUNK):
            chunk = values[start : start + IN_CHUNK]
            query = locking_lookup(sa.select(info.table).where(column.in_(chunk)), info.table)
            for fetched in conn.execute(query):
                found[fetched._mapping[column]] = fetched
        asked = set(values)
        if any(key not in asked for key in found):
            continue  # the database compares differently than Python: not trusted
        for pos, value in wanted.items():
            plan.known[pos] = found.get(value)
    id_name = info.id_column.name
    for pos, current in plan.known.items():
        p = prepared[pos]
        if (
            current is None
            and ops[pos].mode in (WriteMode.CREATE, WriteMode.UPSERT)
            and not p.lines
            and p.values.get(id_name) is not None
        ):
            plan.new.append(pos)
    return plan


def insert_new(
    conn: sa.Connection,
    info: TableInfo,
    items: Sequence[tuple[int, WriteOp, Any]],
    secret: str | None,
) -> dict[int, WriteResult] | None:
    """Insert absent records with one INSERT per column set, inside one savepoint.

    Returns:
        A result per position, or None when the database refused a row (the savepoint is
        rolled back; the caller writes these ops one by one).

    Raises:
        ConnectorError: an error that is not about a row (the caller rolls back).
    """
    if not items:
        return {}
    groups: dict[tuple[str, ...], list[dict[str, object]]] = {}
    for _, _, p in items:
        groups.setdefault(tuple(sorted(p.values)), []).append(p.values)
    savepoint = conn.begin_nested()
    try:
        for rows in groups.values():
            conn.execute(sa.insert(info.table), rows)
    except sa.exc.SQLAlchemyError as exc:
        error = classify_db_error(exc, object=info.name, secret=secret)
        if not isinstance(error, ValidationError | NotFoundError):
            raise error from exc
        savepoint.rollback()
        return None
    savepoint.commit()
    id_name = info.id_column.name
    return {
        pos: WriteResult(op.ref, WriteOutcome.CREATED, str(p.values[id_name]))
        for pos, op, p in items
    }


def is_unchanged(row: Row, values: dict[str, object], info: TableInfo) -> bool:
    """True when the row already holds ``values`` (the stamp column aside)."""
    stamp = info.stamp_column.name if info.stamp_column is not None else None
    mapping = row._mapping
    return all(mapping[info.table.c[k]] == v for k, v in values.items() if k != stamp)


def update_known(
    conn: sa.Connection,
    info: TableInfo,
    items: Sequence[tuple[int, WriteOp, Any, Row]],
    secret: str | None,
) -> dict[int, WriteResult] | None:
    """Update records whose current row is known: unchanged ones need no SQL; the rest go
    as one executemany UPDATE per column set, inside one savepoint.

    Returns:
        A result per position, or None when the database refused a row (the savepoint is
        rolled back; the caller writes these ops one by one).

    Raises:
        ConnectorError: an error that is not about a row (the caller rolls back).
    """
    results: dict[int, WriteResult] = {}
    groups: dict[tuple[str, ...], list[tuple[int, WriteOp, Any, Row]]] = {}
    for item in items:
        pos, op, p, row = item
        if is_unchanged(row, p.values, info):
            results[pos] = WriteResult(
                op.ref, WriteOutcome.UNCHANGED, str(row._mapping[info.id_column])
            )
        else:
            groups.setdefault(tuple(sorted(p.values)), []).append(item)
    if not groups:
        return results
    savepoint = conn.begin_nested()
    try:
        for names, group in groups.items():
            # bound names are positional (v0, v1 …): column names may hold any character
            statement = (
                sa.update(info.table)
                .where(info.id_column == sa.bindparam("id_"))
                .values({info.table.c[n]: sa.bindparam(f"v{i}") for i, n in enumerate(names)})
            )
            rows = [
                {"id_": row._mapping[info.id_column]}
                | {f"v{i}": p.values[n] for i, n in enumerate(names)}
                for _, _, p, row in group
            ]
            conn.execute(statement, rows)
    except sa.exc.SQLAlchemyError as exc:
        error = classify_db_error(exc, object=info.name, secret=secret)
        if not isinstance(error, ValidationError | NotFoundError):
            raise error from exc
        savepoint.rollback()
        return None
    savepoint.commit()
    for group in groups.values():
        for pos, op, p, row in group:
            new_id = p.values.get(info.id_column.name, row._mapping[info.id_column])
            results[pos] = WriteResult(op.ref, WriteOutcome.UPDATED, str(new_id))
    return results
