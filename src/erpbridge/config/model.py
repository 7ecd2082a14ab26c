"""The project file (``erpbridge.yaml``) as pydantic models; every key is in docs/configuration.md.

Connection settings are checked in a second pass against the connector's own settings
model (see :mod:`erpbridge.config.loader`), so this module only knows a connection's
``type``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PositiveInt,
    StringConstraints,
    field_validator,
    model_validator,
)

from erpbridge.spi.records import WriteMode

__all__ = [
    "ConnectionEntry",
    "FlagSpec",
    "FlowSpec",
    "HoldSpec",
    "ProjectSpec",
    "ReconSpec",
    "RelatedSpec",
    "RetentionSpec",
    "RetrySpec",
    "ScheduleSpec",
    "SourceSpec",
    "StoreSpec",
    "TargetSpec",
    "TriggerSpec",
    "parse_duration",
]

_DURATION = re.compile(r"^\s*(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: object) -> timedelta:
    """``"30s"``, ``"5m"``, ``"2h"``, ``"1d"``, ``"250ms"`` or a number of seconds.

    Raises:
        ValueError: anything else, or a negative number.
    """
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like 30s, 5m, 2h")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return timedelta(seconds=float(value))
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return timedelta(seconds=float(match["n"]) * _UNITS[match["unit"]])
    raise ValueError(f"{value!r} is not a duration (use a number of seconds or 30s, 5m, 2h, 1d)")


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


def _check_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name like Asia/Shanghai)"
        ) from exc
    return name


TimeZoneName = Annotated[
    str, BeforeValidator(lambda v: _check_zone(v) if isinstance(v, str) else v)
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScheduleSpec(_Strict):
    """A cron trigger: ``cron: "0 2 * * *"`` in ``timezone`` (default: the project's)."""

    cron: str
    timezone: TimeZoneName | None = None

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        if not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a cron expression (five fields: m h dom mon dow)")
        return value


class TriggerSpec(_Strict):
    """What makes a flow read its source. At least one trigger must be set.

    ``file_drop: 30s`` is the file drop trigger of DESIGN.md §6: the source's folder is
    polled every 30 s. It is a poll (:attr:`poll_interval`) that the loader allows only on
    a connection whose connector has the ``file_drop`` capability.
    """

    poll: Duration | None = None
    file_drop: Duration | None = None
    webhook: bool = False
    schedule: ScheduleSpec | None = None
    manual: bool = True
    overlap: Duration = timedelta(seconds=5)

    @model_validator(mode="before")
    @classmethod
    def _schedule_shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("schedule"), str):
            data = {**data, "schedule": {"cron": data["schedule"]}}
        return data

    @model_validator(mode="after")
    def _one_poll(self) -> TriggerSpec:
        if self.poll is not None and self.file_drop is not None:
            raise ValueError(
                "file_drop is the poll of a file folder: set file_drop or poll, not both"
            )
        for name in ("poll", "file_drop"):
            interval = getattr(self, name)
            if interval is not None and interval.total_seconds() <= 0:
                raise ValueError(f"{name} must be longer than 0 s")
        return self

    @property
    def poll_interval(self) -> timedelta | None:
        """How often the source is read: ``poll`` or ``file_drop``; None when neither."""
        return self.poll if self.poll is not None else self.file_drop


class SourceSpec(_Strict):
    """Where a flow reads: a connection, an object, and its trigger."""

    connection: Name
    object: str = Field(min_length=1)
    trigger: TriggerSpec = Field(default_factory=TriggerSpec)
    page_size: PositiveInt = 200


class TargetSpec(_Strict):
    """Where a flow writes: connection, object, write mode, natural key."""

    connection: Name
    object: str = Field(min_length=1)
    write: WriteMode = WriteMode.UPSERT
    key: str | None = None
    batch_size: PositiveInt | None = None
    on_missing: Literal["skip", "dead_letter"] = "skip"
    #: a deleted source record: leave the target alone, delete its target record through
    #: the xref, or ask a person (engine/deletes.py).
    on_delete: Literal["ignore", "delete", "dead_letter"] = "ignore"

    @model_validator(mode="after")
    def _key_for_upsert(self) -> TargetSpec:
        if self.write in (WriteMode.UPSERT, WriteMode.CREATE) and not self.key:
            raise ValueError(
                f"write: {self.write.value} needs key: the target's natural key field, "
                "looked up before every create so a crash never makes a duplicate"
            )
        return self


class RetrySpec(_Strict):
    """Retry policy of a flow's jobs (exponential backoff with full jitter)."""

    max_attempts: PositiveInt = 8
    initial: Duration = timedelta(seconds=1)
    max_interval: Duration = timedelta(minutes=10)
    coefficient: float = Field(default=2.0, ge=1.0, le=10.0)
    dependency_timeout: Duration = timedelta(hours=1)


class RelatedSpec(_Strict):
    """A record a hold check reads: ``{connection, object, id: <expression on source>}``.

    With ``key``, ``id`` gives the value of that field (a natural key such as a customer
    code) and the record is found with the connector's ``find()`` instead of ``get()``.
    """

    connection: Name | None = None  # default: the flow's source connection
    object: str = Field(min_length=1)
    id: str = Field(min_length=1)
    key: str | None = Field(default=None, min_length=1)


class FlagSpec(_Strict):
    """What a hold writes onto a record while it holds a job, and when it lets it go.

    ``set`` and ``clear`` map field -> expression (or YAML constant); the record is the
    source record unless ``connection``/``object``/``id`` name another.
    """

    connection: Name | None = None  # default: the flow's source connection
    object: str | None = None  # default: the flow's source object
    id: str | None = None  # expression; default: the source record's id
    set: dict[str, Any] = Field(min_length=1)
    clear: dict[str, Any] = Field(default_factory=dict)


class HoldSpec(_Strict):
    """A check before a flow writes: a job for which ``when`` is true is held for a person.

    Expressions read ``source``, ``related.<name>`` and (``flag``) ``hold.reason``;
    docs/engine.md ("Holds") has the life of a held job.
    """

    when: str = Field(min_length=1)
    related: dict[Name, RelatedSpec] = Field(default_factory=dict)
    reason: str | None = None
    release_when: str | None = None
    recheck: Duration = timedelta(minutes=10)
    applies_to: Literal["new", "all"] = "new"
    flag: FlagSpec | None = None


class ReconSpec(_Strict):
    """A flow's reconciliation: how it compares, and when it runs on its own.

    Every key is optional; ``erpbridge recon run`` takes these as its defaults, and a
    ``schedule`` makes ``erpbridge run`` / ``serve`` run it (trigger ``schedule``).
    """

    schedule: ScheduleSpec | None = None
    fields: list[str] | None = Field(default=None, min_length=1)
    tolerance: dict[str, Annotated[Decimal, Field(ge=0)]] = Field(default_factory=dict)
    amount_field: str | None = None
    since: Duration | None = None
    scope: Literal["all", "xref"] = "all"
    target_when: str | None = Field(default=None, min_length=1)
    repair: Literal["none", "dry_run", "apply"] = "none"

    @model_validator(mode="before")
    @classmethod
    def _schedule_shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("schedule"), str):
            data = {**data, "schedule": {"cron": data["schedule"]}}
        return data


class FlowSpec(_Strict):
    """One flow: source -> mapping -> target."""

    description: str = ""
    enabled: bool = True
    entity: Name | None = None
    source: SourceSpec
    target: TargetSpec
    when: str | None = None
    map: dict[str, Any] = Field(min_length=1)
    depends_on: list[Name] = Field(default_factory=list)
    retry: RetrySpec = Field(default_factory=RetrySpec)
    hold: HoldSpec | None = None
    recon: ReconSpec | None = None


class ConnectionEntry(BaseModel):
    """A connection: its connector ``type``; the other keys belong to that connector."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: Name


class RetentionSpec(_Strict):
    """How long finished jobs are kept (engine/retention.py; docs/engine.md, "Retention").

    ``jobs_days``: jobs that finished more than this many days ago are pruned, with their
    attempts and resolved dead letters, once an hour by ``erpbridge run`` / ``serve``.
    Default 30; ``0`` or ``null`` keeps them forever.
    """

    jobs_days: int | None = 30

    @field_validator("jobs_days", mode="before")
    @classmethod
    def _whole_days(cls, value: object) -> object:
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(
                f"{value!r} is not a number of days (a whole number like 30; "
                "0 or null keeps finished jobs forever)"
            )
        if not 0 <= value <= 36500:
            raise ValueError(f"{value} days is out of range (0 to 36500; 0 keeps jobs forever)")
        return value

    @property
    def jobs_age(self) -> timedelta | None:
        """The age past which finished jobs go, or None to keep them forever."""
        return timedelta(days=self.jobs_days) if self.jobs_days else None


class StoreSpec(_Strict):
    """The store: ``url`` (SQLAlchemy URL or a ``${env:…}`` reference). Default: SQLite file.

    ``retention``: how long finished jobs are kept (:class:`RetentionSpec`).
    """

    url: str | None = None
    retention: RetentionSpec = Field(default_factory=RetentionSpec)


class ProjectSpec(_Strict):
    """The whole project file."""

    version: Literal[1] = 1
    name: str = "erpbridge"
    timezone: TimeZoneName = "UTC"
    store: StoreSpec = Field(default_factory=StoreSpec)
    connections: dict[Name, ConnectionEntry] = Field(default_factory=dict)
    flows: dict[Name, FlowSpec] = Field(default_factory=dict)
    # Value tables are checked by the mapping layer (erpbridge.mapping.tables), which owns
    # their forms: {code: value}, {values:, default:, strict:}, {file:, key:, value:, …}.
    tables: dict[Name, dict[str, Any]] = Field(default_factory=dict)
    aliases: dict[str, str] = Field(default_factory=dict)
