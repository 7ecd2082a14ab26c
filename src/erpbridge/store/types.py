"""Column types shared by the store's tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

__all__ = ["JSONDoc", "JSONText", "UTCDateTime"]

#: JSON documents: JSONB on PostgreSQL, JSON text on SQLite.
JSONDoc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

#: JSON documents written and read whole, never queried into nor compared (a job's
#: snapshot and payload, an attempt's call): JSON on PostgreSQL too, which keeps the text
#: as written. JSONB parses every value into a tree on the way in and prints it back on
#: the way out: for an order of 5 lines, a fifth more of the server's CPU to insert it
#: and twice as much to claim it back (migration 0009, docs/performance.md).
JSONText = sa.JSON()


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    SQLite has no time zone type; we store naive UTC and attach UTC on the way out, so
    code above the store only ever sees aware UTC datetimes (STYLE.md, naming).
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]
