"""``QueryBusinessInfo``: a form's metadata (entities and fields), for describe().

The real service returns the form's business info in ``Result.NeedReturnData``; its exact
property names are [UNSURE] (no captured answer was found). The simulator answers
``{"Id", "Name", "PkFieldName", "Entrys": [{"Key", "EntityType", "Fields": [...]}]}``
(entity types ``HeadEntity``, ``SubHeadEntity`` whose fields a Save nests under the
sub-head key, and ``EntryEntity``)
with each field's ``Key``, ``Name`` (multi-language list), ``ElementType``,
``MustInput``, ``IsReadOnly`` and, for references, ``LookUpObjectFormId``.
"""

from __future__ import annotations

from erpbridge.sims.kingdee.forms import FieldDef, FieldKind, FormDef

__all__ = ["business_info"]

#: field kind -> the BOS element type name reported.
_ELEMENT = {
    FieldKind.TEXT: "TextField",
    FieldKind.INT: "IntegerField",
    FieldKind.DECIMAL: "DecimalField",
    FieldKind.DATE: "DateField",
    FieldKind.DATETIME: "DateTimeField",
    FieldKind.BOOL: "CheckBoxField",
    FieldKind.REF: "BaseDataField",
    FieldKind.STATUS: "BillStatusField",
}


def _field(field: FieldDef, lcid: int) -> dict[str, object]:
    out: dict[str, object] = {
        "Key": field.key,
        "Name": [{"Key": lcid, "Value": field.label}],
        "ElementType": _ELEMENT[field.kind],
        "MustInput": 1 if field.required else 0,
        "IsReadOnly": field.read_only,
    }
    if field.ref:
        out["LookUpObjectFormId"] = field.ref
    return out


def business_info(form: FormDef, lcid: int) -> dict[str, object]:
    """The metadata answer for ``form``."""
    entities: list[dict[str, object]] = [
        {
            "Key": "FBillHead",
            "EntityType": "HeadEntity",
            "Fields": [_field(f, lcid) for f in form.fields if not f.subhead],
        }
    ]
    for subhead in form.subheads:
        entities.append(
            {
                "Key": subhead,
                "EntityType": "SubHeadEntity",
                "Fields": [_field(f, lcid) for f in form.fields if f.subhead == subhead],
            }
        )
    for entry in form.entries:
        entities.append(
            {
                "Key": entry.key,
                "EntityType": "EntryEntity",
                "Name": [{"Key": lcid, "Value": entry.label}],
                "EntryPkFieldName": entry.id_key,
                "Fields": [_field(f, lcid) for f in entry.fields],
            }
        )
    return {
        "Id": form.form_id,
        "Name": [{"Key": lcid, "Value": form.label}],
        "PkFieldName": form.pk,
        "NumberFieldName": form.number_key,
        "ModifyDateFieldName": form.stamp_key or "",
        "Entrys": entities,
    }
