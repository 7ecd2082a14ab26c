"""``column IN (values)`` for a list of values known only at run time (a page's record ids).

On PostgreSQL it is ``column = ANY(:values)``, the list bound as one array parameter:
the statement's text is the same for every list, so SQLAlchemy's compiled form and
psycopg's parsed query are reused, and the server can keep the statement prepared. An
``IN`` list is rendered anew for each list, 500 placeholders long: at 6,000 orders a
second that rendering and psycopg's parse of it were a fifth of the intake's CPU
(docs/performance.md). The planner takes ``= ANY`` on a b-tree index as it takes ``IN``.
Other databases get ``IN``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

__all__ = ["one_of", "unnest_values"]


def one_of(conn: Connection, column: Any, values: Collection[Any]) -> sa.ColumnElement[bool]:
    """``column`` is one of ``values``, as the connection's database takes it best."""
    if conn.dialect.name == "postgresql":
        array = sa.bindparam(None, list(values), type_=postgresql.ARRAY(column.type))
        return column == sa.any_(array)  # type: ignore[no-any-return]
    return column.in_(list(values))  # type: ignore[no-any-return]


def unnest_values(name: str, **columns: Any) -> Any:
    """PostgreSQL: ``unnest(:<name>_a, :<name>_b, …) AS <name>(a, b, …)``, a row per
    position of the lists bound as ``<name>_<column>`` when the statement runs
    (``columns``: name -> the column whose type the values have).

    Join one ``LATERAL`` subquery per row to it: that subquery probes an index for each
    row whatever the planner knows of the table. An ``= ANY`` filter is planned from
    statistics, and without them (a new store, a burst faster than autovacuum) it scanned
    every job of a flow for each page (docs/performance.md). The statement's text is the
    same for every list, so build it once.
    """
    arrays = [
        sa.bindparam(f"{name}_{key}", type_=postgresql.ARRAY(column.type))
        for key, column in columns.items()
    ]
    names = [sa.column(key, column.type) for key, column in columns.items()]
    return sa.func.unnest(*arrays).table_valued(*names).render_derived(name)
