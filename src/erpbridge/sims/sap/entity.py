"""The building blocks of the SAP simulator's entity model: properties, navigations, sets.

model.py (and inventory_model.py) describe the services with these; every other module
reads them. Helpers at the end build the common property kinds with SAP's lengths.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "KEY",
    "READ_ONLY",
    "EntitySetDef",
    "NavDef",
    "PropDef",
    "ServiceDef",
    "date_prop",
    "decimal_prop",
    "string_prop",
]


@dataclass(frozen=True, slots=True)
class PropDef:
    """One property of an entity type (an EDM primitive)."""

    name: str
    type: str = "Edm.String"
    max_length: int | None = None
    precision: int | None = None
    scale: int | None = None
    nullable: bool = True
    creatable: bool = True
    updatable: bool = True
    label: str = ""
    display_format: str | None = None  # SAP's sap:display-format ("Date" for date-only)


@dataclass(frozen=True, slots=True)
class NavDef:
    """A navigation property: the target set and the key pairs that join them.

    ``join`` pairs (property on this set, property on the target set).
    """

    name: str
    target: str
    many: bool
    join: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class EntitySetDef:
    """One entity set with its entity type."""

    name: str
    type_name: str
    keys: tuple[str, ...]
    props: tuple[PropDef, ...]
    navs: tuple[NavDef, ...] = ()
    creatable: bool = True
    updatable: bool = True
    deletable: bool = True
    #: the property whose value makes the ETag (None: no ETag).
    etag_prop: str | None = None
    label: str = ""
    prop_by_name: dict[str, PropDef] = field(init=False, repr=False, compare=False)
    nav_by_name: dict[str, NavDef] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "prop_by_name", {p.name: p for p in self.props})
        object.__setattr__(self, "nav_by_name", {n.name: n for n in self.navs})


@dataclass(frozen=True, slots=True)
class ServiceDef:
    """One OData service (``/sap/opu/odata/sap/<name>/``)."""

    name: str
    sets: tuple[EntitySetDef, ...]
    set_by_name: dict[str, EntitySetDef] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "set_by_name", {s.name: s for s in self.sets})


def string_prop(name: str, length: int, **kw: Any) -> PropDef:
    """An ``Edm.String`` of ``length`` characters."""
    return PropDef(name, "Edm.String", max_length=length, **kw)


def date_prop(name: str, **kw: Any) -> PropDef:
    """An ``Edm.DateTime`` date-only field (``sap:display-format=\"Date\"``)."""
    return PropDef(name, "Edm.DateTime", precision=0, display_format="Date", **kw)


def decimal_prop(name: str, precision: int, scale: int, **kw: Any) -> PropDef:
    """An ``Edm.Decimal``."""
    return PropDef(name, "Edm.Decimal", precision=precision, scale=scale, **kw)


#: keyword arguments of a property the client may not set.
READ_ONLY: dict[str, Any] = {"creatable": False, "updatable": False}
#: keyword arguments of a key property.
KEY: dict[str, Any] = {"nullable": False, "updatable": False}
