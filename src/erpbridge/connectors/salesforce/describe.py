"""Salesforce ``describe`` -> spi :class:`ObjectSchema` (fields with portable types)."""

from __future__ import annotations

from collections.abc import Mapping

from erpbridge.spi.errors import ConnectorError
from erpbridge.spi.schema import Field, FieldType, ObjectSchema

__all__ = ["FIELD_TYPES", "SKIPPED_TYPES", "child_objects", "schema_from_describe"]

#: Salesforce field type -> portable type.
FIELD_TYPES: dict[str, FieldType] = {
    "id": FieldType.STRING,
    "string": FieldType.STRING,
    "email": FieldType.STRING,
    "phone": FieldType.STRING,
    "url": FieldType.STRING,
    "encryptedstring": FieldType.STRING,
    "combobox": FieldType.STRING,
    "textarea": FieldType.TEXT,
    "boolean": FieldType.BOOLEAN,
    "int": FieldType.INTEGER,
    "long": FieldType.INTEGER,
    "double": FieldType.DECIMAL,
    "currency": FieldType.DECIMAL,
    "percent": FieldType.DECIMAL,
    "date": FieldType.DATE,
    "datetime": FieldType.DATETIME,
    "time": FieldType.TIME,
    "picklist": FieldType.PICKLIST,
    "multipicklist": FieldType.PICKLIST,
    "reference": FieldType.REFERENCE,
}
#: compound and binary types cannot be selected one by one in SOQL or written as values.
SKIPPED_TYPES = frozenset({"address", "location", "base64", "anyType", "complexvalue"})


def _field(raw: Mapping[str, object]) -> Field:
    sf_type = str(raw.get("type", ""))
    createable, updateable = bool(raw.get("createable")), bool(raw.get("updateable"))
    refs = raw.get("referenceTo")
    picklist = raw.get("picklistValues")
    length = raw.get("length")
    return Field(
        name=str(raw["name"]),
        type=FIELD_TYPES.get(sf_type, FieldType.UNKNOWN),
        label=str(raw.get("label") or ""),
        required=createable and not raw.get("nillable", True) and not raw.get("defaultedOnCreate"),
        read_only=not createable and not updateable,
        max_length=length if isinstance(length, int) and length > 0 else None,
        picklist=tuple(
            str(p["value"])
            for p in (picklist if isinstance(picklist, list) else [])
            if isinstance(p, Mapping) and p.get("active", True)
        ),
        reference_to=str(refs[0]) if isinstance(refs, list) and refs else None,
    )


def schema_from_describe(data: object, *, object: str) -> ObjectSchema:
    """The spi schema of one ``/sobjects/{T}/describe`` answer.

    Raises:
        ConnectorError: the answer is not a describe (no ``fields`` list).
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("fields"), list):
        raise ConnectorError(
            "describe answer without a fields list", system="salesforce", object=object
        )
    raw_fields = [f for f in data["fields"] if isinstance(f, Mapping) and "name" in f]
    fields = [_field(f) for f in raw_fields if str(f.get("type")) not in SKIPPED_TYPES]
    keys = [str(f["name"]) for f in raw_fields if f.get("externalId")]
    return ObjectSchema(
        name=str(data.get("name", object)),
        fields=fields,
        label=str(data.get("label") or ""),
        id_field="Id",
        natural_keys=keys,
        stamp_field="SystemModstamp",
    )


def child_objects(data: object) -> dict[str, str]:
    """Child relationship name -> child object, from a describe's ``childRelationships``."""
    raw = data.get("childRelationships") if isinstance(data, Mapping) else None
    out: dict[str, str] = {}
    for rel in raw if isinstance(raw, list) else []:
        if isinstance(rel, Mapping) and rel.get("relationshipName") and rel.get("childSObject"):
            out[str(rel["relationshipName"])] = str(rel["childSObject"])
    return out
