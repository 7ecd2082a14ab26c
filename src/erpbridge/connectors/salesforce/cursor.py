"""Incremental reads: SOQL on ``SystemModstamp`` with an Id tie-break (reference §3).

The query reads ``queryAll`` (so deletes arrive as tombstones, ``IsDeleted = true``)::

    SELECT <fields> FROM <T> WHERE SystemModstamp >= <read_from, whole seconds>
    ORDER BY SystemModstamp, Id

``read_from`` is the cursor's stamp minus its overlap, cut down to the whole second
(SOQL datetime literals carry no fractions), so the query may re-read a little more;
the engine's dedup drops what it already has. With a zero overlap the records at or
before the cursor (same stamp, lower or equal Id) are dropped here, so nothing is read
twice and nothing that shares a stamp is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from erpbridge.spi.errors import ConnectorError, ValidationError
from erpbridge.spi.records import Cursor, Record

__all__ = [
    "after_cursor",
    "changes_query",
    "parse_stamp",
    "record_from_row",
    "rest_stamp",
    "soql_datetime",
    "soql_literal",
    "soql_name",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*$")


def soql_datetime(stamp: datetime) -> str:
    """A SOQL datetime literal (UTC, whole seconds, unquoted)."""
    return stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def soql_literal(value: object) -> str:
    """A SOQL literal for a key value: quoted and escaped text, bare numbers and booleans.

    Raises:
        ValueError: for values SOQL cannot compare (None, lists, mappings).
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace("'", "\\'")
        escaped = escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
        return f"'{escaped}'"
    raise ValueError(f"cannot use {type(value).__name__} as a SOQL key value")


def soql_name(name: str) -> str:
    """``name`` if it is a plain API name (object, field, or parent.field), else an error.

    Raises:
        ValidationError: anything else (so no text from outside is pasted into SOQL).
    """
    if not _NAME.match(name):
        raise ValidationError(
            f"{name!r} is not a Salesforce API name", system="salesforce", field=name
        )
    return name


def changes_query(object: str, select: str, cursor: Cursor | None) -> str:
    """The SOQL of a change read from ``cursor`` (None = from the beginning).

    ``select`` is a checked select list (:func:`.lines.select_list`) that starts with
    ``Id, SystemModstamp, IsDeleted``.
    """
    soql_name(object)
    start = cursor.read_from if cursor else _EPOCH
    start = start.replace(microsecond=0)
    return (
        f"SELECT {select} FROM {object} "  # noqa: S608 - names checked by soql_name
        f"WHERE SystemModstamp >= {soql_datetime(start)} ORDER BY SystemModstamp, Id"
    )


def rest_stamp(stamp: datetime) -> str:
    """A datetime in the REST API's form (``2024-05-01T10:15:00.000+0000``), used as version."""
    stamp = stamp.astimezone(UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}+0000"


def parse_stamp(text: object, *, object: str) -> datetime:
    """A Salesforce datetime (``2024-05-01T10:15:00.000+0000``) as aware UTC.

    Raises:
        ConnectorError: the value is not a Salesforce datetime.
    """
    if not isinstance(text, str):
        raise ConnectorError(f"SystemModstamp missing or not text: {text!r}", object=object)
    value = text.replace("Z", "+00:00")
    if len(value) >= 5 and value[-5] in "+-" and value[-3] != ":":
        value = value[:-2] + ":" + value[-2:]
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ConnectorError(
            f"SystemModstamp {text!r} is not a datetime", system="salesforce", object=object
        ) from exc
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC)


def record_from_row(object: str, row: Mapping[str, object]) -> Record:
    """An spi record from a query or GET row (``attributes`` dropped)."""
    rid = row.get("Id")
    if not isinstance(rid, str):
        raise ConnectorError("record without an Id", system="salesforce", object=object)
    fields = {k: v for k, v in row.items() if k != "attributes"}
    stamp_text = row.get("SystemModstamp")
    stamp = parse_stamp(stamp_text, object=object) if stamp_text is not None else None
    return Record(
        object=object,
        id=rid,
        fields=fields,
        version=str(stamp_text) if stamp_text is not None else None,
        stamp=stamp,
        deleted=bool(row.get("IsDeleted", False)),
    )


def after_cursor(records: Sequence[Record], cursor: Cursor | None) -> list[Record]:
    """Records to hand out: all of them with an overlap, else only those after the cursor."""
    if cursor is None or cursor.overlap > timedelta(0):
        return list(records)
    return [r for r in records if r.stamp is not None and cursor.is_after(r.stamp, r.id)]
