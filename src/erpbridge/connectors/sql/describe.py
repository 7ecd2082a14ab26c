"""Reflected tables -> ``ObjectSchema``: column types onto the portable field types."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import sqlalchemy as sa

from erpbridge.connectors.sql.database import LinesInfo, TableInfo
from erpbridge.connectors.sql.dialects import is_rowversion
from erpbridge.connectors.sql.values import python_type
from erpbridge.spi.schema import Field, FieldType, ObjectSchema

__all__ = ["field_type", "object_schema"]

#: Python type a column holds -> portable field type (checked after the SQL type tests).
_PYTHON_TYPES: dict[type, FieldType] = {
    bool: FieldType.BOOLEAN,
    int: FieldType.INTEGER,
    float: FieldType.DECIMAL,
    decimal.Decimal: FieldType.DECIMAL,
    dt.datetime: FieldType.DATETIME,
    dt.date: FieldType.DATE,
    dt.time: FieldType.TIME,
    str: FieldType.STRING,
}


def field_type(column: sa.Column[Any]) -> FieldType:
    """The portable type of a column (UNKNOWN for binary, JSON and the like)."""
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return FieldType.BOOLEAN
    if isinstance(kind, sa.Enum):
        return FieldType.PICKLIST
    if isinstance(kind, sa.Text) or (isinstance(kind, sa.String) and kind.length is None):
        return FieldType.TEXT
    return _PYTHON_TYPES.get(python_type(column) or type(None), FieldType.UNKNOWN)


def _is_generated(column: sa.Column[Any]) -> bool:
    """Computed, identity or auto-increment (SERIAL, AUTO_INCREMENT): the database sets it."""
    if column.computed is not None or column.identity is not None or is_rowversion(column):
        return True
    return column.autoincrement is True


def _field(column: sa.Column[Any]) -> Field:
    generated = _is_generated(column)
    picklist: tuple[str, ...] = ()
    if isinstance(column.type, sa.Enum):
        picklist = tuple(str(e) for e in column.type.enums)
    length = getattr(column.type, "length", None)
    return Field(
        name=column.name,
        type=field_type(column),
        label=str(column.comment or ""),
        required=not column.nullable and column.server_default is None and not generated,
        read_only=generated,
        max_length=length if isinstance(length, int) else None,
        picklist=picklist,
        reference_to=_reference(column),
    )


def _reference(column: sa.Column[Any]) -> str | None:
    for fk in column.foreign_keys:
        return fk.target_fullname.rsplit(".", 1)[0]
    return None


def _lines_field(lines: LinesInfo) -> Field:
    fields = [_field(c) for c in lines.table.columns]
    schema = ObjectSchema(
        name=lines.table.name,
        fields=fields,
        id_field=lines.id_column.name,
    )
    return Field(name=lines.name, type=FieldType.LINES, lines=schema)


def object_schema(info: TableInfo) -> ObjectSchema:
    """The object's schema from its reflected table (and its lines' tables)."""
    fields = [_field(c) for c in info.table.columns]
    fields += [_lines_field(lines) for lines in info.lines.values()]
    stamp = info.stamp_column if info.stamp_column is not None else info.sequence_column
    label = str(getattr(info.table, "comment", None) or "")
    return ObjectSchema(
        name=info.name,
        fields=fields,
        label=label,
        id_field=info.id_column.name,
        natural_keys=info.natural_keys,
        # a pseudo-column sequence (ORA_ROWSCN) is not a field of the record
        stamp_field=stamp.name if stamp is not None and stamp.name in info.table.c else None,
    )
