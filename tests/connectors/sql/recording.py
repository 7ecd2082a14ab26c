"""A connection that compiles what the connector executes, for a dialect with no server here.

SQL Server and Oracle do not run on this machine. The connector's statement builders
all take a ``sa.Connection``; this stand-in takes its place, compiles each statement
with the real SQLAlchemy dialect (``mssql``, ``oracle``) exactly as a live connection
would before sending it, records the SQL and the bound values, and answers with rows the
test scripts (none by default: "no such record"). Savepoints are rendered by the
dialect's own savepoint clauses. What it cannot show is what a server then does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.expression import (
    ReleaseSavepointClause,
    RollbackToSavepointClause,
    SavepointClause,
)


@dataclass
class Sent:
    """One statement as the dialect renders it, with its bound values."""

    sql: str
    params: list[dict[str, Any]]

    @property
    def flat(self) -> str:
        """The SQL on one line (for ``in`` checks)."""
        return " ".join(self.sql.split())


class FakeRow:
    """A row as the connector reads one: ``row._mapping[column]`` and ``row.name``."""

    def __init__(self, values: Mapping[Any, object]) -> None:
        mapping: dict[Any, object] = {}
        for key, value in values.items():
            mapping[key] = value
            name = getattr(key, "name", key)
            mapping[name] = value
        self._mapping = mapping

    def __getattr__(self, name: str) -> object:
        try:
            return self._mapping[name]
        except KeyError:
            raise AttributeError(name) from None


class Result:
    """What ``execute`` returns: the scripted rows, a primary key for inserts."""

    def __init__(self, rows: Sequence[FakeRow], inserted: Sequence[object] | None) -> None:
        self._rows = list(rows)
        self.inserted_primary_key = inserted
        self.rowcount = len(self._rows)

    def __iter__(self) -> Iterator[FakeRow]:
        return iter(self._rows)

    def first(self) -> FakeRow | None:
        return self._rows[0] if self._rows else None

    def scalars(self) -> Iterator[object]:
        return (next(iter(r._mapping.values())) for r in self._rows)


@dataclass
class _Savepoint:
    conn: RecordingConnection
    name: str

    def commit(self) -> None:
        # SQL Server and Oracle have no RELEASE SAVEPOINT; their dialects send nothing
        if self.conn.dialect.name not in ("mssql", "oracle"):
            self.conn.record(ReleaseSavepointClause(self.name))

    def rollback(self) -> None:
        self.conn.record(RollbackToSavepointClause(self.name))


Answer = Callable[[Any], Sequence[FakeRow]]


@dataclass
class RecordingConnection:
    """Stands in for ``sa.Connection`` with the given dialect; records what is sent."""

    dialect: sa.Dialect
    answer: Answer = field(default=lambda statement: [])
    sent: list[Sent] = field(default_factory=list)
    next_pk: int = 1000
    _savepoints: int = 0

    def record(self, statement: Any, rows: Sequence[Mapping[str, object]] = ()) -> Sent:
        keys = list(rows[0]) if rows else None
        compiled = statement.compile(
            dialect=self.dialect,
            column_keys=keys,
            compile_kwargs={"render_postcompile": True},
        )
        params = [dict(r) for r in rows] if rows else [dict(compiled.params or {})]
        sent = Sent(compiled.string, params)
        self.sent.append(sent)
        return sent

    def execute(self, statement: Any, parameters: Any = None) -> Result:
        rows: Sequence[Mapping[str, object]] = ()
        if isinstance(parameters, list):
            rows = parameters
        elif isinstance(parameters, Mapping):
            rows = [parameters]
        self.record(statement, rows)
        inserted = None
        if isinstance(statement, sa.Insert) and not rows:
            self.next_pk += 1
            inserted = (self.next_pk,)
        return Result(self.answer(statement), inserted)

    def begin_nested(self) -> _Savepoint:
        self._savepoints += 1
        name = f"sa_savepoint_{self._savepoints}"
        self.record(SavepointClause(name))
        return _Savepoint(self, name)

    def matching(self, text: str) -> list[Sent]:
        """Statements whose one-line SQL contains ``text``."""
        return [s for s in self.sent if text in s.flat]
