"""What ``describe()`` returns: objects and their fields with types."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["Catalog", "Field", "FieldType", "ObjectSchema"]


class FieldType(enum.StrEnum):
    """Portable field types; each connector maps its own types onto these."""

    STRING = "string"
    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    TIME = "time"
    PICKLIST = "picklist"
    REFERENCE = "reference"
    LINES = "lines"  # nested records: order items, bill entries, subforms
    OBJECT = "object"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Field:
    """One field of an object.

    Attributes:
        name: the wire name (``TotalAmount``, ``FCustId``, ``_widget_1615...``).
        type: the portable type.
        label: the human label, often Chinese (``客户名称``); mappings may use it.
        required: must be present on create.
        read_only: the system computes it; writes ignore or refuse it.
        max_length: for strings, when the system says.
        picklist: allowed values, when the system says.
        reference_to: for references, the object referred to.
        lines: for LINES, the schema of one nested record.
    """

    name: str
    type: FieldType = FieldType.STRING
    label: str = ""
    required: bool = False
    read_only: bool = False
    max_length: int | None = None
    picklist: Sequence[str] = ()
    reference_to: str | None = None
    lines: ObjectSchema | None = None


@dataclass(frozen=True, slots=True)
class ObjectSchema:
    """One object of a system with its fields, id field and natural keys."""

    name: str
    fields: Sequence[Field]
    label: str = ""
    id_field: str = "Id"
    natural_keys: Sequence[str] = ()
    stamp_field: str | None = None
    #: True when any field name is accepted because the fields are not known in advance
    #: (a file set with no declared columns and no file yet); checks then skip names.
    is_open: bool = False

    def field(self, name: str) -> Field | None:
        """The field called ``name`` (wire name or label), or None."""
        for f in self.fields:
            if f.name == name or (f.label and f.label == name):
                return f
        return None


@dataclass(frozen=True, slots=True)
class Catalog:
    """All objects a connection offers, by name."""

    objects: Mapping[str, ObjectSchema] = field(default_factory=dict)
