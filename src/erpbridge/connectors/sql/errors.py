"""Database errors -> spi errors, in one place: one table per database's own codes.

PostgreSQL (psycopg) gives a five-character SQLSTATE; MySQL and MariaDB (PyMySQL) give
an errno; SQL Server gives its error number (pymssql: the first argument; pyodbc: an
ODBC SQLSTATE first, the number at the end of the message); Oracle (python-oracledb)
gives ``ORA-nnnnn`` (and ``DPY-nnnn`` for the driver's own errors). Which table applies
is told by the driver's exception, never guessed from a number alone (MySQL 1205 and SQL
Server 1205 are not the same error). The tables are looked up first by the exact code,
then (SQLSTATE) by its two-character class, then by SQLAlchemy's exception class. The
message is the database's own text, verbatim, with the connection's password blanked
should a driver ever echo it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
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
    "DPY_ERROR_TABLE",
    "MSSQL_ERROR_TABLE",
    "MYSQL_ERRNO_TABLE",
    "ORACLE_ERROR_TABLE",
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

#: SQL Server error number -> error class (pymssql's first argument; pyodbc's message end).
MSSQL_ERROR_TABLE: dict[int, type[ConnectorError]] = {
    18456: AuthError,  # login failed for user
    18452: AuthError,  # login from an untrusted domain
    229: AuthError,  # permission denied on object
    230: AuthError,  # permission denied on column
    262: AuthError,  # permission denied in database
    3906: AuthError,  # database is read-only
    4060: NotFoundError,  # cannot open database requested by the login
    911: NotFoundError,  # database does not exist
    1205: ConflictError,  # chosen as deadlock victim
    1222: ConflictError,  # lock request time out period exceeded (SET LOCK_TIMEOUT)
    3960: ConflictError,  # snapshot isolation update conflict
    20009: TransientError,  # pymssql/FreeTDS: unable to connect
    20003: TransientError,  # pymssql/FreeTDS: adaptive server connection timed out
    20006: TransientError,  # pymssql/FreeTDS: write to the server failed
    20047: TransientError,  # pymssql/FreeTDS: dead connection
    233: TransientError,  # no process on the other end of the pipe
    10053: TransientError,  # transport-level error (connection aborted)
    10054: TransientError,  # transport-level error (connection reset)
    40613: TransientError,  # Azure SQL: database not currently available
    40197: TransientError,  # Azure SQL: service error processing the request
    40501: TransientError,  # Azure SQL: service is busy
    49918: TransientError,  # Azure SQL: not enough resources
    515: ValidationError,  # cannot insert NULL into column
    547: ValidationError,  # conflicted with a FOREIGN KEY or CHECK constraint
    2601: ValidationError,  # duplicate key row in unique index
    2627: ValidationError,  # violation of PRIMARY KEY or UNIQUE constraint
    8152: ValidationError,  # string or binary data would be truncated
    2628: ValidationError,  # string or binary data would be truncated in column (2019+)
    8115: ValidationError,  # arithmetic overflow converting to a numeric type
    220: ValidationError,  # arithmetic overflow for a data type
    241: ValidationError,  # conversion failed converting date and/or time
    242: ValidationError,  # out-of-range datetime value
    245: ValidationError,  # conversion failed converting a value to a data type
    8114: ValidationError,  # error converting data type
    207: ValidationError,  # invalid column name
    208: ValidationError,  # invalid object name
    272: ValidationError,  # cannot update a timestamp (rowversion) column
    273: ValidationError,  # cannot insert an explicit value into a timestamp column
    544: ValidationError,  # cannot insert explicit value for identity column
}

#: Oracle ``ORA-`` number -> error class.
ORACLE_ERROR_TABLE: dict[int, type[ConnectorError]] = {
    1017: AuthError,  # invalid username/password; logon denied
    1031: AuthError,  # insufficient privileges
    1045: AuthError,  # user lacks CREATE SESSION privilege
    28000: AuthError,  # the account is locked
    28001: AuthError,  # the password has expired
    16000: AuthError,  # database open for read-only access
    1: ValidationError,  # unique constraint violated
    1400: ValidationError,  # cannot insert NULL into (column)
    1407: ValidationError,  # cannot update (column) to NULL
    1438: ValidationError,  # value larger than specified precision
    1722: ValidationError,  # invalid number
    1830: ValidationError,  # date format picture ends before converting entire input
    1843: ValidationError,  # not a valid month
    1847: ValidationError,  # day of month must be between 1 and last day of month
    1861: ValidationError,  # literal does not match format string
    2290: ValidationError,  # check constraint violated
    2291: ValidationError,  # integrity constraint violated: parent key not found
    2292: ValidationError,  # integrity constraint violated: child record found
    12899: ValidationError,  # value too large for column
    904: ValidationError,  # invalid identifier
    942: ValidationError,  # table or view does not exist
    54: ConflictError,  # resource busy and acquire with NOWAIT specified
    60: ConflictError,  # deadlock detected while waiting for resource
    8177: ConflictError,  # cannot serialize access for this transaction
    30006: ConflictError,  # resource busy; acquire with WAIT timeout expired
    1013: TransientError,  # user requested cancel (the call timeout)
    1033: TransientError,  # initialization or shutdown in progress
    1034: TransientError,  # Oracle not available
    1089: TransientError,  # immediate shutdown in progress
    3113: TransientError,  # end-of-file on communication channel
    3114: TransientError,  # not connected to Oracle
    3135: TransientError,  # connection lost contact
    12170: TransientError,  # connect timeout occurred
    12514: TransientError,  # listener does not know of the service
    12541: TransientError,  # no listener
    12543: TransientError,  # destination host unreachable
}

#: python-oracledb's own ``DPY-`` errors: 6000 and above are network and connect failures.
DPY_ERROR_TABLE: dict[int, type[ConnectorError]] = {
    4001: AuthError,  # no credentials specified
    4011: TransientError,  # the database or network closed the connection
    4024: TransientError,  # call timeout exceeded
}

#: drivers whose first exception argument is a MySQL / MariaDB errno.
_MYSQL_DRIVERS = ("pymysql", "MySQLdb", "mysql.connector", "mariadb", "asyncmy", "aiomysql")
_MSSQL_NUMBER_IN_TEXT = re.compile(r"\((\d+)\)\s*(?:\(SQL\w+\))?\s*$")

#: SQLAlchemy exception class -> error class, when no code matched (first match wins).
_CLASS_TABLE: tuple[tuple[type[Exception], type[ConnectorError]], ...] = (
    (sa.exc.IntegrityError, ValidationError),
    (sa.exc.DataError, ValidationError),
    (sa.exc.OperationalError, TransientError),
    (sa.exc.InterfaceError, TransientError),
    (sa.exc.TimeoutError, TransientError),
    (sa.exc.ProgrammingError, ValidationError),
)

#: Oracle names columns "SCHEMA"."TABLE"."COLUMN" (ORA-01400, ORA-12899): the last part.
_ORACLE_COLUMN = re.compile(r"\"[^\"]+\"\.\"[^\"]+\"\.\"([^\"]+)\"")
_COLUMN_IN_TEXT = re.compile(r"[Cc]olumn '([^']+)'|for column '([^']+)'|column \"([^\"]+)\"")
_ORA_IN_TEXT = re.compile(r"ORA-(\d{5})")


@dataclass(frozen=True, slots=True)
class _Code:
    """A driver error's code and the table that knows it."""

    table: Mapping[Any, type[ConnectorError]]
    code: object
    shown: str | int


def _code_of(orig: BaseException | None) -> _Code | None:
    """The database's own code of ``orig``, by the driver that raised it."""
    if orig is None:
        return None
    module = type(orig).__module__
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    first = args[0] if args else None
    full_code = getattr(first, "full_code", None)
    if module.startswith("oracledb") or module.startswith("cx_Oracle"):
        code = getattr(first, "code", None)
        if isinstance(full_code, str) and full_code.startswith("DPY-"):
            number = int(full_code[4:]) if full_code[4:].isdigit() else 0
            if number in DPY_ERROR_TABLE or number >= 6000:
                cls = DPY_ERROR_TABLE.get(number, TransientError)
                return _Code({number: cls}, number, full_code)
            # the thin driver puts the server's ORA- error after its own DPY- text
            ora = _ORA_IN_TEXT.search(str(getattr(first, "message", "")))
            if ora:
                return _Code(ORACLE_ERROR_TABLE, int(ora.group(1)), f"ORA-{ora.group(1)}")
            return _Code({}, number, full_code)
        if isinstance(code, int):
            return _Code(ORACLE_ERROR_TABLE, code, full_code or f"ORA-{code:05d}")
        return None
    if module.startswith("pymssql") or module.startswith("_mssql"):
        if isinstance(first, tuple) and first and isinstance(first[0], int):
            first = first[0]  # connect errors come as one (number, text) tuple
        if isinstance(first, int):
            return _Code(MSSQL_ERROR_TABLE, first, first)
        return None
    if module.startswith("pyodbc"):
        # ('23000', '[23000] [Microsoft][ODBC Driver 18 …]Violation of … (2627) (SQLExecDirectW)')
        text = str(args[1]) if len(args) > 1 else ""
        match = _MSSQL_NUMBER_IN_TEXT.search(text)
        if match and int(match.group(1)) in MSSQL_ERROR_TABLE:
            return _Code(MSSQL_ERROR_TABLE, int(match.group(1)), int(match.group(1)))
        if isinstance(first, str) and len(first) == 5:
            return _Code(SQLSTATE_TABLE, first, first)
        return None
    if isinstance(first, int) and module.startswith(_MYSQL_DRIVERS):
        return _Code(MYSQL_ERRNO_TABLE, first, first)  # PyMySQL also sets a generic sqlstate
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        return _Code(SQLSTATE_TABLE, sqlstate, sqlstate)
    return None


def _class_of(code: _Code) -> type[ConnectorError] | None:
    cls = code.table.get(code.code)
    if cls is None and code.table is SQLSTATE_TABLE and isinstance(code.code, str):
        cls = SQLSTATE_CLASS_TABLE.get(code.code[:2])
    return cls


def _field_of(orig: BaseException | None, message: str) -> str | None:
    diag = getattr(orig, "diag", None)
    column = getattr(diag, "column_name", None) if diag is not None else None
    if isinstance(column, str) and column:
        return column
    match = _ORACLE_COLUMN.search(message) or _COLUMN_IN_TEXT.search(message)
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
    code = _code_of(orig)
    cls = _class_of(code) if code is not None else None
    if cls is None:
        cls = next((c for t, c in _CLASS_TABLE if isinstance(exc, t)), ConnectorError)
    status = code.shown if code is not None else None
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
