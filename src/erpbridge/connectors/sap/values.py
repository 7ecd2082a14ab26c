"""EDM values between the wire (verbose JSON) and Python, by the types ``$metadata`` declares.

Reference §2: ``Edm.Decimal`` and ``Edm.Int64`` travel as strings, ``Edm.DateTime`` as
``/Date(ms)/``, ``Edm.DateTimeOffset`` as ``/Date(ms+0000)/``, ``Edm.Time`` as ``PT13H30M00S``.
Records carry ``Decimal``, aware UTC ``datetime`` and ``time`` values; writes turn them back.
A wire value that does not parse is kept as the text the system sent (never dropped).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from erpbridge.connectors.sap.describe import EntitySetSchema

__all__ = ["from_wire", "to_wire", "to_wire_fields"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_TIME = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.\d+)?S)?$")


def from_wire(edm_type: str, value: object) -> object:
    """A JSON value of ``edm_type`` as a Python value."""
    if value is None or not isinstance(value, str):
        return value
    try:
        if edm_type in ("Edm.DateTime", "Edm.DateTimeOffset"):
            match = _DATE.match(value)
            if match:
                # The ticks are UTC; SAP's optional offset only says where the user was.
                return _EPOCH + timedelta(milliseconds=int(match[1]))
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        if edm_type == "Edm.Decimal":
            return Decimal(value)
        if edm_type == "Edm.Int64":
            return int(value)
        if edm_type == "Edm.Time":
            match = _TIME.match(value)
            if match and value != "PT":
                return time(int(match[1] or 0), int(match[2] or 0), int(match[3] or 0))
    except (ValueError, InvalidOperation):
        return value
    return value


def to_wire(edm_type: str, value: object) -> object:
    """A Python value as the JSON SAP expects for ``edm_type``."""
    if value is None:
        return None
    if edm_type in ("Edm.DateTime", "Edm.DateTimeOffset"):
        if isinstance(value, datetime):
            stamp = value if value.tzinfo else value.replace(tzinfo=UTC)
            ms = (stamp.astimezone(UTC) - _EPOCH) // timedelta(milliseconds=1)
            return f"/Date({ms}+0000)/" if edm_type == "Edm.DateTimeOffset" else f"/Date({ms})/"
        if isinstance(value, date):
            ms = (datetime(value.year, value.month, value.day, tzinfo=UTC) - _EPOCH) // timedelta(
                milliseconds=1
            )
            return f"/Date({ms})/"
        return value
    if edm_type in ("Edm.Decimal", "Edm.Int64") and isinstance(value, Decimal | int | float):
        return str(value)
    if edm_type == "Edm.Time" and isinstance(value, time):
        return f"PT{value.hour:02d}H{value.minute:02d}M{value.second:02d}S"
    return value


def to_wire_fields(
    entity_set: EntitySetSchema,
    fields: Mapping[str, object],
    all_sets: Mapping[str, EntitySetSchema],
) -> dict[str, object]:
    """A record's fields as a create/update payload; nested lines become deep-insert lists.

    Fields ``$metadata`` does not know are sent as given, so SAP's own 400 names them.
    """
    payload: dict[str, object] = {}
    for name, value in fields.items():
        prop = entity_set.props.get(name)
        if prop is not None:
            payload[name] = to_wire(prop.edm_type, value)
            continue
        nav = entity_set.navs.get(name)
        target = all_sets.get(nav.target_set) if nav else None
        if target is not None and isinstance(value, list | tuple):
            payload[name] = [
                to_wire_fields(target, line, all_sets) if isinstance(line, Mapping) else line
                for line in value
            ]
        else:
            payload[name] = value
    return payload
