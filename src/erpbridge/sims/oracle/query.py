"""Collection parameters other than ``q``: ``orderBy``, ``fields``, ``expand``; stamps.

``q`` itself is parsed in filter.py. Every refusal is a :class:`QueryError`, answered 400
in Oracle's error shape, naming the parameter.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from erpbridge.sims.oracle.model import Attr

__all__ = [
    "AttrLookup",
    "QueryError",
    "format_stamp",
    "parse_expand",
    "parse_fields",
    "parse_order_by",
    "parse_stamp",
]

AttrLookup = Callable[[str], Attr | None]


class QueryError(ValueError):
    """A query parameter the simulator refuses (answered 400 in Oracle's error shape)."""

    def __init__(self, message: str, *, parameter: str = "q") -> None:
        self.parameter = parameter
        super().__init__(message)


def format_stamp(value: datetime) -> str:
    """A datetime as Oracle writes it: UTC, milliseconds, ``+00:00``."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+00:00"


def parse_stamp(text: str) -> datetime:
    """An ISO-8601 date-time (offset or ``Z``) or a date, as aware UTC.

    Raises:
        ValueError: not a date-time, or one without a time zone.
    """
    raw = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        return datetime.fromisoformat(raw).replace(tzinfo=UTC)
    if not re.fullmatch(
        r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})", raw
    ):
        raise ValueError(f"{text!r} is not an ISO-8601 date-time with a time zone")
    value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return value.astimezone(UTC)


def parse_order_by(text: str, lookup: AttrLookup) -> list[tuple[str, bool]]:
    """``A:asc,B:desc`` -> [(attr, descending)].

    Raises:
        QueryError: unknown attribute or direction.
    """
    out: list[tuple[str, bool]] = []
    for part in text.split(","):
        name, _, direction = part.strip().partition(":")
        if lookup(name) is None:
            raise QueryError(f"orderBy: unknown attribute {name!r}", parameter="orderBy")
        if direction.lower() not in ("", "asc", "desc"):
            raise QueryError(f"orderBy: {direction!r} is not asc or desc", parameter="orderBy")
        out.append((name, direction.lower() == "desc"))
    return out


def parse_fields(text: str) -> tuple[list[str] | None, dict[str, list[str]]]:
    """``A,B;lines:C,D`` -> (parent attributes or None, {child: attributes})."""
    parent: list[str] | None = None
    children: dict[str, list[str]] = {}
    for number, segment in enumerate(text.split(";")):
        head, colon, rest = segment.partition(":")
        if colon:
            children[head.strip()] = [f.strip() for f in rest.split(",") if f.strip()]
        elif number == 0:
            parent = [f.strip() for f in segment.split(",") if f.strip()]
        else:
            raise QueryError(
                f"fields: segment {segment!r} needs child:attributes", parameter="fields"
            )
    return parent, children


def parse_expand(text: str, known: list[str]) -> list[str]:
    """``lines,billToCustomer`` or ``all`` -> child names.

    Raises:
        QueryError: an unknown child.
    """
    names = [n.strip() for n in text.split(",") if n.strip()]
    if "all" in names:
        return list(known)
    for name in names:
        if name not in known:
            raise QueryError(
                f"expand: {name!r} is not a child of this resource", parameter="expand"
            )
    return names
