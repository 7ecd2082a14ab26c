"""EDM values on the wire: verbose-JSON encodings, URI literals and key predicates.

Stored records hold Python values (str, Decimal, bool, int, aware UTC datetime, time);
this module converts them to and from what OData V2 puts on the wire (reference §2):
Decimal as a string, ``Edm.DateTime`` as ``/Date(ms)/``, ``Edm.DateTimeOffset`` as
``/Date(ms+0000)/``, ``Edm.Time`` as ``PT13H30M00S``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from erpbridge.sims.sap.errors import ODataError
from erpbridge.sims.sap.model import EntitySetDef, PropDef

__all__ = [
    "Value",
    "decode_json",
    "encode_json",
    "encode_row",
    "format_key",
    "format_literal",
    "parse_datetime_text",
    "parse_key_predicate",
    "parse_time_text",
]

Value = str | Decimal | bool | int | float | datetime | time | None

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DATE_JSON = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_TIME = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.\d+)?S)?$")
_INTEGERS = {"Edm.Int16", "Edm.Int32", "Edm.Int64", "Edm.Byte", "Edm.SByte"}


def _ms(stamp: datetime) -> int:
    return (stamp - _EPOCH) // timedelta(milliseconds=1)


def encode_json(prop: PropDef, value: Value) -> object:
    """A stored value as verbose JSON (reference §2, "Primitive encodings")."""
    if value is None:
        return None
    kind = prop.type
    if kind == "Edm.Decimal" or kind == "Edm.Int64":
        return str(value)
    if kind == "Edm.DateTime" and isinstance(value, datetime):
        return f"/Date({_ms(value)})/"
    if kind == "Edm.DateTimeOffset" and isinstance(value, datetime):
        return f"/Date({_ms(value)}+0000)/"
    if kind == "Edm.Time" and isinstance(value, time):
        return f"PT{value.hour:02d}H{value.minute:02d}M{value.second:02d}S"
    return value


def _datetime_json(value: object) -> object:
    return f"/Date({_ms(value)})/" if isinstance(value, datetime) else value


def _datetimeoffset_json(value: object) -> object:
    return f"/Date({_ms(value)}+0000)/" if isinstance(value, datetime) else value


def _time_json(value: object) -> object:
    if isinstance(value, time):
        return f"PT{value.hour:02d}H{value.minute:02d}M{value.second:02d}S"
    return value


#: per EDM type, what :func:`encode_json` does to a value that is not None (absent: nothing).
_ENCODER_OF: dict[str, Callable[[object], object]] = {
    "Edm.Decimal": str,
    "Edm.Int64": str,
    "Edm.DateTime": _datetime_json,
    "Edm.DateTimeOffset": _datetimeoffset_json,
    "Edm.Time": _time_json,
}
_Encoders = tuple[tuple[str, Callable[[object], object] | None], ...]
#: id(entity set) -> (the set, its properties' encoders); sets are module constants.
_ENCODERS: dict[int, tuple[EntitySetDef, _Encoders]] = {}


def _encoders(entity_set: EntitySetDef) -> _Encoders:
    found = _ENCODERS.get(id(entity_set))
    if found is None or found[0] is not entity_set:
        found = (entity_set, tuple((p.name, _ENCODER_OF.get(p.type)) for p in entity_set.props))
        _ENCODERS[id(entity_set)] = found
    return found[1]


def encode_row(
    entity_set: EntitySetDef, row: dict[str, Value], select: frozenset[str] | None = None
) -> dict[str, object]:
    """Every property of ``row`` (or the ``select``ed ones) as verbose JSON, in model order.

    The same values as :func:`encode_json` per property; the type dispatch is done once per
    entity set (every answer and every persisted record goes through here).
    """
    out: dict[str, object] = {}
    get = row.get
    for name, encode in _encoders(entity_set):
        if select is not None and name not in select:
            continue
        value = get(name)
        out[name] = value if encode is None or value is None else encode(value)
    return out


def parse_datetime_text(text: str) -> datetime:
    """``/Date(ms[±hhmm])/`` or ISO 8601 -> aware UTC datetime (naive ISO is taken as UTC).

    Raises:
        ValueError: neither form.
    """
    match = _DATE_JSON.match(text)
    if match:
        stamp = _EPOCH + timedelta(milliseconds=int(match[1]))
        if match[2]:  # SAP's offset is informational; the ticks are already UTC
            pass
        return stamp
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_time_text(text: str) -> time:
    """``PT13H30M00S`` -> time.

    Raises:
        ValueError: not an ISO 8601 duration of hours, minutes and seconds.
    """
    match = _TIME.match(text)
    if not match or text == "PT":
        raise ValueError(f"{text!r} is not an Edm.Time value like PT13H30M00S")
    return time(int(match[1] or 0), int(match[2] or 0), int(match[3] or 0))


def decode_json(entity_set: EntitySetDef, prop: PropDef, value: object) -> Value:
    """A JSON payload value -> stored value, checked against the property's type and length.

    Raises:
        ODataError: 400 naming the property and the refused value.
    """
    if value is None:
        if not prop.nullable:
            raise _invalid(entity_set, prop, value, "must not be null")
        return None
    kind = prop.type
    try:
        if kind == "Edm.String":
            if not isinstance(value, str):
                raise ValueError("a string is expected")
            if prop.max_length is not None and len(value) > prop.max_length:
                raise ValueError(f"longer than {prop.max_length} characters")
            return value
        if kind == "Edm.Decimal":
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise ValueError("a decimal string is expected")
            number = Decimal(str(value))
            if not number.is_finite():
                raise ValueError("not a finite number")
            return number
        if kind == "Edm.Boolean":
            if not isinstance(value, bool):
                raise ValueError("true or false is expected")
            return value
        if kind in _INTEGERS:
            if isinstance(value, bool):
                raise ValueError("an integer is expected")
            return int(str(value))
        if kind in ("Edm.DateTime", "Edm.DateTimeOffset"):
            if not isinstance(value, str):
                raise ValueError("a /Date(ms)/ string is expected")
            return parse_datetime_text(value)
        if kind == "Edm.Time":
            if not isinstance(value, str):
                raise ValueError("a PThhHmmMssS string is expected")
            return parse_time_text(value)
    except (ValueError, InvalidOperation) as exc:
        raise _invalid(entity_set, prop, value, str(exc) or "wrong format") from exc
    if isinstance(value, str | int | float | bool):
        return value
    raise _invalid(entity_set, prop, value, "unsupported value")


def _invalid(entity_set: EntitySetDef, prop: PropDef, value: object, why: str) -> ODataError:
    shown = str(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return ODataError(
        400,
        "/IWBEP/CM_MGW_RT/022",
        f"Property '{prop.name}' of type '{entity_set.type_name}' has invalid value "
        f"'{shown}': {why}",
        target=prop.name,
    )


def format_literal(value: Value) -> str:
    """A stored value as an OData URI literal (used in ids and ``__next`` links)."""
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return "datetime'" + value.replace(tzinfo=None).isoformat() + "'"
    return str(value)


def format_key(entity_set: EntitySetDef, record: dict[str, Value]) -> str:
    """``('1000001')`` or ``(SalesOrder='1000001',SalesOrderItem='10')``."""
    if len(entity_set.keys) == 1:
        return "(" + format_literal(record.get(entity_set.keys[0])) + ")"
    return "(" + ",".join([f"{k}={format_literal(record.get(k))}" for k in entity_set.keys]) + ")"


_KEY_PART = re.compile(r"\s*(?:([A-Za-z_][A-Za-z0-9_]*)\s*=\s*)?('(?:[^']|'')*'|[^,']+)\s*(,|$)")


def parse_key_predicate(entity_set: EntitySetDef, text: str) -> tuple[str, ...]:
    """``'1000001'`` or ``SalesOrder='1',SalesOrderItem='10'`` -> key tuple in key order.

    Raises:
        ODataError: 400 when the predicate does not name exactly the set's keys.
    """
    values: dict[str, str] = {}
    pos = 0
    positional: list[str] = []
    while pos < len(text):
        match = _KEY_PART.match(text, pos)
        if not match or match.end() == pos:
            raise _bad_key(entity_set, text)
        name, raw = match[1], match[2].strip()
        value = raw[1:-1].replace("''", "'") if raw.startswith("'") else raw
        if name is None:
            positional.append(value)
        elif name in values:
            raise _bad_key(entity_set, text)
        else:
            values[name] = value
        pos = match.end()
    if positional and not values and len(positional) == 1 and len(entity_set.keys) == 1:
        return (positional[0],)
    if positional or set(values) != set(entity_set.keys):
        raise _bad_key(entity_set, text)
    return tuple(values[k] for k in entity_set.keys)


def _bad_key(entity_set: EntitySetDef, text: str) -> ODataError:
    return ODataError(
        400,
        "/IWBEP/CM_MGW_RT/016",
        f"Invalid key predicate '({text})' for entity type '{entity_set.type_name}'; "
        f"expected key properties: {', '.join(entity_set.keys)}",
    )
