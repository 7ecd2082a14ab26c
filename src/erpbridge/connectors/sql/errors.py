"""Database errors -> spi errors, in one place: tables by SQLSTATE and by MySQL errno.

PostgreSQL (psycopg) gives a five-character SQLSTATE; MySQL and MariaDB (PyMySQL) give
an errno. The tables are looked up first by the exact code, then (PostgreSQL) by its
two-character class, then by SQLAlchemy's exception class. The message is the database's
own text, verbatim, with the connection's password blanked should a driver ever echo it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from erpbridge.spi.errors import (
    AuthError,
    ConflictError,
    ConnectorError,
    NotFoundError,
    TransientError,
    ValidationError,
)

__all__ = [
    "MYSQL_ERRNO_TABLE",
    "SQLSTATE_CLASS_TABLE",
    "SQLSTATE_TABLE",
    "SYSTEM",
    "classify_db_error",
    "map_errors",
]

SYSTEM = "sql"

#: PostgreSQL SQLSTATE -> error class (exact codes first).
SQLSTATE_TABLE: dict[str, type[ConnectorError]] = {
    "28000": AuthError,  # invalid authorization specification
    "28P01": AuthError,  # invalid password
    "42501": AuthError,  # insufficient privilege
    "3D000": NotFoundError,  # database does not exist
    "3F000": NotFoundError,  # schema does not exist
    "40001": ConflictError,  # serialization failure
    "40P01": ConflictError,  # deadlock detected
    "55P03": ConflictError,  # lock not available
    "57014": TransientError,  # statement timeout / cancelled
    "25006": AuthError,  # read-only transaction refuses a write
}

#: PostgreSQL SQLSTATE class (first two characters) -> error class.
SQLSTATE_CLASS_TABLE: dict[str, type[ConnectorError]] = {
    "08": TransientError,  # connection exception
    "53": TransientError,  # insufficient resources
    "57": TransientError,  # operator intervention (shutdown)
    "58": TransientError,  # system error (I/O)
    "22": ValidationError,  # data exception: bad value, out of range, too long
    "23": ValidationError,  # integrity constraint violation
    "42": ValidationError,  # syntax error or access rule (unknown column or table)
}

#: MySQL / MariaDB errno -> error class.
MYSQL_ERRNO_TABLE: dict[int, type[ConnectorError]] = {
    1044: AuthError,  # access denied to database
    1045: AuthError,  # access denied for user
    1142: AuthError,  # command denied to user
    1143: AuthError,  # column command denied
    1792: AuthError,  # cannot execute statement in a READ ONLY transaction
    1049: NotFoundError,  # unknown database
    1205: ConflictError,  # lock wait timeout
    1213: ConflictError,  # deadlock
    1040: TransientError,  # too many connections
    1053: TransientError,  # server shutdown in progress
    2002: TransientError,  # cannot connect (socket)
    2003: TransientError,  # cannot connect (TCP)
    2006: TransientError,  # server has gone away
    2013: TransientError,  # lost connection during query
    1048: ValidationError,  # column cannot be null
    1054: ValidationError,  # unknown column
    1062: ValidationError,  # duplicate entry for key
    1146: ValidationError,  # table does not exist
    1264: ValidationError,  # out of range value
    1292: ValidationError,  # incorrect date/time value
    1364: ValidationError,  # field has no default value
    1366: ValidationError,  # incorrect value for column
    1406: ValidationError,  # data too long
    1451: ValidationError,  # row is referenced by a foreign key
    1452: ValidationError,  # foreign key refers to a missing row
    3819: ValidationError,  # check constraint violated (MySQL)
    4025: ValidationError,  # CONSTRAINT failed (MariaDB)
}

#: SQLAlchemy exception class -> error class, when no code matched (first match wins).
_CLASS_TABLE: tuple[tuple[type[Exception], type[ConnectorError]], ...] = (
    (sa.exc.IntegrityError, ValidationError),
    (sa.exc.DataError, ValidationError),
    (sa.exc.OperationalError, TransientError),
    (sa.exc.InterfaceError, TransientError),
    (sa.exc.TimeoutError, TransientError),
    (sa.exc.ProgrammingError, ValidationError),
)

_COLUMN_IN_TEXT = re.compile(r"[Cc]olumn '([^']+)'|for column '([^']+)'|column \"([^\"]+)\"")


def _code_of(orig: BaseException | None) -> tuple[str | None, int | None]:
    if orig is None:
        return None, None
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):
        return None, args[0]  # MySQL/MariaDB errno (PyMySQL also sets a generic sqlstate)
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate, None
    return None, None


def _field_of(orig: BaseException | None, message: str) -> str | None:
    diag = getattr(orig, "diag", None)
    column = getattr(diag, "column_name", None) if diag is not None else None
    if isinstance(column, str) and column:
        return column
    match = _COLUMN_IN_TEXT.search(message)
    if match:
        return next(g for g in match.groups() if g)
    return None


def classify_db_error(
    exc: sa.exc.SQLAlchemyError,
    *,
    object: str | None = None,
    secret: str | None = None,
    where: str = "",
) -> ConnectorError:
    """The spi error for a SQLAlchemy error (the database's text, password blanked).

    Args:
        exc: what SQLAlchemy raised.
        object: the object concerned.
        secret: the connection's password, blanked from the text should it appear.
        where: a prefix naming the place (``op 3``), for people.
    """
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else None
    text = str(orig if orig is not None else exc).strip().splitlines()[0:3]
    message = " ".join(line.strip() for line in text) or type(exc).__name__
    if secret:
        message = message.replace(secret, "***")
    sqlstate, errno = _code_of(orig)
    cls: type[ConnectorError] | None = None
    if sqlstate is not None:
        cls = SQLSTATE_TABLE.get(sqlstate) or SQLSTATE_CLASS_TABLE.get(sqlstate[:2])
    elif errno is not None:
        cls = MYSQL_ERRNO_TABLE.get(errno)
    if cls is None:
        cls = next((c for t, c in _CLASS_TABLE if isinstance(exc, t)), ConnectorError)
    status = sqlstate or errno
    full = f"{where}: {message}" if where else message
    kw: dict[str, Any] = {"system": SYSTEM, "object": object, "raw": message, "status": status}
    if cls is ValidationError:
        return ValidationError(full, field=_field_of(orig, message), **kw)
    return cls(full, **kw)


@contextmanager
def map_errors(*, object: str | None = None, secret: str | None = None) -> Iterator[None]:
    """Turn SQLAlchemy errors raised inside into classified spi errors."""
    try:
        yield
    except sa.exc.SQLAlchemyError as exc:
        raise classify_db_error(exc, object=object, secret=secret) from exc
