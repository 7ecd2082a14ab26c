"""Reading and writing dates, times and zones: the formats behind ``date()`` & co.

Readers and writers are chosen when a mapping compiles (an unknown format, pattern or
zone is an error at load); at run time each call is one parse and one format.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo

from erpbridge.mapping.functions._base import FunctionError, brief
from erpbridge.mapping.functions.numbers import halfwidth_digits, to_decimal

__all__ = [
    "Moment",
    "date_formatter",
    "datetime_formatter",
    "parse_auto",
    "parse_time",
    "parse_when",
    "parser",
    "pattern_formatter",
    "zone",
]

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


def parser(from_: object) -> _Parse:
    """The reader for ``from=``: a format name, a pattern, or None (by shape)."""
    if from_ is None or from_ in ("auto", "iso", "cn", "odata"):
        return parse_auto
    if from_ in ("unix_ms", "unix", "excel"):
        return _numeric_parser(str(from_))
    if not isinstance(from_, str):
        raise ValueError(f"from= must be a format name or pattern, not {from_!r}")
    return _pattern_parser(from_)


def parse_auto(value: object) -> Moment:
    """:func:`parse_when` for a built-in: anything unreadable is a FunctionError."""
    try:
        return parse_when(value)
    except (ValueError, OverflowError):
        raise FunctionError(f"{brief(value)} is not a valid date") from None


def pattern_formatter(pattern: str) -> Callable[[Moment], str]:
    """A writer for a ``yyyy-MM-dd HH:mm:ss.SSS`` pattern."""
    _, template, indexes, _ = _compile_pattern(pattern)

    def fmt(m: Moment) -> str:
        if isinstance(m, datetime):
            values = (m.year, m.month, m.day, m.hour, m.minute, m.second,
                      m.microsecond // 1000, m.year % 100)  # fmt: skip
        else:
            values = (m.year, m.month, m.day, 0, 0, 0, 0, m.year % 100)
        return template % tuple(values[i] for i in indexes)

    return fmt


def date_formatter(to: object) -> Callable[[date], object]:
    """The writer of a date for ``to=``: a format name or a pattern."""
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
    return pattern_formatter(to)


def _to_excel(d: date) -> int:
    if d < date(1900, 3, 1):
        raise FunctionError(f"{d.isoformat()} is before 1900-03-01 (Excel serials differ)")
    return d.toordinal() - _EXCEL_BASE


def datetime_formatter(to: object) -> Callable[[datetime], object]:
    """The writer of a date-time for ``to=``: a format name or a pattern."""
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
    return pattern_formatter(to)


def parse_time(value: object) -> time:
    """A time of day: HH:mm[:ss], HHmmss, PT14H30M00S, 14时30分, or a date-time's time."""
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
