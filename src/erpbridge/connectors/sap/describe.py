"""``describe()`` from ``$metadata``: EDMX -> entity-set schemas -> the spi Catalog.

Reads what reference §8 lists: ``EntityType`` keys and properties (``Type``, ``MaxLength``,
``Nullable``, ``sap:label``, ``sap:creatable``, ``sap:updatable``, ``sap:display-format``),
navigation properties resolved through their ``Association`` ends (multiplicity ``*`` means
nested lines), and the ``EntityContainer``'s entity sets. The connector also uses the parsed
types to turn wire values into Python values and back.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from erpbridge.spi.errors import TransientError
from erpbridge.spi.schema import Field, FieldType, ObjectSchema

__all__ = ["EntitySetSchema", "NavSchema", "PropSchema", "parse_metadata", "to_object_schema"]

_EDMX = "{http://schemas.microsoft.com/ado/2007/06/edmx}"
_SAP = "{http://www.sap.com/Protocols/SAPData}"
_EDM_NAMESPACES = (
    "http://schemas.microsoft.com/ado/2008/09/edm",
    "http://schemas.microsoft.com/ado/2009/11/edm",
    "http://schemas.microsoft.com/ado/2007/05/edm",
    "http://schemas.microsoft.com/ado/2006/04/edm",
)

_TYPES: dict[str, FieldType] = {
    "Edm.String": FieldType.STRING,
    "Edm.Boolean": FieldType.BOOLEAN,
    "Edm.Byte": FieldType.INTEGER,
    "Edm.SByte": FieldType.INTEGER,
    "Edm.Int16": FieldType.INTEGER,
    "Edm.Int32": FieldType.INTEGER,
    "Edm.Int64": FieldType.INTEGER,
    "Edm.Decimal": FieldType.DECIMAL,
    "Edm.Double": FieldType.DECIMAL,
    "Edm.Single": FieldType.DECIMAL,
    "Edm.DateTime": FieldType.DATETIME,
    "Edm.DateTimeOffset": FieldType.DATETIME,
    "Edm.Time": FieldType.TIME,
    "Edm.Guid": FieldType.STRING,
}

#: natural keys a flow can look records up by (reference §6).
NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    "A_SalesOrder": ("PurchaseOrderByCustomer",),
    "A_BusinessPartner": ("SearchTerm1", "SearchTerm2"),
    "A_Product": ("Product",),
}


@dataclass(frozen=True, slots=True)
class PropSchema:
    """One property as ``$metadata`` declares it."""

    name: str
    edm_type: str
    nullable: bool = True
    max_length: int | None = None
    label: str = ""
    creatable: bool = True
    updatable: bool = True
    is_date_only: bool = False


@dataclass(frozen=True, slots=True)
class NavSchema:
    """A navigation property: target set and whether it leads to many records."""

    name: str
    target_set: str
    many: bool


@dataclass(frozen=True, slots=True)
class EntitySetSchema:
    """An entity set with its type's keys, properties and navigations."""

    name: str
    service: str
    keys: tuple[str, ...]
    props: dict[str, PropSchema]
    navs: dict[str, NavSchema] = field(default_factory=dict)
    label: str = ""


def _flag(element: ET.Element, name: str, default: bool = True) -> bool:
    value = element.get(f"{_SAP}{name}")
    return default if value is None else value == "true"


def _parse(xml: bytes) -> ET.Element:
    # $metadata comes from the configured SAP system; Python's expat refuses external
    # entities and (since 2.4.1) entity-expansion bombs, so plain ElementTree is enough.
    try:
        return ET.fromstring(xml)  # noqa: S314 - trusted system, see above
    except ET.ParseError as exc:
        raise TransientError(
            f"$metadata is not well-formed XML: {exc}",
            system="sap",
            raw=xml[:2000].decode("utf-8", "replace"),
        ) from exc


def parse_metadata(service: str, xml: bytes) -> dict[str, EntitySetSchema]:
    """Entity sets of one service, by name.

    Raises:
        TransientError: the document is not EDMX (a proxy page, a cut answer).
    """
    root = _parse(xml)
    if root.tag != f"{_EDMX}Edmx":
        raise TransientError(f"$metadata of {service} is not an EDMX document", system="sap")
    schemas = [el for ns in _EDM_NAMESPACES for el in root.iter(f"{{{ns}}}Schema")]
    types: dict[str, ET.Element] = {}
    assoc_ends: dict[tuple[str, str], tuple[str, str]] = {}  # (assoc, role) -> (type, mult)
    assoc_sets: dict[tuple[str, str], str] = {}  # (assoc, role) -> entity set
    containers: list[ET.Element] = []
    for schema in schemas:
        ns = schema.tag.split("}")[0] + "}"
        namespace = schema.get("Namespace", "")
        for entity_type in schema.findall(f"{ns}EntityType"):
            types[f"{namespace}.{entity_type.get('Name')}"] = entity_type
        for assoc in schema.findall(f"{ns}Association"):
            name = f"{namespace}.{assoc.get('Name')}"
            for end in assoc.findall(f"{ns}End"):
                assoc_ends[(name, end.get("Role", ""))] = (
                    end.get("Type", ""),
                    end.get("Multiplicity", "1"),
                )
        for container in schema.findall(f"{ns}EntityContainer"):
            containers.append(container)
            for assoc_set in container.findall(f"{ns}AssociationSet"):
                for end in assoc_set.findall(f"{ns}End"):
                    key = (assoc_set.get("Association", ""), end.get("Role", ""))
                    assoc_sets[key] = end.get("EntitySet", "")
    result: dict[str, EntitySetSchema] = {}
    for container in containers:
        ns = container.tag.split("}")[0] + "}"
        for set_element in container.findall(f"{ns}EntitySet"):
            type_element = types.get(set_element.get("EntityType", ""))
            if type_element is None:
                continue
            name = set_element.get("Name", "")
            result[name] = _entity_set(service, name, type_element, ns, assoc_ends, assoc_sets)
    return result


def _entity_set(
    service: str,
    name: str,
    entity_type: ET.Element,
    ns: str,
    assoc_ends: dict[tuple[str, str], tuple[str, str]],
    assoc_sets: dict[tuple[str, str], str],
) -> EntitySetSchema:
    keys = tuple(ref.get("Name", "") for ref in entity_type.iterfind(f"{ns}Key/{ns}PropertyRef"))
    props: dict[str, PropSchema] = {}
    for prop in entity_type.findall(f"{ns}Property"):
        length = prop.get("MaxLength")
        props[prop.get("Name", "")] = PropSchema(
            name=prop.get("Name", ""),
            edm_type=prop.get("Type", "Edm.String"),
            nullable=prop.get("Nullable", "true") != "false",
            max_length=int(length) if length and length.isascii() and length.isdigit() else None,
            label=prop.get(f"{_SAP}label", ""),
            creatable=_flag(prop, "creatable"),
            updatable=_flag(prop, "updatable"),
            is_date_only=prop.get(f"{_SAP}display-format") == "Date",
        )
    navs: dict[str, NavSchema] = {}
    for nav in entity_type.findall(f"{ns}NavigationProperty"):
        relationship, to_role = nav.get("Relationship", ""), nav.get("ToRole", "")
        _, multiplicity = assoc_ends.get((relationship, to_role), ("", "1"))
        target = assoc_sets.get((relationship, to_role))
        if target:
            navs[nav.get("Name", "")] = NavSchema(nav.get("Name", ""), target, multiplicity == "*")
    return EntitySetSchema(name, service, keys, props, navs, entity_type.get(f"{_SAP}label", ""))


def _field(prop: PropSchema, is_key: bool) -> Field:
    kind = _TYPES.get(prop.edm_type, FieldType.UNKNOWN)
    if kind is FieldType.DATETIME and prop.is_date_only:
        kind = FieldType.DATE
    return Field(
        name=prop.name,
        type=kind,
        label=prop.label,
        required=is_key and not prop.nullable and prop.creatable,
        read_only=not prop.creatable and not prop.updatable,
        max_length=prop.max_length,
    )


def to_object_schema(
    entity_set: EntitySetSchema, all_sets: dict[str, EntitySetSchema], stamp_field: str | None
) -> ObjectSchema:
    """The spi view of an entity set; to-many navigations become LINES fields."""
    fields = [_field(p, p.name in entity_set.keys) for p in entity_set.props.values()]
    for nav in entity_set.navs.values():
        target = all_sets.get(nav.target_set)
        if target is None:
            continue
        if nav.many:
            lines = ObjectSchema(
                name=target.name,
                fields=[_field(p, False) for p in target.props.values()],
                label=target.label,
                id_field=",".join(target.keys),
            )
            fields.append(Field(nav.name, FieldType.LINES, label=target.label, lines=lines))
        else:
            fields.append(
                Field(nav.name, FieldType.REFERENCE, label=target.label, reference_to=target.name)
            )
    return ObjectSchema(
        name=entity_set.name,
        fields=fields,
        label=entity_set.label,
        id_field=",".join(entity_set.keys),
        natural_keys=NATURAL_KEYS.get(entity_set.name, ()),
        stamp_field=stamp_field,
    )
