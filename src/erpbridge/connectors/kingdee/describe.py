"""Form metadata from ``QueryBusinessInfo`` → the spi schema, plus what reads/writes need.

The answer's property names are [UNSURE] (see docs/connectors/kingdee.md): the parser
reads ``NeedReturnData`` (or ``Result``) with ``Entrys`` of ``HeadEntity``,
``SubHeadEntity`` and ``EntryEntity``, each with ``Fields`` (``Key``, ``Name``,
``ElementType``, ``MustInput``, ``IsReadOnly``, ``LookUpObjectFormId``), and refuses
anything else with a clear error instead of guessing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from erpbridge.connectors.kingdee.errors import SYSTEM
from erpbridge.spi.errors import ConnectorError
from erpbridge.spi.schema import Field, FieldType, ObjectSchema

__all__ = ["ELEMENT_TYPES", "EntryInfo", "FormInfo", "parse_business_info"]

#: BOS element type -> portable field type.
ELEMENT_TYPES: dict[str, FieldType] = {
    "TextField": FieldType.STRING,
    "MultiLangTextField": FieldType.STRING,
    "IntegerField": FieldType.INTEGER,
    "DecimalField": FieldType.DECIMAL,
    "AmountField": FieldType.DECIMAL,
    "QtyField": FieldType.DECIMAL,
    "PriceField": FieldType.DECIMAL,
    "DateField": FieldType.DATE,
    "DateTimeField": FieldType.DATETIME,
    "CheckBoxField": FieldType.BOOLEAN,
    "BaseDataField": FieldType.REFERENCE,
    "AssistantField": FieldType.REFERENCE,
    "OrgField": FieldType.REFERENCE,
    "BillStatusField": FieldType.PICKLIST,
    "ComboField": FieldType.PICKLIST,
}
_STATUS_VALUES = ("Z", "A", "B", "C", "D")


@dataclass(frozen=True, slots=True)
class EntryInfo:
    """An entry (单据体) of a form."""

    key: str
    id_key: str
    fields: tuple[Field, ...]
    label: str = ""


@dataclass(frozen=True, slots=True)
class FormInfo:
    """A form as the connector uses it: schema plus wire facts."""

    schema: ObjectSchema
    pk: str
    number_key: str
    stamp_key: str | None
    header: tuple[Field, ...]
    subhead_of: Mapping[str, str] = field(default_factory=dict)
    entries: Mapping[str, EntryInfo] = field(default_factory=dict)

    def header_field(self, name: str) -> Field | None:
        """A header or sub-head field by key (any case)."""
        lowered = name.lower()
        return next((f for f in self.header if f.name.lower() == lowered), None)


def _text(value: object) -> str | None:
    """A non-empty string, or None (metadata values are checked, never str()-ed blindly)."""
    return value.strip() if isinstance(value, str) and value.strip() else None


def _label(value: object) -> str:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return _text(value[0].get("Value")) or ""
    return _text(value) or ""


#: read-only form fields the connector writes through an operation (cancel.py: 作废).
_WRITTEN_BY_OPERATION = frozenset({"FCancelStatus"})


def _field(raw: Mapping[str, object]) -> Field:
    kind = ELEMENT_TYPES.get(str(raw.get("ElementType")), FieldType.UNKNOWN)
    name = _text(raw.get("Key")) or ""
    return Field(
        name=name,
        type=kind,
        label=_label(raw.get("Name")),
        required=bool(raw.get("MustInput")),
        read_only=bool(raw.get("IsReadOnly")) and name not in _WRITTEN_BY_OPERATION,
        picklist=_STATUS_VALUES if kind is FieldType.PICKLIST else (),
        reference_to=_text(raw.get("LookUpObjectFormId")),
    )


def _bad(form_id: str, why: str) -> ConnectorError:
    return ConnectorError(
        f"QueryBusinessInfo 的回答无法识别（{why}）", system=SYSTEM, object=form_id
    )


def parse_business_info(form_id: str, answer: object) -> FormInfo:
    """Parse a QueryBusinessInfo answer.

    Raises:
        ConnectorError: the answer has no recognisable metadata.
    """
    result = answer.get("Result") if isinstance(answer, dict) else None
    info = None
    if isinstance(result, dict):
        info = result.get("NeedReturnData") or result.get("Result")
    if not isinstance(info, dict) or not isinstance(info.get("Entrys"), list):
        raise _bad(form_id, "缺少 Entrys")
    header: list[Field] = []
    subhead_of: dict[str, str] = {}
    entries: dict[str, EntryInfo] = {}
    for entity in info["Entrys"]:
        if not isinstance(entity, dict) or not isinstance(entity.get("Fields"), list):
            raise _bad(form_id, "实体缺少 Fields")
        fields = tuple(
            _field(f) for f in entity["Fields"] if isinstance(f, dict) and _text(f.get("Key"))
        )
        kind = entity.get("EntityType")
        key = _text(entity.get("Key"))
        if kind in ("EntryEntity", "SubHeadEntity") and key is None:
            raise _bad(form_id, f"{kind} 缺少 Key")
        if kind == "EntryEntity" and key is not None:
            id_key = _text(entity.get("EntryPkFieldName")) or "FEntryID"
            entries[key] = EntryInfo(key, id_key, fields, _label(entity.get("Name")))
        else:
            header.extend(fields)
            if kind == "SubHeadEntity" and key is not None:
                subhead_of.update({f.name: key for f in fields})
    pk = _text(info.get("PkFieldName")) or "FID"
    number_key = _text(info.get("NumberFieldName")) or "FNumber"
    stamp = _text(info.get("ModifyDateFieldName"))
    lines = [
        Field(
            name=e.key,
            type=FieldType.LINES,
            label=e.label,
            lines=ObjectSchema(
                e.key,
                (Field(e.id_key, FieldType.INTEGER, read_only=True), *e.fields),
                id_field=e.id_key,
            ),
        )
        for e in entries.values()
    ]
    schema = ObjectSchema(
        name=_text(info.get("Id")) or form_id,
        fields=(*header, *lines),
        label=_label(info.get("Name")),
        id_field=pk,
        natural_keys=(number_key,) if number_key != pk else (),
        stamp_field=stamp,
    )
    return FormInfo(schema, pk, number_key, stamp, tuple(header), subhead_of, entries)
