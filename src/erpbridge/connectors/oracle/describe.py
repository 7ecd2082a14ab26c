"""``describe()`` from each resource's ``/describe`` (ADF metadata) -> the spi Catalog.

The ADF describe answer is ``{"Resources": {"<name>": {"attributes": [{"name", "type",
"updatable", "mandatory", "title"}], "children": {"<child>": {...}}}}}`` (reference §1.3,
Oracle's "describe" pages). Types: string, integer, number, boolean, date, datetime.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from erpbridge.connectors.oracle.errors import SYSTEM
from erpbridge.connectors.oracle.objects import STAMP_FIELD, ObjectSpec
from erpbridge.spi.errors import ConnectorError
from erpbridge.spi.schema import Field, FieldType, ObjectSchema

__all__ = ["TYPES", "to_object_schema"]

TYPES: dict[str, FieldType] = {
    "string": FieldType.STRING,
    "integer": FieldType.INTEGER,
    "number": FieldType.DECIMAL,
    "boolean": FieldType.BOOLEAN,
    "date": FieldType.DATE,
    "datetime": FieldType.DATETIME,
    "array": FieldType.LINES,
}


def _fields(body: Mapping[str, object]) -> list[Field]:
    fields: list[Field] = []
    for raw in cast(list[object], body.get("attributes") or []):
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            continue
        title = raw.get("title")
        fields.append(
            Field(
                name=raw["name"],
                type=TYPES.get(str(raw.get("type")), FieldType.UNKNOWN),
                label=title if isinstance(title, str) and title != raw["name"] else "",
                required=raw.get("mandatory") is True,
                read_only=raw.get("updatable") is False,
            )
        )
    return fields


def to_object_schema(object: str, spec: ObjectSpec, answer: Mapping[str, object]) -> ObjectSchema:
    """The schema of ``object`` from its describe answer.

    Raises:
        ConnectorError: the answer does not hold the resource's metadata.
    """
    resources = answer.get("Resources")
    body = resources.get(spec.resource) if isinstance(resources, dict) else None
    if not isinstance(body, dict):
        raise ConnectorError(
            f"describe answer has no Resources.{spec.resource}", system=SYSTEM, object=object
        )
    fields = _fields(body)
    children = body.get("children")
    for name, child in children.items() if isinstance(children, dict) else []:
        if isinstance(child, dict):
            lines = ObjectSchema(
                name=name, fields=_fields(child), label=str(child.get("title") or "")
            )
            fields.append(Field(name=name, type=FieldType.LINES, label=lines.label, lines=lines))
    return ObjectSchema(
        name=object,
        fields=fields,
        label=str(body.get("title") or ""),
        id_field=spec.id_field or "links.self",
        natural_keys=spec.natural_keys,
        stamp_field=STAMP_FIELD,
    )
