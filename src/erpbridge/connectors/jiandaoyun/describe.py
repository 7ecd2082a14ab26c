"""Forms and widgets (``app/entry/list`` + ``app/entry/widget/list``) as spi schemas.

A widget's ``name`` is its id or alias and is what records use; its ``label`` is the Chinese
caption a form designer typed, which mappings may use instead (ObjectSchema.field looks
labels up). The widget list does not say which widgets are required or unique, so
``required`` stays False and natural keys come from the connection settings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from erpbridge.connectors.jiandaoyun.errors import SYSTEM
from erpbridge.spi.errors import ConnectorError
from erpbridge.spi.schema import Field, FieldType, ObjectSchema

__all__ = ["READ_ONLY_TYPES", "SYSTEM_WIDGETS", "FormSchema", "WidgetInfo", "parse_widgets"]

#: widget type -> portable type (reference §2.2).
_TYPES: Mapping[str, FieldType] = {
    "text": FieldType.STRING,
    "textarea": FieldType.TEXT,
    "number": FieldType.DECIMAL,
    "datetime": FieldType.DATETIME,
    "combo": FieldType.PICKLIST,
    "radiogroup": FieldType.PICKLIST,
    "checkboxgroup": FieldType.OBJECT,
    "combocheck": FieldType.OBJECT,
    "user": FieldType.REFERENCE,
    "usergroup": FieldType.OBJECT,
    "dept": FieldType.REFERENCE,
    "deptgroup": FieldType.OBJECT,
    "phone": FieldType.OBJECT,
    "address": FieldType.OBJECT,
    "location": FieldType.OBJECT,
    "image": FieldType.OBJECT,
    "upload": FieldType.OBJECT,
    "subform": FieldType.LINES,
    "sn": FieldType.STRING,
    "linkdata": FieldType.REFERENCE,
}
#: widgets the API cannot write.
READ_ONLY_TYPES = frozenset(
    {"sn", "signature", "separator", "lookup", "linkdata", "image", "upload"}
)
_REFERENCES = {"user": "member", "dept": "department", "linkdata": "record"}

#: system fields: name -> (label, type); never written.
SYSTEM_WIDGETS: Mapping[str, tuple[str, FieldType]] = {
    "_id": ("数据ID", FieldType.STRING),
    "appId": ("应用ID", FieldType.STRING),
    "entryId": ("表单ID", FieldType.STRING),
    "creator": ("提交人", FieldType.REFERENCE),
    "updater": ("修改人", FieldType.REFERENCE),
    "deleter": ("删除人", FieldType.REFERENCE),
    "createTime": ("提交时间", FieldType.DATETIME),
    "updateTime": ("更新时间", FieldType.DATETIME),
    "flowState": ("流程状态", FieldType.INTEGER),
}


@dataclass(frozen=True, slots=True)
class WidgetInfo:
    """One widget as the widget list gives it."""

    name: str
    label: str
    type: str
    items: tuple[WidgetInfo, ...] = ()

    def to_field(self) -> Field:
        """The portable field (subforms carry their row schema in ``lines``)."""
        lines = None
        if self.type == "subform":
            lines = ObjectSchema(
                name=self.name,
                label=self.label,
                fields=[Field("_id", FieldType.STRING, "行ID", read_only=True)]
                + [i.to_field() for i in self.items],
                id_field="_id",
            )
        return Field(
            name=self.name,
            type=_TYPES.get(self.type, FieldType.UNKNOWN),
            label=self.label,
            read_only=self.type in READ_ONLY_TYPES,
            reference_to=_REFERENCES.get(self.type),
            lines=lines,
        )


@dataclass(frozen=True, slots=True)
class FormSchema:
    """One form: its widgets by name, and the system widgets it has."""

    entry_id: str
    name: str
    widgets: Mapping[str, WidgetInfo]
    system: Sequence[str]
    data_modify_time: str | None = None
    by_label: Mapping[str, str] = field(default_factory=dict)

    def resolve(self, name_or_label: str) -> str | None:
        """The widget name for a name or a unique label, or None."""
        if name_or_label in self.widgets or name_or_label in SYSTEM_WIDGETS:
            return name_or_label
        return self.by_label.get(name_or_label)

    def to_object_schema(self, natural_key: str | None = None) -> ObjectSchema:
        """The portable schema: widgets, then system fields (read only)."""
        fields = [w.to_field() for w in self.widgets.values()]
        fields += [
            Field(name, ftype, label, read_only=True, reference_to=_REFERENCES.get("user"))
            if ftype is FieldType.REFERENCE
            else Field(name, ftype, label, read_only=True)
            for name, (label, ftype) in SYSTEM_WIDGETS.items()
            if name in self.system or name in ("_id", "appId", "entryId")
        ]
        return ObjectSchema(
            name=self.entry_id,
            label=self.name,
            fields=fields,
            id_field="_id",
            natural_keys=(natural_key,) if natural_key else (),
            stamp_field="updateTime",
        )


def _widget(raw: object, where: str) -> WidgetInfo:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str):
        raise ConnectorError(f"widget list: {where} is not a widget", system=SYSTEM)
    items = raw.get("items") or []
    if not isinstance(items, list):
        raise ConnectorError(f"widget list: {where}.items is not a list", system=SYSTEM)
    return WidgetInfo(
        name=raw["name"],
        label=str(raw.get("label") or ""),
        type=str(raw.get("type") or ""),
        items=tuple(_widget(item, f"{where}.items[{i}]") for i, item in enumerate(items)),
    )


def parse_widgets(entry_id: str, name: str, answer: Mapping[str, object]) -> FormSchema:
    """A :class:`FormSchema` from a ``widget/list`` answer.

    Raises:
        ConnectorError: the answer does not have the documented shape.
    """
    raw = answer.get("widgets")
    if not isinstance(raw, list):
        raise ConnectorError(
            "widget list answer has no 'widgets' list", system=SYSTEM, object=entry_id
        )
    widgets = {w.name: w for w in (_widget(r, f"widgets[{i}]") for i, r in enumerate(raw))}
    labels: dict[str, list[str]] = {}
    for widget in widgets.values():
        labels.setdefault(widget.label, []).append(widget.name)
    sys_raw = answer.get("sysWidgets")
    system = [
        str(s.get("name"))
        for s in (sys_raw if isinstance(sys_raw, list) else [])
        if isinstance(s, Mapping)
    ]
    stamp = answer.get("dataModifyTime")
    return FormSchema(
        entry_id=entry_id,
        name=name,
        widgets=widgets,
        system=system,
        data_modify_time=stamp if isinstance(stamp, str) else None,
        # A label shared by two widgets is ambiguous and so not usable as a name.
        by_label={label: names[0] for label, names in labels.items() if label and len(names) == 1},
    )
