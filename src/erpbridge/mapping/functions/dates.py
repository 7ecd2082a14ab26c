"""Dates, times and time zones: ISO 8601, patterns, Unix, OData, Chinese and Excel dates.

Formats are resolved when the mapping compiles (an unknown format or zone is an error at
load); at run time each call is one parse and one format. Naive times are read in the
zone given by ``tz`` (UTC by default); aware times keep their instant. The readers and
writers live in :mod:`erpbridge.mapping.functions.moments`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta

from erpbridge.mapping.functions._base import (
    Example,
    FunctionError,
    FunctionSpec,
    Impl,
    Param,
    brief,
)
from erpbridge.mapping.functions.moments import (
    Moment,
    date_formatter,
    datetime_formatter,
    parse_auto,
    parse_time,
    parser,
    pattern_formatter,
    zone,
)
from erpbridge.mapping.functions.numbers import to_decimal
from erpbridge.spi.schema import FieldType

__all__ = ["FUNCTIONS"]


def _build_date(to: object, from_: object, tz: object) -> Impl:
    parse, fmt = parser(from_), date_formatter(to)
    zone_ = zone(tz) if tz is not None else None

    auto = parse is parse_auto

    def date_(value: object) -> object:
        if auto and type(value) is str and len(value) == 10 and value[4] == "-":
            try:  # the common case, ISO yyyy-MM-dd, without the general parser
                return fmt(date.fromisoformat(value))
            except ValueError:
                pass
        m = parse(value)
        if isinstance(m, datetime):
            if zone_ is not None and m.tzinfo is not None:
                m = m.astimezone(zone_)
            m = m.date()
        return fmt(m)

    return date_


def _build_datetime(to: object, from_: object, tz: object, to_tz: object) -> Impl:
    parse, fmt = parser(from_), datetime_formatter(to)
    zone_, out_zone = zone(tz), (zone(to_tz) if to_tz is not None else None)

    auto = parse is parse_auto

    def datetime_(value: object) -> object:
        m: Moment | None = None
        if auto and type(value) is str and len(value) > 10 and value[4] == "-":
            try:  # the common case, ISO 8601, without the general parser
                m = datetime.fromisoformat(value)
            except ValueError:
                m = None
        if m is None:
            m = parse(value)
        if not isinstance(m, datetime):
            m = datetime(m.year, m.month, m.day, tzinfo=zone_)
        elif m.tzinfo is None:
            m = m.replace(tzinfo=zone_)
        if out_zone is not None:
            m = m.astimezone(out_zone)
        return fmt(m)

    return datetime_


def _build_time(to: object) -> Impl:
    fmt: Callable[[time], object]
    if to == "iso":
        fmt = lambda t: t.isoformat(timespec="seconds")  # noqa: E731
    elif to == "odata":
        fmt = lambda t: f"PT{t.hour:02d}H{t.minute:02d}M{t.second:02d}S"  # noqa: E731
    elif to == "seconds":
        fmt = lambda t: t.hour * 3600 + t.minute * 60 + t.second  # noqa: E731
    elif isinstance(to, str):
        pattern = pattern_formatter(to)
        fmt = lambda t: pattern(datetime(2000, 1, 1, t.hour, t.minute, t.second, t.microsecond))  # noqa: E731
    else:
        raise ValueError(f"to= must be a format name or pattern, not {to!r}")

    def time_(value: object) -> object:
        return fmt(parse_time(value))

    return time_


def _build_now(to: object, tz: object, clock: Callable[[], datetime]) -> Impl:
    fmt, zone_ = datetime_formatter(to), zone(tz)

    def now() -> object:
        return fmt(clock().astimezone(zone_))

    return now


def _build_today(to: object, tz: object, clock: Callable[[], datetime]) -> Impl:
    fmt, zone_ = date_formatter(to), zone(tz)

    def today() -> object:
        return fmt(clock().astimezone(zone_).date())

    return today


def _build_add_days(from_: object) -> Impl:
    parse = parser(from_)

    def add_days(value: object, days: object) -> Moment:
        count = to_decimal(days)
        if count != int(count) or abs(count) > 3_000_000:
            raise FunctionError(f"{brief(days)} is not a whole number of days", 1)
        try:
            return parse(value) + timedelta(days=int(count))
        except OverflowError:
            raise FunctionError(f"{brief(value)} plus {count} days is out of range") from None

    return add_days


def _date_kind(consts: Mapping[str, object]) -> FieldType:
    if consts.get("to") in ("unix_ms", "unix", "excel"):
        return FieldType.INTEGER
    return FieldType.STRING


_WHEN = frozenset(
    {FieldType.DATE, FieldType.DATETIME, FieldType.STRING, FieldType.TEXT, FieldType.INTEGER,
     FieldType.DECIMAL, FieldType.UNKNOWN}
)  # fmt: skip
_TO = Param("to", "iso", const=True)
_FROM = Param("from", None, const=True)

_FORMATS_NOTE = (
    'Formats for `to=` and `from=`: `"iso"` (ISO 8601), `"odata"` (`/Date(ms)/`, SAP '
    'OData V2 Edm.DateTime), `"odata_offset"` (`/Date(ms+0000)/`, Edm.DateTimeOffset; '
    'output only), `"unix_ms"`, `"unix"` (seconds), `"excel"` (serial day number, date only), '
    '`"cn"` (`2024年3月5日`), or a pattern of `yyyy yy MM M dd d HH H mm m ss s SSS` with other '
    "characters kept as they are and letters quoted ('T'). Without `from=` the input's "
    "shape decides: ISO 8601 with or without zone, `yyyy/MM/dd`, `yyyy.MM.dd`, `yyyyMMdd`, "
    "`yyyyMMddHHmmss`, `/Date(ms)/`, `2024年3月5日 14:30`, full-width digits; a number "
    'needs `from="unix_ms"`, `"unix"` or `"excel"`.'
)

FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        "date",
        "dates",
        "A calendar date in the format `to` (taken in zone `tz` when the input has a time).",
        (Param("value", kinds=_WHEN), _TO, _FROM, Param("tz", None, const=True)),
        _date_kind,
        _build_date,
        (
            Example('date("2024-03-05", to="odata")', '"/Date(1709596800000)/"'),
            Example('date("20240305")', '"2024-03-05"'),
            Example('date("2024年3月5日", to="yyyyMMdd")', '"20240305"'),
            Example('date("/Date(1709596800000)/", to="cn")', '"2024年3月5日"'),
            Example('date(45356, from="excel")', '"2024-03-05"'),
            Example('date("2024-03-05", to="excel")', "45356"),
            Example('date("05.03.2024", from="dd.MM.yyyy")', '"2024-03-05"'),
            Example('date("2024-03-04T16:30:00Z", tz="Asia/Shanghai")', '"2024-03-05"'),
            Example('date(1709596800000, from="unix_ms", to="yyyy/M/d")', '"2024/3/5"'),
        ),
        notes=_FORMATS_NOTE,
    ),
    FunctionSpec(
        "datetime",
        "dates",
        "A date and time in format `to`; naive input is read in `tz`, output moved to `to_tz`.",
        (
            Param("value", kinds=_WHEN),
            _TO,
            _FROM,
            Param("tz", "UTC", const=True),
            Param("to_tz", None, const=True),
        ),
        _date_kind,
        _build_datetime,
        (
            Example(
                'datetime("2024-03-05T10:00:00", tz="Asia/Shanghai")',
                '"2024-03-05T10:00:00+08:00"',
            ),
            Example(
                'datetime("2024-03-05 10:00:00", tz="Asia/Shanghai", to_tz="UTC")',
                '"2024-03-05T02:00:00+00:00"',
            ),
            Example(
                'datetime("2024-03-05T02:00:00.000+0000", to="odata_offset")',
                '"/Date(1709604000000+0000)/"',
            ),
            Example('datetime("/Date(1709604000000)/", to="unix_ms")', "1709604000000"),
            Example(
                'datetime("2024年3月5日 10:30", tz="+08:00", to="yyyy-MM-dd HH:mm:ss")',
                '"2024-03-05 10:30:00"',
            ),
        ),
        notes="Same formats as `date`; `tz` and `to_tz` take IANA names, `UTC` or `+08:00`.",
    ),
    FunctionSpec(
        "time",
        "dates",
        'A time of day as `"iso"` (HH:mm:ss), `"odata"` (PT14H30M00S), `"seconds"` or a pattern.',
        (Param("value"), _TO),
        lambda c: FieldType.INTEGER if c.get("to") == "seconds" else FieldType.STRING,
        _build_time,
        (
            Example('time("14:30")', '"14:30:00"'),
            Example('time("14时30分", to="odata")', '"PT14H30M00S"'),
            Example('time("PT09H05M00S", to="HH:mm")', '"09:05"'),
            Example('time("083000", to="seconds")', "30600"),
        ),
    ),
    FunctionSpec(
        "now",
        "dates",
        "The current date and time (one clock reading per record) in zone `tz`.",
        (_TO, Param("tz", "UTC", const=True)),
        _date_kind,
        _build_now,
        (Example('now(to="yyyy")', '"2024"'),),
        null_passes=False,
        pure=False,
        needs_clock=True,
        notes="Examples in this document run with the clock at 2024-03-05T02:00:00Z.",
    ),
    FunctionSpec(
        "today",
        "dates",
        "Today's date in zone `tz` (the day may differ from UTC's).",
        (_TO, Param("tz", "UTC", const=True)),
        _date_kind,
        _build_today,
        (Example('today(tz="Asia/Shanghai")', '"2024-03-05"'),),
        null_passes=False,
        pure=False,
        needs_clock=True,
    ),
    FunctionSpec(
        "add_days",
        "dates",
        "A date (or date-time) moved by a whole number of days; format it with `date()`.",
        (Param("value", kinds=_WHEN), Param("days"), _FROM),
        FieldType.DATE,
        _build_add_days,
        (
            Example('date(add_days("2024-02-28", 2))', '"2024-03-01"'),
            Example('date(add_days("20240305", -5), to="odata")', '"/Date(1709164800000)/"'),
        ),
    ),
)
