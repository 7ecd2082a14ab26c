"""``$metadata``: the EDMX document of one service, built from model.py.

Hard requirements from pyodata's model parser (reference §8): the edmx 2007/06 and edm
2008/09 namespaces, ``m:DataServiceVersion="2.0"``, one Association and one AssociationSet
per navigation property with roles that resolve, and ``sap:`` booleans spelled exactly
``true``/``false``.
"""

from __future__ import annotations

from functools import cache
from xml.sax.saxutils import quoteattr

from erpbridge.sims.sap.model import SERVICES, EntitySetDef, NavDef, PropDef, ServiceDef

__all__ = ["render_metadata"]


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _property(prop: PropDef) -> str:
    attrs = [f'Name="{prop.name}"', f'Type="{prop.type}"']
    if not prop.nullable:
        attrs.append('Nullable="false"')
    if prop.max_length is not None:
        attrs.append(f'MaxLength="{prop.max_length}"')
    if prop.precision is not None:
        attrs.append(f'Precision="{prop.precision}"')
    if prop.scale is not None:
        attrs.append(f'Scale="{prop.scale}"')
    if prop.label:
        attrs.append(f"sap:label={quoteattr(prop.label)}")
    if prop.display_format:
        attrs.append(f'sap:display-format="{prop.display_format}"')
    if not prop.creatable:
        attrs.append('sap:creatable="false"')
    if not prop.updatable:
        attrs.append('sap:updatable="false"')
    return f"<Property {' '.join(attrs)}/>"


def _assoc_name(entity_set: EntitySetDef, nav: NavDef) -> str:
    # Real SAP metadata names associations assoc_<hash>; any name works if it resolves.
    return f"assoc_{entity_set.name}_{nav.name}"


def _entity_type(entity_set: EntitySetDef, namespace: str) -> str:
    keys = "".join(f'<PropertyRef Name="{k}"/>' for k in entity_set.keys)
    props = "".join(_property(p) for p in entity_set.props)
    navs = "".join(
        f'<NavigationProperty Name="{n.name}" Relationship="{namespace}.'
        f'{_assoc_name(entity_set, n)}" FromRole="FromRole_{_assoc_name(entity_set, n)}" '
        f'ToRole="ToRole_{_assoc_name(entity_set, n)}"/>'
        for n in entity_set.navs
    )
    label = f" sap:label={quoteattr(entity_set.label)}" if entity_set.label else ""
    return (
        f'<EntityType Name="{entity_set.type_name}"{label} sap:content-version="1">'
        f"<Key>{keys}</Key>{props}{navs}</EntityType>"
    )


def _association(service: ServiceDef, entity_set: EntitySetDef, nav: NavDef) -> str:
    name = _assoc_name(entity_set, nav)
    target = service.set_by_name[nav.target]
    many = "*" if nav.many else "0..1"
    joins = "".join(f'<PropertyRef Name="{a}"/>' for a, _ in nav.join)
    target_joins = "".join(f'<PropertyRef Name="{b}"/>' for _, b in nav.join)
    constraint = ""
    # A referential constraint is only valid when the principal side's properties are its key.
    if tuple(a for a, _ in nav.join) == entity_set.keys:
        constraint = (
            f'<ReferentialConstraint><Principal Role="FromRole_{name}">{joins}</Principal>'
            f'<Dependent Role="ToRole_{name}">{target_joins}</Dependent></ReferentialConstraint>'
        )
    return (
        f'<Association Name="{name}" sap:content-version="1">'
        f'<End Type="{service.name}.{entity_set.type_name}" Multiplicity="1" '
        f'Role="FromRole_{name}"/>'
        f'<End Type="{service.name}.{target.type_name}" Multiplicity="{many}" '
        f'Role="ToRole_{name}"/>{constraint}</Association>'
    )


def _entity_set(entity_set: EntitySetDef, namespace: str) -> str:
    return (
        f'<EntitySet Name="{entity_set.name}" EntityType="{namespace}.{entity_set.type_name}" '
        f'sap:creatable="{_flag(entity_set.creatable)}" '
        f'sap:updatable="{_flag(entity_set.updatable)}" '
        f'sap:deletable="{_flag(entity_set.deletable)}" sap:content-version="1"/>'
    )


def _association_set(entity_set: EntitySetDef, nav: NavDef, namespace: str) -> str:
    name = _assoc_name(entity_set, nav)
    return (
        f'<AssociationSet Name="{name}_Set" Association="{namespace}.{name}" '
        f'sap:creatable="false" sap:updatable="false" sap:deletable="false" '
        f'sap:content-version="1">'
        f'<End EntitySet="{entity_set.name}" Role="FromRole_{name}"/>'
        f'<End EntitySet="{nav.target}" Role="ToRole_{name}"/></AssociationSet>'
    )


@cache
def render_metadata(service_name: str) -> bytes:
    """The EDMX document of a service (cached; the model is static)."""
    service = SERVICES[service_name]
    ns = service.name
    types = "".join(_entity_type(s, ns) for s in service.sets)
    assocs = "".join(_association(service, s, n) for s in service.sets for n in s.navs)
    sets = "".join(_entity_set(s, ns) for s in service.sets)
    assoc_sets = "".join(_association_set(s, n, ns) for s in service.sets for n in s.navs)
    xml = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx" '
        'xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata" '
        'xmlns:sap="http://www.sap.com/Protocols/SAPData">'
        '<edmx:DataServices m:DataServiceVersion="2.0">'
        f'<Schema Namespace="{ns}" xml:lang="en" sap:schema-version="1" '
        'xmlns="http://schemas.microsoft.com/ado/2008/09/edm">'
        f"{types}{assocs}"
        f'<EntityContainer Name="{ns}_Entities" m:IsDefaultEntityContainer="true" '
        'sap:supported-formats="atom json xlsx">'
        f"{sets}{assoc_sets}</EntityContainer>"
        "</Schema></edmx:DataServices></edmx:Edmx>"
    )
    return xml.encode("utf-8")
