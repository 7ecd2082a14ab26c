"""Records to and from JSON for the store (job snapshots, dead letters, echo hashes).

JSON has no Decimal or datetime: Decimals become strings (exact, no float rounding),
dates and datetimes ISO 8601 strings. Mappings read either form, so a replayed snapshot
maps like the original record.

Every intake, finish and echo check goes through here, so the conversion is orjson's (C)
encoding and decoding, with the Decimal, bytes and odd mapping cases in ``_default``; the
pure-Python walk stays for what orjson refuses (an integer wider than 64 bits, a set).
Both give the same values: orjson writes datetimes, dates and times as ``isoformat()``
does and NaN as null.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Collection, Iterable, Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import orjson

from erpbridge.spi.records import Record

__all__ = [
    "canonical_json",
    "field_digests",
    "fields_hash",
    "json_safe",
    "record_from_snapshot",
    "record_to_snapshot",
    "snapshot_covers",
]


#: values JSON takes as they are; checked by exact type first (the hot path: a record's
#: fields are mostly these, and ``isinstance`` against ABCs costs more than the copy).
_PLAIN = frozenset({str, int, bool, type(None)})


_OPTIONS = orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    """What orjson does not encode itself; anything else falls back to the slow walk."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError


def json_safe(value: Any) -> Any:
    """``value`` with every nested Decimal, date, time and bytes turned into strings."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    try:
        return orjson.loads(orjson.dumps(value, default=_default, option=_OPTIONS))
    except (orjson.JSONEncodeError, TypeError):
        return _json_safe_walk(value)


def _json_safe_walk(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict:
        return {
            k if type(k) is str else str(k): v if type(v) in _PLAIN else _json_safe_walk(v)
            for k, v in value.items()
        }
    if kind is list:
        return [v if type(v) in _PLAIN else _json_safe_walk(v) for v in value]
    if kind is float:
        return None if value != value else value  # NaN is not JSON
    return _json_safe_other(value)


def _json_safe_other(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe_walk(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe_walk(v) for v in value]
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


def record_to_snapshot(record: Record, asked: Collection[str] | None = None) -> dict[str, Any]:
    """A JSON-ready copy of ``record``.

    ``asked``: the field list the record was read with (the spi's hint), kept as
    ``"asked"`` so a later mapping that reads more knows the copy may lack fields
    (:func:`snapshot_covers`); None: read whole (no key).
    """
    out = {
        "object": record.object,
        "id": record.id,
        "version": record.version,
        "stamp": record.stamp.isoformat() if record.stamp else None,
        "deleted": record.deleted,
        "fields": json_safe(record.fields),
    }
    if asked is not None:
        out["asked"] = sorted(asked)
    return out


def snapshot_covers(snapshot: Mapping[str, Any], fields: Collection[str] | None) -> bool:
    """True when ``snapshot`` holds every field of ``fields`` the record has (None: all).

    A snapshot without ``"asked"`` was read whole; one read with a field list covers the
    names in it only.
    """
    asked = snapshot.get("asked")
    if asked is None:
        return True
    if fields is None:
        return False
    return set(fields) <= set(asked)


def record_from_snapshot(snapshot: Mapping[str, Any]) -> Record:
    """Inverse of :func:`record_to_snapshot` (values stay in their JSON form)."""
    stamp = snapshot.get("stamp")
    return Record(
        object=str(snapshot["object"]),
        id=str(snapshot["id"]),
        fields=dict(snapshot.get("fields") or {}),
        version=snapshot.get("version"),
        stamp=datetime.fromisoformat(stamp) if stamp else None,
        deleted=bool(snapshot.get("deleted", False)),
    )


def fields_hash(fields: Mapping[str, object], names: Iterable[str]) -> str:
    """SHA-256 of the canonical JSON of ``fields`` restricted to ``names`` (echo check).

    Values are compared in their JSON-safe text form, so ``Decimal("10.50")`` written and
    ``"10.50"`` read back hash alike; a system that reformats a value defeats the check
    for that field, which then costs one extra write, never a lost change.
    """
    subset = {name: fields.get(name) for name in set(names)}
    try:
        data = orjson.dumps(subset, default=_default, option=_OPTIONS | orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        safe = {name: _json_safe_walk(value) for name, value in subset.items()}
        text = json.dumps(
            safe, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
        )
        data = text.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def field_digests(fields: Mapping[str, object], names: Iterable[str]) -> dict[str, str]:
    """name -> a 64-bit digest (16 hex characters) of that field's value (echo check).

    Values are compared in their JSON-safe form, as in :func:`fields_hash`
    (``Decimal("10.50")`` and ``"10.50"`` alike); a type tag keeps ``5`` and ``"5"`` apart.
    Plain strings, integers and null skip the conversions (the hot path).
    """
    out = {}
    for name in names:
        value: Any = fields.get(name)
        kind = type(value)
        if kind is not str and kind is not int and value is not None:
            value = json_safe(value)
            kind = type(value)
        if kind is str:
            text = "s" + value
        elif value is None:
            text = "n"
        elif kind is bool:
            text = "t" if value else "f"
        elif kind is int:
            text = "i" + str(value)
        else:  # lines and other structures: the same canonical JSON as fields_hash
            text = "j" + canonical_json(value).decode("utf-8")
        out[name] = hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()
    return out


def canonical_json(value: object) -> bytes:
    """Sorted-key compact JSON of a JSON-safe ``value`` (orjson; the standard library for
    what orjson refuses, such as an integer wider than 64 bits)."""
    try:
        return orjson.dumps(value, option=_OPTIONS | orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        text = json.dumps(
            value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
        )
        return text.encode("utf-8")
