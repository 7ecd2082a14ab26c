"""How records look on the wire: items with links, child collections, collections, ETags.

Reference §1.2-§1.3: an item carries its attributes and ``links`` (self with the
``changeIndicator``, canonical, one ``child`` link per child collection); ``onlyData=true``
drops every link; ``fields=A,B;lines:C`` picks attributes (and implies the children it
names); ``expand`` adds children. From framework version 3 an expanded child is a collection
object (``items``, ``count``, ``hasMore``, ``limit``, ``offset``), before it a plain array.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

from erpbridge.sims.oracle.model import ChildDef, ResourceDef
from erpbridge.sims.oracle.query import QueryError
from erpbridge.sims.oracle.state import VERSION_KEY, Row

__all__ = [
    "COLLECTION_MEDIA_TYPE",
    "ITEM_MEDIA_TYPE",
    "View",
    "etag_of",
    "item_key",
    "key_from_parts",
    "render_collection",
    "render_item",
]

ITEM_MEDIA_TYPE = "application/vnd.oracle.adf.resourceitem+json"
COLLECTION_MEDIA_TYPE = "application/vnd.oracle.adf.resourcecollection+json"


@dataclass(slots=True)
class View:
    """What the client asked to see (fields, expand, onlyData) and how (framework version)."""

    fields: list[str] | None = None
    child_fields: dict[str, list[str]] = field(default_factory=dict)
    expand: list[str] = field(default_factory=list)
    only_data: bool = False
    framework_version: int = 1
    #: records per expanded child collection; None = all of them.
    child_limit: int | None = None
    #: ``links=self,canonical``: the link relations to show; None = all of them.
    link_rels: frozenset[str] | None = None

    def shown(self, links: list[Row]) -> list[Row]:
        """``links`` without the relations the client did not ask for."""
        if self.link_rels is None:
            return links
        return [link for link in links if link.get("rel") in self.link_rels]

    def check(self, resource: ResourceDef) -> None:
        """Refuse attributes and children the resource does not have."""
        for name in self.fields or []:
            if resource.attr(name) is None:
                raise QueryError(f"fields: unknown attribute {name!r}", parameter="fields")
        for child_name, names in self.child_fields.items():
            child = resource.child(child_name)
            if child is None:
                raise QueryError(f"fields: unknown child {child_name!r}", parameter="fields")
            for name in names:
                if child.attr(name) is None:
                    raise QueryError(
                        f"fields: unknown attribute {child_name}.{name}", parameter="fields"
                    )

    def children(self, resource: ResourceDef) -> list[ChildDef]:
        """The children to render: those named in ``fields`` (which wins) or ``expand``."""
        names = list(self.child_fields) if (self.fields or self.child_fields) else self.expand
        return [c for c in resource.children if c.name in names]


def etag_of(key: str, row: Mapping[str, object]) -> str:
    """The quoted ETag of a record: opaque, and different after every change."""
    token = f"{key}:{row.get(VERSION_KEY, 0)}".encode().hex().upper()
    return f'"ACED0005{token}"'


def key_from_parts(resource: ResourceDef, row: Mapping[str, object]) -> str:
    """The opaque hash key of a resource keyed by several attributes (hex of the parts)."""
    joined = "|".join("" if row.get(p) is None else str(row.get(p)) for p in resource.key_parts)
    return "00" + joined.encode().hex().upper()


def item_key(resource: ResourceDef, row: Mapping[str, object]) -> str:
    """The item key used in paths."""
    if resource.key is None:
        return key_from_parts(resource, row)
    return str(row.get(resource.key))


def _pick(row: Mapping[str, object], names: Sequence[str] | None, attrs: Sequence[str]) -> Row:
    chosen = names if names else attrs
    return {n: row.get(n) for n in chosen}


def _child_item(child: ChildDef, row: Row, href: str, view: View) -> Row:
    out = _pick(row, view.child_fields.get(child.name), [a.name for a in child.attrs])
    if not view.only_data:
        self_href = f"{href}/{row.get(child.key)}"
        out["links"] = view.shown(
            [
                {"rel": "self", "href": self_href, "name": child.name, "kind": "item"},
                {"rel": "canonical", "href": self_href, "name": child.name, "kind": "item"},
            ]
        )
    return out


def render_child_collection(
    child: ChildDef, rows: list[Row], href: str, view: View, *, limit: int = 25, offset: int = 0
) -> object:
    """A child collection: an object from framework version 3, an array before."""
    page = rows[offset : offset + limit]
    items = [_child_item(child, r, href, view) for r in page]
    if view.framework_version < 3:
        return items
    body: Row = {
        "items": items,
        "count": len(items),
        "hasMore": offset + len(page) < len(rows),
        "limit": limit,
        "offset": offset,
    }
    if not view.only_data:
        body["links"] = view.shown(
            [{"rel": "self", "href": href, "name": child.name, "kind": "collection"}]
        )
    return body


def render_item(resource: ResourceDef, row: Row, href: str, view: View) -> Row:
    """One item with the attributes, children and links ``view`` asks for."""
    out = _pick(row, view.fields, [a.name for a in resource.attrs])
    for child in view.children(resource):
        rows = cast(list[Row], row.get(child.name) or [])
        # Whether Fusion pages expanded children is not documented [U]: by default every
        # record is shown; ``child_limit`` pages them (clients then follow the child link).
        limit = view.child_limit if view.child_limit is not None else max(len(rows), 25)
        out[child.name] = render_child_collection(
            child, rows, f"{href}/child/{child.name}", view, limit=limit
        )
    if not view.only_data:
        key = href.rsplit("/", 1)[1]
        change = etag_of(key, row).strip('"')
        links: list[Row] = [
            {
                "rel": "self",
                "href": href,
                "name": resource.name,
                "kind": "item",
                "properties": {"changeIndicator": change},
            },
            {"rel": "canonical", "href": href, "name": resource.name, "kind": "item"},
        ]
        for child in resource.children:
            links.append(
                {
                    "rel": "child",
                    "href": f"{href}/child/{child.name}",
                    "name": child.name,
                    "kind": "collection",
                }
            )
        out["links"] = view.shown(links)
    return out


def render_collection(
    items: list[Row],
    *,
    has_more: bool,
    limit: int,
    offset: int,
    total: int | None,
    href: str,
    name: str,
    only_data: bool,
) -> Row:
    """A collection page: ``items``, ``count``, ``hasMore``, ``limit``, ``offset``, ``links``."""
    body: Row = {"items": items}
    if total is not None:
        body["totalResults"] = total
    body.update({"count": len(items), "hasMore": has_more, "limit": limit, "offset": offset})
    if not only_data:
        body["links"] = [{"rel": "self", "href": href, "name": name, "kind": "collection"}]
    return body
