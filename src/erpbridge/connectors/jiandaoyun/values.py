"""Record fields <-> Jiandaoyun's write and read formats.

Write format (reference §2.1): ``{"<widget>": {"value": v}}``; a subform value is a list of
rows in the same format, a row keeping its identity with a plain ``"_id"`` (unsure whether
the product wants it plain or wrapped; the simulator takes both). Read values come back
plain, and some differ in shape from what is written (a member object for a ``user``
widget, ``{"phone", "verified"}`` for a phone): :func:`to_write_data` accepts the read
shape too, so a record read from one form can be written to another unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal

from erpbridge.connectors.jiandaoyun.describe import (
    READ_ONLY_TYPES,
    SYSTEM_WIDGETS,
    FormSchema,
    WidgetInfo,
)
from erpbridge.connectors.jiandaoyun.errors import SYSTEM
from erpbridge.spi.errors import ConnectorError, ValidationError
from erpbridge.spi.records import Record

__all__ = ["format_stamp", "parse_stamp", "to_record", "to_write_data"]


def parse_stamp(value: object) -> datetime | None:
    """``2024-05-02T08:00:00.000Z`` as aware UTC; None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp.astimezone(UTC) if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def format_stamp(stamp: datetime) -> str:
    """Aware datetime as the product writes it: ISO UTC, milliseconds, ``Z``."""
    stamp = stamp.astimezone(UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def to_record(entry_id: str, raw: object) -> Record:
    """A read-format record as a spi Record (version = ``updateTime``).

    Raises:
        ConnectorError: the record has no ``_id`` (not what the product sends).
    """
    if not isinstance(raw, Mapping) or not isinstance(raw.get("_id"), str):
        raise ConnectorError("a record without _id in the answer", system=SYSTEM, object=entry_id)
    update_time = raw.get("updateTime")
    return Record(
        object=entry_id,
        id=raw["_id"],
        fields=dict(raw),
        version=update_time if isinstance(update_time, str) else None,
        stamp=parse_stamp(update_time),
    )


def _plain(value: object) -> object:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("a datetime without a time zone")
        return format_stamp(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _member(value: object) -> object:
    if isinstance(value, Mapping) and "username" in value:
        return value["username"]
    return value


def _value(widget: WidgetInfo, value: object) -> object:
    """One widget's value in write format (without the ``{"value"}`` wrapper)."""
    if value is None:
        return None
    kind = widget.type
    if kind in ("user",):
        return _member(value)
    if kind == "usergroup" and isinstance(value, Sequence) and not isinstance(value, str):
        return [_member(v) for v in value]
    if kind == "dept" and isinstance(value, Mapping) and "dept_no" in value:
        return value["dept_no"]
    if kind == "deptgroup" and isinstance(value, Sequence) and not isinstance(value, str):
        return [v["dept_no"] if isinstance(v, Mapping) and "dept_no" in v else v for v in value]
    if kind == "phone":
        if isinstance(value, Mapping) and "phone" in value:
            return {"phone": value["phone"]}
        if isinstance(value, str):
            return {"phone": value}
    if kind == "subform":
        return _rows(widget, value)
    return _plain(value)


def _rows(widget: WidgetInfo, value: object) -> object:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ValueError("a subform value is a list of rows")
    items = {i.name: i for i in widget.items}
    labels = {i.label: i.name for i in widget.items}
    rows: list[dict[str, object]] = []
    for index, row in enumerate(value):
        if not isinstance(row, Mapping):
            raise ValueError(f"row {index + 1} is not an object")
        out: dict[str, object] = {}
        for key, inner in row.items():
            if key == "_id":
                if inner:
                    out["_id"] = inner
                continue
            name = key if key in items else labels.get(key)
            if name is None:
                raise ValueError(f"row {index + 1}: the subform has no widget {key!r}")
            out[name] = {"value": _value(items[name], inner)}
        rows.append(out)
    return rows


def to_write_data(form: FormSchema, fields: Mapping[str, object]) -> dict[str, object]:
    """``fields`` (by widget name or label) in write format; system fields are dropped.

    Raises:
        ValidationError: an unknown or read-only widget, or a value that cannot be
            written; ``field`` names the widget.
    """
    data: dict[str, object] = {}
    for key, value in fields.items():
        if key in SYSTEM_WIDGETS:
            continue  # read back with the record; never writable
        name = form.resolve(key)
        if name is None:
            raise ValidationError(
                f"表单「{form.name}」没有字段 {key!r}",
                field=key,
                system=SYSTEM,
                object=form.entry_id,
            )
        widget = form.widgets[name]
        if widget.type in READ_ONLY_TYPES and value is None:
            continue  # an empty read-only widget read back with a record: nothing to write
        if widget.type in READ_ONLY_TYPES:
            raise ValidationError(
                f"字段 {name}（{widget.label}）是 {widget.type}，不能通过 API 写入",
                field=name,
                system=SYSTEM,
                object=form.entry_id,
            )
        try:
            data[name] = {"value": _value(widget, value)}
        except ValueError as exc:
            raise ValidationError(
                f"字段 {name}（{widget.label}）: {exc}",
                field=name,
                system=SYSTEM,
                object=form.entry_id,
            ) from exc
    return data
