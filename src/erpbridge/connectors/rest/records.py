"""API items -> records: id, stamp and version from the object's settings, or a ReadError."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from erpbridge.connectors.rest.errors import SYSTEM
from erpbridge.connectors.rest.settings import RestObject
from erpbridge.spi.errors import ValidationError
from erpbridge.spi.records import ReadError, Record

__all__ = ["parse_stamp", "record_of"]


def record_of(object: str, spec: RestObject, item: object, position: str) -> Record | ReadError:
    """The record for one list item, or a ReadError naming ``position`` (page, index)."""
    if not isinstance(item, dict):
        return _error(object, position, f"the item is {type(item).__name__}, not an object", None)
    record_id = item.get(spec.id_field)
    if record_id in (None, "") or isinstance(record_id, bool | dict | list):
        return _error(object, position, f"no record id in {spec.id_field!r}", spec.id_field)
    stamp: datetime | None = None
    if spec.stamp_field is not None:
        try:
            stamp = parse_stamp(item.get(spec.stamp_field))
        except ValueError as exc:
            return _error(object, position, str(exc), spec.stamp_field)
    # The stamp is the version when there is one; else the content, so an unchanged
    # record read again is a duplicate for the engine, and a changed one is not.
    version = (
        stamp.isoformat()
        if stamp is not None
        else "sha256:"
        + hashlib.sha256(json.dumps(item, sort_keys=True, default=str).encode()).hexdigest()[:32]
    )
    return Record(object=object, id=str(record_id), fields=item, version=version, stamp=stamp)


def parse_stamp(value: object) -> datetime | None:
    """ISO 8601 with a zone (a ``Z`` too), or epoch seconds / milliseconds; None stays None.

    Raises:
        ValueError: text that is not ISO 8601, a naive time, or another type.
    """
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if abs(value) > 1e11 else value  # 1e11 s is 5138 AD: ms
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError(f"stamp {value!r} is out of range for epoch seconds") from exc
    if not isinstance(value, str):
        raise ValueError(f"stamp {value!r} is neither ISO 8601 text nor epoch seconds")
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"stamp {value[:40]!r} is not ISO 8601") from exc
    if stamp.tzinfo is None:
        raise ValueError(f"stamp {value[:40]!r} has no time zone")
    return stamp.astimezone(UTC)


def _error(object: str, position: str, reason: str, field: str | None) -> ReadError:
    error = ValidationError(f"{position}: {reason}", field=field, system=SYSTEM, object=object)
    return ReadError(position=position, error=error, object=object)
