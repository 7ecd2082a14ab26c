"""The ADF ``/describe`` answer of a resource (attributes with types, children, actions)."""

from __future__ import annotations

from erpbridge.sims.oracle.model import Attr, ResourceDef

__all__ = ["describe_resource"]


def _describe_attrs(attrs: tuple[Attr, ...]) -> list[dict[str, object]]:
    return [
        {
            "name": a.name,
            "type": a.type,
            "updatable": not a.read_only,
            "mandatory": a.required,
            "queryable": a.type != "array",
            "title": a.title or a.name,
        }
        for a in attrs
    ]


def describe_resource(resource: ResourceDef, href: str) -> dict[str, object]:
    """The ``/describe`` answer of one resource (ADF shape: ``Resources.<name>``)."""
    children = {
        c.name: {
            "discrColumnType": False,
            "title": c.title,
            "attributes": _describe_attrs(c.attrs),
            "collection": {"rangeSize": 25, "finders": []},
        }
        for c in resource.children
    }
    actions = ["get"] + (["create", "update"] if resource.writable else [])
    body: dict[str, object] = {
        "discrColumnType": False,
        "title": resource.title,
        "titlePlural": resource.title,
        "attributes": _describe_attrs(resource.attrs),
        "collection": {"rangeSize": 25, "finders": [], "actions": actions},
        "item": {"actions": actions + (["delete"] if resource.deletable else [])},
        "children": children,
        "links": [{"rel": "self", "href": href, "name": "self", "kind": "describe"}],
    }
    return {"Resources": {resource.name: body}}
