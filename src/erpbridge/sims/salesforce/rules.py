"""Field-level checks on a write body, as Salesforce applies them before saving.

:func:`coerce_body` turns a JSON body into canonical field values or raises the first
:class:`SfError` Salesforce would give (unknown field, read-only field, wrong type, too
long, bad picklist value, bad or dangling reference, parent by external id not found).
Object-level rules (price books, order items, totals) live in :mod:`.objects`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Protocol

from erpbridge.sims.salesforce.errors import SfError
from erpbridge.sims.salesforce.ids import ID_PATTERN
from erpbridge.sims.salesforce.schema import PREFIXES, FieldDef, ObjectDef, object_def
from erpbridge.sims.salesforce.soql import format_datetime

__all__ = ["Lookup", "coerce_body", "missing_required"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Lookup(Protocol):
    """What the checks need from the org: live records by id and by external id."""

    def live(self, object_name: str, record_id: str) -> Mapping[str, object] | None:
        """The record if it exists and is not deleted."""
        ...

    def by_external_id(self, object_name: str, field: str, value: str) -> str | None:
        """The id of the live record whose external id ``field`` equals ``value``."""
        ...


def _parser_error(kind: str, value: object) -> SfError:
    token = (
        "VALUE_STRING"
        if isinstance(value, str)
        else "VALUE_NUMBER"
        if isinstance(value, int | float)
        else "START_OBJECT"
        if isinstance(value, dict)
        else "START_ARRAY"
        if isinstance(value, list)
        else "VALUE_TRUE"
    )
    return SfError(
        400,
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {kind} from {token} value {value} or request may be "
        "missing a required field",
    )


def _label(f: FieldDef) -> str:
    return f.label or f.name


def _coerce_value(f: FieldDef, value: object, lookup: Lookup) -> object:
    if value is None:
        if f.required:
            raise SfError(
                400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{f.name}]", [f.name]
            )
        return None
    t = f.type
    if t in ("string", "textarea", "phone", "url", "email", "picklist"):
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise _parser_error("string", value)
        text = str(value)
        if f.length and len(text) > f.length:
            raise SfError(
                400,
                "STRING_TOO_LONG",
                f"{_label(f)}: data value too large: {text[:40]} (max length={f.length})",
                [f.name],
            )
        if t == "email" and text and not _EMAIL.match(text):
            raise SfError(
                400,
                "INVALID_EMAIL_ADDRESS",
                f"{_label(f)}: invalid email address: {text}",
                [f.name],
            )
        if t == "picklist" and f.picklist and text not in f.picklist:
            raise SfError(
                400,
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{_label(f)}: bad value for restricted picklist field: {text}",
                [f.name],
            )
        return text
    if t == "boolean":
        if not isinstance(value, bool):
            raise _parser_error("boolean", value)
        return value
    if t in ("double", "currency", "percent", "int"):
        number: float
        if isinstance(value, bool):
            raise _parser_error(t, value)
        if isinstance(value, int | float):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                raise _parser_error(t, value) from None
        else:
            raise _parser_error(t, value)
        if t == "int":
            if number != int(number):
                raise _parser_error("int", value)
            return int(number)
        return number
    if t == "date":
        if not isinstance(value, str) or len(value) != 10:
            raise _parser_error("date", value)
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise _parser_error("date", value) from None
    if t == "datetime":
        if not isinstance(value, str):
            raise _parser_error("datetime", value)
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _parser_error("datetime", value) from None
        if parsed.tzinfo is None:
            raise _parser_error("datetime", value)
        return format_datetime(parsed)
    if t == "reference":
        return _coerce_reference(f, value, lookup)
    raise _parser_error(t, value)


def _coerce_reference(f: FieldDef, value: object, lookup: Lookup) -> str:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise SfError(
            400, "MALFORMED_ID", f"{_label(f)}: id value of incorrect type: {value}", [f.name]
        )
    target = f.reference_to or ""
    if PREFIXES.get(value[:3]) != target and target != "User":
        raise SfError(
            400,
            "FIELD_INTEGRITY_EXCEPTION",
            f"{_label(f)}: id value of incorrect type: {value}",
            [f.name],
        )
    if target == "User":
        return value
    record = lookup.live(target, value)
    if record is None:
        raise SfError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [f.name])
    return str(record["Id"])


def _parent_by_external_id(
    obj: ObjectDef, key: str, value: object, lookup: Lookup
) -> tuple[str, str]:
    """``"Account": {"ERP_Customer_Id__c": "1710"}`` -> ("AccountId", id)."""
    ref = obj.relationship(key)
    if ref is None or ref.reference_to is None or not isinstance(value, Mapping):
        raise SfError(400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}")
    parent = object_def(ref.reference_to)
    keys = [k for k in value if k != "attributes"]
    if parent is None or len(keys) != 1:
        raise SfError(
            400,
            "INVALID_FIELD",
            f"The foreign key reference {key} must name exactly one External ID field",
        )
    field = parent.field(keys[0])
    if field is None or not field.external_id:
        raise SfError(
            400,
            "INVALID_FIELD",
            f"Field {keys[0]} is not an External ID or indexed field for {parent.name}",
        )
    found = lookup.by_external_id(parent.name, field.name, str(value[keys[0]]))
    if found is None:
        raise SfError(
            400,
            "INVALID_FIELD",
            f"Foreign key external ID: {value[keys[0]]} not found for field {field.name} in "
            f"entity {parent.name}",
        )
    return ref.name, found


def coerce_body(
    obj: ObjectDef, body: object, lookup: Lookup, *, creating: bool
) -> dict[str, object]:
    """Canonical values for the fields in ``body`` (names fixed to their API casing).

    Raises:
        SfError: the first problem Salesforce would report.
    """
    if not isinstance(body, Mapping):
        raise _parser_error(f"SObject {obj.name}", body if not isinstance(body, list) else [])
    values: dict[str, object] = {}
    for key, raw in body.items():
        if key == "attributes":
            continue
        if isinstance(raw, Mapping):
            name, parent_id = _parent_by_external_id(obj, key, raw, lookup)
            values[name] = parent_id
            continue
        f = obj.field(key)
        if f is None:
            raise SfError(
                400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}"
            )
        if not (f.createable if creating else f.updateable):
            verb = "create" if creating else "update"
            raise SfError(
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to {verb} fields: {f.name}. Please check the security settings of this "
                "field and verify that it is read/write for your profile or permission set.",
                [f.name],
            )
        values[f.name] = _coerce_value(f, raw, lookup)
    return values


def missing_required(obj: ObjectDef, values: Mapping[str, object]) -> SfError | None:
    """REQUIRED_FIELD_MISSING for required fields without a value (create), or None."""
    missing = [
        f.name
        for f in obj.fields.values()
        if f.required and f.createable and values.get(f.name) is None and f.default is None
    ]
    if not missing:
        return None
    return SfError(
        400,
        "REQUIRED_FIELD_MISSING",
        f"Required fields are missing: [{', '.join(missing)}]",
        missing,
    )
