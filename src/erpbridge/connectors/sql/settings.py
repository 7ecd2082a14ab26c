"""The settings of a ``sql`` connection (pydantic, validated at load; unknown keys refused)."""

from __future__ import annotations

import re
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from erpbridge.spi.secrets import Secret
from erpbridge.spi.settings import ConnectionSettings, Limits

__all__ = [
    "DIRECT_WRITE_WARNING",
    "LinesSettings",
    "ObjectSettings",
    "QuerySettings",
    "SqlSettings",
    "redact_url",
]

#: why writing straight into an ERP's own tables is dangerous (shown at load and in check()).
DIRECT_WRITE_WARNING = (
    "direct writes into the ERP's own tables bypass its business rules (numbering, "
    "credit checks, stock reservations, audit state, totals kept in other tables); Yonyou "
    "does not support them for U8. Prefer write_mode: staging (an interface table the ERP "
    "imports)"
)


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def redact_url(url: str) -> str:
    """The database URL with its password replaced by ``***``, safe for logs and errors."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


class LinesSettings(BaseModel):
    """Nested records of an object kept in a child table (order lines, bill entries).

    Attributes:
        table: the child table (``SO_SODetails``).
        parent_column: the child's column that refers to the parent (``ID``).
        parent_key: the parent's column it refers to. Default: the parent's id column.
        order_by: the child column lines are sorted by. Default: its primary key.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str = Field(min_length=1)
    parent_column: str = Field(min_length=1)
    parent_key: str | None = None
    order_by: str | None = None


#: the column types a named query may declare.
QueryColumnType = Literal[
    "string", "text", "integer", "decimal", "boolean", "date", "datetime", "datetime_tz", "time"
]


class QuerySettings(BaseModel):
    """A named query: a SELECT written by the admin, read as a read-only object.

    The query runs as a subquery (``SELECT … FROM (<sql>) AS <object> WHERE …``) to which
    the connector adds its filters, order and limit as bound parameters; nothing is ever
    concatenated into it. ``:name`` in the text would be a bound parameter: write ``\\:``.

    Attributes:
        sql: one SELECT (or WITH … SELECT) statement, without a ``;``.
        columns: the columns it returns, in order, with their portable types.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    sql: str = Field(min_length=1)
    columns: dict[str, QueryColumnType] = Field(min_length=1)

    @field_validator("sql")
    @classmethod
    def _one_select(cls, value: str) -> str:
        text = value.strip()
        if not re.match(r"(?is)^(select|with)\b", text):
            raise ValueError("a named query must be a SELECT (or WITH … SELECT)")
        if ";" in text:
            raise ValueError("a named query is one statement, without ';'")
        return text


class ObjectSettings(BaseModel):
    """One object of the connection: a table or a view.

    Attributes:
        table: the table or view. Default: the object's name.
        id_column: the column whose value is the record id. Default: the single-column
            primary key (a table without one needs this).
        stamp_column: a modification-time column; read_changes reads by (stamp, id).
        sequence_column: a rowversion / identity / version-counter column (integers that
            only grow); read_changes reads by it. At most one of stamp and sequence.
        change_capture: read changes from the trigger-fed change table instead (see
            ``install_change_capture``); deletes then arrive as tombstones.
        natural_keys: columns ``find`` and upserts may use. Default: the unique keys.
        read_only: refuse writes to this object (views are always read-only).
        touch_stamp: on writes that do not set ``stamp_column``, set it to now so readers
            see the change. Default on.
        lines: nested records from child tables, under the given field name.
        query: a named query instead of a table (read-only; needs ``id_column``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str | None = None
    id_column: str | None = None
    stamp_column: str | None = None
    sequence_column: str | None = None
    change_capture: bool = False
    natural_keys: tuple[str, ...] = ()
    read_only: bool = False
    touch_stamp: bool = True
    lines: dict[str, LinesSettings] = Field(default_factory=dict)
    query: QuerySettings | None = None

    @model_validator(mode="after")
    def _one_change_source(self) -> ObjectSettings:
        if self.query is not None:
            if self.table is not None:
                raise ValueError("an object is a table or a query, not both")
            if self.id_column is None or self.id_column not in self.query.columns:
                raise ValueError("a query object needs id_column, one of its columns")
            if self.change_capture:
                raise ValueError("a query object cannot use change_capture (no triggers)")
        sources = [self.stamp_column, self.sequence_column, self.change_capture or None]
        if sum(s is not None for s in sources) > 1:
            raise ValueError(
                "choose one change source: stamp_column, sequence_column or change_capture"
            )
        return self


class SqlSettings(ConnectionSettings):
    """A connection to one database through SQLAlchemy.

    Attributes:
        url: a SQLAlchemy URL without its password
            (``mysql+pymysql://erp@db:3306/UFDATA_001_2026``,
            ``postgresql+psycopg://erp@db/erp``, ``mssql+pymssql://…``,
            ``oracle+oracledb://…``). A password in the URL is refused.
        password: the database password, by reference (``${env:ERP_DB_PASSWORD}``).
        db_schema: the schema that holds the tables. Default: the connection's default.
        objects: object name -> settings. Default (empty): every table and view, with
            reflected keys and no change source (read whole). A preset fills this.
        preset: ``u8`` for old Yonyou U8 (SO_SOMain, SO_SODetails, Customer, Inventory,
            CurrentStock); explicit ``objects`` entries override the preset's.
        read_only: refuse every write. Default off (on for ``objects`` that are views).
        write_mode: ``direct`` writes into the objects' tables; ``staging`` writes each
            op as a row of ``staging_table``, which the ERP's import job processes.
            Default: ``staging`` with a preset, ``direct`` otherwise.
        accept_direct_write_risks: must be true for ``direct`` writes with a preset (the
            risks are in ``DIRECT_WRITE_WARNING``).
        staging_table: the interface table for staging writes. Default ``erpbridge_staging``.
        change_table: the trigger-fed change table. Default ``erpbridge_changes``.
        timezone: the IANA zone of naive date-times in the database. Default ``UTC``
            (U8 servers usually keep ``Asia/Shanghai``).
        overlap_s: how far before the cursor a read starts again. Default 5 s.
        connect_timeout_s: seconds to wait for a connection. Default 10.
    """

    url: str
    password: Secret | None = None
    db_schema: str | None = None
    objects: dict[str, ObjectSettings] = Field(default_factory=dict)
    preset: Literal["u8"] | None = None
    read_only: bool = False
    write_mode: Literal["direct", "staging"] | None = None
    accept_direct_write_risks: bool = False
    staging_table: str = Field(default="erpbridge_staging", min_length=1, max_length=64)
    change_table: str = Field(default="erpbridge_changes", min_length=1, max_length=64)
    timezone: str = "UTC"
    overlap_s: float = Field(default=5.0, ge=0)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    limits: Limits = Field(default_factory=lambda: Limits(batch_size=500))

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        try:
            url = make_url(value.strip())
        except ArgumentError:
            raise ValueError(
                "url is not a database URL (dialect+driver://user@host:port/database)"
            ) from None
        if url.password:
            raise ValueError(
                "url holds a password; put it in password: ${env:NAME} instead "
                f"(url given: {url.render_as_string(hide_password=True)})"
            )
        return url.render_as_string(hide_password=False)

    @field_validator("staging_table", "change_table")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not _IDENTIFIER.match(value):
            raise ValueError("must be a plain table name (letters, digits, _)")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name, e.g. Asia/Shanghai)"
            ) from None
        return value

    @model_validator(mode="after")
    def _direct_writes_acknowledged(self) -> SqlSettings:
        direct = self.preset and self.effective_write_mode == "direct"
        if direct and not self.accept_direct_write_risks and not self.read_only:
            raise ValueError(
                f"write_mode direct with preset {self.preset!r} needs "
                f"accept_direct_write_risks: true — {DIRECT_WRITE_WARNING}"
            )
        return self

    @property
    def effective_write_mode(self) -> Literal["direct", "staging"]:
        """``write_mode``, or its default: staging with a preset, direct otherwise."""
        if self.write_mode is not None:
            return self.write_mode
        return "staging" if self.preset else "direct"

    @property
    def zone(self) -> ZoneInfo:
        """The zone of naive date-times in the database."""
        return ZoneInfo(self.timezone)

    @property
    def safe_url(self) -> str:
        """The URL for logs and messages (never with a password)."""
        return redact_url(self.url)
