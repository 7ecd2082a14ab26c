"""Dates, times and time zones: ISO 8601, patterns, Unix, OData, Chinese and Excel dates.

Formats are resolved when the mapping compiles (an unknown format or zone is an error at
load); at run time each call is one parse and one format. Naive times are read in the
zone given by ``tz`` (UTC by default); aware times keep their instant.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo

from erpbridge.mapping.functions._base import (
    Example,
    FunctionError,
    FunctionSpec,
    Impl,
    Param,
    brief,
)
from erpbridge.mapping.functions.numbers import halfwidth_digits, to_decimal
from erpbridge.spi.schema import FieldType

__all__ = ["FUNCTIONS", "parse_when", "zone"]

Moment = date | datetime  # a datetime is also a date; check datetime first
_Parse = Callable[[object], Moment]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORD = date(1970, 1, 1).toordinal()
_EXCEL_BASE = date(1899, 12, 30).toordinal()  # serial 61 = 1900-03-01 (Lotus 1900 bug)
_MS = timedelta(milliseconds=1)
_ODATA = re.compile(r"/Date\((-?\d{1,15})(?:([+-])(\d{2})(\d{2}))?\)/\Z")
_LOOSE = re.compile(
    r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})"
    r"(?:[T ]+(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:[.,](\d{1,9}))?)?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?\Z"
)
_CN = re.compile(
    r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?"
    r"(?:\s*(\d{1,2})\s*[时点:：]\s*(?:(\d{1,2})\s*[分:：]?\s*(?:(\d{1,2})\s*秒?)?)?)?\Z"
)
_TIME = re.compile(r"(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:[.,](\d{1,6}))?)?\Z")
_CN_TIME = str.maketrans({"时": ":", "点": ":", "分": ":", "秒": None, "：": ":"})
_ODATA_TIME = re.compile(r"PT(?:(\d{1,2})H)?(?:(\d{1,2})M)?(?:(\d{1,2})(?:\.(\d{1,6}))?S)?\Z")
_PATTERN_TOKEN = re.compile(r"yyyy|yy|MM|M|dd|d|HH|H|mm|m|ss|s|SSS|'[^']*'|[A-Za-z]|[^A-Za-z']+")
_PATTERN_FIELDS: Mapping[str, tuple[str, str, str]] = {
    # token: (group, regex, printf format)
    "yyyy": ("y", r"\d{4}", "%04d"),
    "yy": ("yy", r"\d{2}", "%02d"),
    "MM": ("M", r"\d{2}", "%02d"),
    "M": ("M", r"\d{1,2}", "%d"),
    "dd": ("d", r"\d{2}", "%02d"),
    "d": ("d", r"\d{1,2}", "%d"),
    "HH": ("H", r"\d{2}", "%02d"),
    "H": ("H", r"\d{1,2}", "%d"),
    "mm": ("m", r"\d{2}", "%02d"),
    "m": ("m", r"\d{1,2}", "%d"),
    "ss": ("s", r"\d{2}", "%02d"),
    "s": ("s", r"\d{1,2}", "%d"),
    "SSS": ("S", r"\d{3}", "%03d"),
}
_VALUE_INDEX = {"y": 0, "M": 1, "d": 2, "H": 3, "m": 4, "s": 5, "S": 6, "yy": 7}


@functools.lru_cache(maxsize=256)
def _zone_cached(text: str) -> tzinfo:
    return _zone(text)


def zone(name: object) -> tzinfo:
    """A time zone by IANA name (``Asia/Shanghai``), ``UTC`` or offset (``+08:00``).

    Raises:
        ValueError: an unknown zone.
    """
    return _zone_cached(str(name).strip())


def _zone(name: object) -> tzinfo:
    """A time zone by IANA name (``Asia/Shanghai``), ``UTC`` or offset (``+08:00``).

    Raises:
        ValueError: an unknown zone.
    """
    text = str(name).strip()
    if text.upper() in ("UTC", "Z", "GMT"):
        return UTC
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", text)
    if m:
        minutes = int(m[2]) * 60 + int(m[3])
        return timezone(timedelta(minutes=-minutes if m[1] == "-" else minutes))
    try:
        return zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {text!r} (an IANA name like Asia/Shanghai)") from exc


def _offset(text: str | None) -> tzinfo | None:
    if not text:
        return None
    return UTC if text == "Z" else zone(text if ":" in text or len(text) != 3 else text + "00")


def _moment(y: str, mo: str, d: str, h: str | None, mi: str | None, s: str | None,
            frac: str | None, tz: tzinfo | None) -> Moment:  # fmt: skip
    if h is None:
        return date(int(y), int(mo), int(d))
    micro = int((frac or "0")[:6].ljust(6, "0"))
    return datetime(int(y), int(mo), int(d), int(h), int(mi or 0), int(s or 0), micro, tz)


def _from_ms(ms: int, tz: tzinfo = UTC) -> datetime:
    return (_EPOCH + ms * _MS).astimezone(tz) if tz is not UTC else _EPOCH + ms * _MS


def _from_excel(value: object) -> Moment:
    serial = to_decimal(value)
    days = int(serial)
    if days < 1 or days == 60 or days > 2958465:
        raise FunctionError(f"{brief(value)} is not an Excel date serial")
    day = date.fromordinal((_EXCEL_BASE if days > 60 else _EXCEL_BASE + 1) + days)
    fraction = serial - days
    if not fraction:
        return day
    micro = int(fraction * 86_400_000_000)
    return datetime(day.year, day.month, day.day) + timedelta(microseconds=micro)


def parse_when(value: object) -> Moment:
    """Read a date or date-time in any format the language knows, by its shape.

    Raises:
        FunctionError: not a date we can recognise (numbers need an explicit ``from=``).
    """
    if isinstance(value, date):  # datetime too
        return value
    if not isinstance(value, str):
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise FunctionError(
                f'{brief(value)} is a number; say from="unix_ms", "unix" or "excel"'
            )
        raise FunctionError(f"{brief(value)} is not a date")
    text = value.strip()
    if not text.isascii():
        text = halfwidth_digits(text)
    try:
        if len(text) == 10 and text[4] == "-":
            return date.fromisoformat(text)
        if text.startswith("/Date("):
            return _parse_odata(text)
        if text.isdigit() and len(text) in (8, 14):
            y, mo, d = text[:4], text[4:6], text[6:8]
            if len(text) == 8:
                return date(int(y), int(mo), int(d))
            return _moment(y, mo, d, text[8:10], text[10:12], text[12:14], None, None)
        if "年" in text:
            m = _CN.match(text)
            if m is not None:
                return _moment(m[1], m[2], m[3], m[4], m[5], m[6], None, None)
        else:
            m = _LOOSE.match(text)
            if m is not None:
                return _moment(m[1], m[2], m[3], m[4], m[5], m[6], m[7], _offset(m[8]))
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    raise FunctionError(f"{brief(value)} is not a date")


def _parse_odata(text: str) -> datetime:
    m = _ODATA.match(text)
    if m is None:
        raise ValueError(text)
    moment = _from_ms(int(m[1]))
    if m[2]:
        minutes = int(m[3]) * 60 + int(m[4])
        moment = moment.astimezone(
            timezone(timedelta(minutes=minutes * (-1 if m[2] == "-" else 1)))
        )
    return moment


def _compile_pattern(pattern: str) -> tuple[re.Pattern[str], str, tuple[int, ...], bool]:
    """(parse regex, printf template, value indexes, has time) of ``yyyy-MM-dd HH:mm``."""
    regex, template, indexes, seen = "", "", [], set()
    has_time = False
    for token in _PATTERN_TOKEN.findall(pattern):
        spec = _PATTERN_FIELDS.get(token)
        if spec is not None:
            group, rx, fmt = spec
            if group in seen:
                raise ValueError(f"pattern {pattern!r} repeats {token}")
            seen.add(group)
            regex += f"(?P<{group}>{rx})"
            template += fmt
            indexes.append(_VALUE_INDEX[group])
            has_time = has_time or group in "HmsS"
        elif token[0].isascii() and token[0].isalpha():
            raise ValueError(
                f"unknown letter {token!r} in date pattern {pattern!r} (use yyyy MM dd HH mm "
                "ss SSS; quote literal letters: 'T')"
            )
        else:
            literal = token[1:-1] if token.startswith("'") else token
            regex += re.escape(literal)
            template += literal.replace("%", "%%")
    if not seen:
        raise ValueError(f"date pattern {pattern!r} has no yyyy, MM, dd, HH, mm or ss in it")
    return re.compile(regex + r"\Z"), template, tuple(indexes), has_time


def _pattern_parser(pattern: str) -> _Parse:
    regex, _, _, _ = _compile_pattern(pattern)

    def parse(value: object) -> Moment:
        if isinstance(value, date):
            return value
        m = regex.match(halfwidth_digits(str(value).strip()))
        if m is None:
            raise FunctionError(f'{brief(value)} is not a date in format "{pattern}"')
        g = m.groupdict()
        year = g.get("y") or ("20" + g["yy"] if g.get("yy") else "1970")
        try:
            return _moment(year, g.get("M") or "1", g.get("d") or "1", g.get("H"),
                           g.get("m"), g.get("s"), g.get("S"), None)  # fmt: skip
        except ValueError:
            raise FunctionError(f"{brief(value)} is not a valid date") from None

    return parse


def _numeric_parser(kind: str) -> _Parse:
    def parse(value: object) -> Moment:
        if isinstance(value, date):
            return value
        if kind == "excel":
            return _from_excel(value)
        number = to_decimal(value)
        ms = int(number) if kind == "unix_ms" else int(number * 1000)
        try:
            return _from_ms(ms)
        except OverflowError:
            raise FunctionError(f"{brief(value)} is out of the date range") from None

    return parse


def _parser(from_: object) -> _Parse:
    if from_ is None or from_ in ("auto", "iso", "cn", "odata"):
        return _checked_auto
    if from_ in ("unix_ms", "unix", "excel"):
        return _numeric_parser(str(from_))
    if not isinstance(from_, str):
        raise ValueError(f"from= must be a format name or pattern, not {from_!r}")
    return _pattern_parser(from_)


def _checked_auto(value: object) -> Moment:
    try:
        return parse_when(value)
    except (ValueError, OverflowError):
        raise FunctionError(f"{brief(value)} is not a valid date") from None


def _pattern_formatter(pattern: str) -> Callable[[Moment], str]:
    _, template, indexes, _ = _compile_pattern(pattern)

    def fmt(m: Moment) -> str:
        if isinstance(m, datetime):
            values = (m.year, m.month, m.day, m.hour, m.minute, m.second,
                      m.microsecond // 1000, m.year % 100)  # fmt: skip
        else:
            values = (m.year, m.month, m.day, 0, 0, 0, 0, m.year % 100)
        return template % tuple(values[i] for i in indexes)

    return fmt


def _date_formatter(to: object) -> Callable[[date], object]:
    if to in ("iso", "yyyy-MM-dd"):
        return date.isoformat
    if to == "odata":
        return lambda d: f"/Date({(d.toordinal() - _EPOCH_ORD) * 86_400_000})/"
    if to == "unix_ms":
        return lambda d: (d.toordinal() - _EPOCH_ORD) * 86_400_000
    if to == "unix":
        return lambda d: (d.toordinal() - _EPOCH_ORD) * 86_400
    if to == "excel":
        return _to_excel
    if to == "cn":
        return lambda d: f"{d.year}年{d.month}月{d.day}日"
    if not isinstance(to, str):
        raise ValueError(f"to= must be a format name or pattern, not {to!r}")
    return _pattern_formatter(to)


def _to_excel(d: date) -> int:
    if d < date(1900, 3, 1):
        raise FunctionError(f"{d.isoformat()} is before 1900-03-01 (Excel serials differ)")
    return d.toordinal() - _EXCEL_BASE


def _datetime_formatter(to: object) -> Callable[[datetime], object]:
    if to == "iso":
        return datetime.isoformat
    if to in ("odata", "odata_offset"):
        suffix = "+0000)/" if to == "odata_offset" else ")/"
        return lambda t: f"/Date({(t - _EPOCH) // _MS}{suffix}"
    if to == "unix_ms":
        return lambda t: (t - _EPOCH) // _MS
    if to == "unix":
        return lambda t: (t - _EPOCH) // timedelta(seconds=1)
    if to == "cn":
        return lambda t: (
            f"{t.year}年{t.month}月{t.day}日 {t.hour:02d}:{t.minute:02d}:{t.second:02d}"
        )
    if to == "excel":
        raise ValueError('to="excel" is date-only; use date(...)')
    if not isinstance(to, str):
        raise ValueError(f"to= must be a format name or pattern, not {to!r}")
    return _pattern_formatter(to)


def _build_date(to: object, from_: object, tz: object) -> Impl:
    parse, fmt = _parser(from_), _date_formatter(to)
    zone_ = zone(tz) if tz is not None else None

    auto = parse is _checked_auto

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
    parse, fmt = _parser(from_), _datetime_formatter(to)
    zone_, out_zone = zone(tz), (zone(to_tz) if to_tz is not None else None)

    auto = parse is _checked_auto

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


def _parse_time(value: object) -> time:
    if isinstance(value, datetime):
        return value.timetz().replace(tzinfo=None)
    if isinstance(value, time):
        return value
    text = halfwidth_digits(str(value).strip())
    try:
        m = _TIME.match(text.translate(_CN_TIME).rstrip(":").replace(" ", ""))
        if m is not None:
            return time(int(m[1]), int(m[2]), int(m[3] or 0), int((m[4] or "0").ljust(6, "0")))
        m = _ODATA_TIME.match(text)
        if m is not None and text != "PT":
            return time(int(m[1] or 0), int(m[2] or 0), int(m[3] or 0),
                        int((m[4] or "0").ljust(6, "0")))  # fmt: skip
        if text.isdigit() and len(text) in (4, 6):
            return time(int(text[:2]), int(text[2:4]), int(text[4:6] or 0))
        if len(text) > 10:  # a date-time: its time of day
            moment = parse_when(text)
            if isinstance(moment, datetime):
                return moment.time()
    except (ValueError, FunctionError):
        pass
    raise FunctionError(f"{brief(value)} is not a time of day")


def _build_time(to: object) -> Impl:
    fmt: Callable[[time], object]
    if to == "iso":
        fmt = lambda t: t.isoformat(timespec="seconds")  # noqa: E731
    elif to == "odata":
        fmt = lambda t: f"PT{t.hour:02d}H{t.minute:02d}M{t.second:02d}S"  # noqa: E731
    elif to == "seconds":
        fmt = lambda t: t.hour * 3600 + t.minute * 60 + t.second  # noqa: E731
    elif isinstance(to, str):
        pattern = _pattern_formatter(to)
        fmt = lambda t: pattern(datetime(2000, 1, 1, t.hour, t.minute, t.second, t.microsecond))  # noqa: E731
    else:
        raise ValueError(f"to= must be a format name or pattern, not {to!r}")

    def time_(value: object) -> object:
        return fmt(_parse_time(value))

    return time_


def _build_now(to: object, tz: object, clock: Callable[[], datetime]) -> Impl:
    fmt, zone_ = _datetime_formatter(to), zone(tz)

    def now() -> object:
        return fmt(clock().astimezone(zone_))

    return now


def _build_today(to: object, tz: object, clock: Callable[[], datetime]) -> Impl:
    fmt, zone_ = _date_formatter(to), zone(tz)

    def today() -> object:
        return fmt(clock().astimezone(zone_).date())

    return today


def _build_add_days(from_: object) -> Impl:
    parse = _parser(from_)

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
