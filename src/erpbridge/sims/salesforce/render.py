"""JSON shapes of records and describes, as the REST API answers them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from erpbridge.sims.salesforce.schema import CHILD_RELATIONSHIPS, OBJECTS, ObjectDef
from erpbridge.sims.salesforce.soql import BoundQuery, ParentLookup

__all__ = [
    "ChildIndex",
    "describe_global",
    "describe_object",
    "describe_summary",
    "query_row_renderer",
    "render_query_row",
    "render_record",
]


def _attributes(obj: str, record_id: object, version: str) -> dict[str, object]:
    return {"type": obj, "url": f"/services/data/v{version}/sobjects/{obj}/{record_id}"}


def render_record(
    obj: ObjectDef, row: Mapping[str, object], version: str, fields: Sequence[str] | None = None
) -> dict[str, object]:
    """A record as ``GET /sobjects/{T}/{id}`` returns it (all fields unless ``fields``)."""
    out: dict[str, object] = {"attributes": _attributes(obj.name, row["Id"], version)}
    names = fields if fields is not None else list(obj.fields)
    for name in names:
        out[name] = row.get(name)
    return out


#: child rows of a query: relationship name -> parent id -> rows (already filtered/sorted).
ChildIndex = Mapping[str, Mapping[str, Sequence[Mapping[str, object]]]]


def render_query_row(
    bound: BoundQuery,
    row: Mapping[str, object],
    version: str,
    parent: ParentLookup,
    children: ChildIndex | None = None,
) -> dict[str, object]:
    """One query result row.

    Selected fields; parents as nested records (or null); child sub-queries as nested
    query results (or null when there are none).
    """
    return query_row_renderer(bound, version, parent, children)(row)


def query_row_renderer(
    bound: BoundQuery,
    version: str,
    parent: ParentLookup,
    children: ChildIndex | None = None,
) -> Callable[[Mapping[str, object]], dict[str, object]]:
    """:func:`render_query_row` for the rows of one query, with the per-query work (which
    fields are plain, the URL prefix, the child renderers) done once, not per row."""
    type_name = bound.sobject.name
    url = f"/services/data/v{version}/sobjects/{type_name}/"
    plan = [(None if path.hops else path.field.name, path) for path in bound.fields]
    subs = [
        (
            child.name,
            (children or {}).get(child.name, {}),
            query_row_renderer(child.query, version, parent),
        )
        for child in bound.children
    ]

    names = [name for name, _ in plan if name is not None]
    is_plain = len(names) == len(plan)

    def render(row: Mapping[str, object]) -> dict[str, object]:
        out: dict[str, object] = {"attributes": {"type": type_name, "url": f"{url}{row['Id']}"}}
        get = row.get
        if is_plain:
            for plain in names:
                out[plain] = get(plain)
        else:
            for name, path in plan:
                if name is not None:
                    out[name] = get(name)
                else:
                    _put_path(out, path, row, version, parent)
        for name, by_parent, sub in subs:
            rows = by_parent.get(str(row["Id"]), [])
            out[name] = (
                {"totalSize": len(rows), "done": True, "records": [sub(r) for r in rows]}
                if rows
                else None
            )
        return out

    return render


def _put_path(
    out: dict[str, object],
    path: Any,
    row: Mapping[str, object],
    version: str,
    parent: ParentLookup,
) -> None:
    """A dotted parent field (``Account.Owner.Name``) as nested records in ``out``."""
    target: dict[str, object] = out
    current: Mapping[str, object] | None = row
    for hop, label in zip(path.hops, path.label, strict=False):
        current = parent(hop, current) if current is not None else None
        existing = target.get(label)
        if current is None:
            if label not in target:
                target[label] = None
            break
        if isinstance(existing, dict):
            target = existing
        else:
            nested: dict[str, object] = {
                "attributes": _attributes(hop.reference_to or "", current["Id"], version)
            }
            target[label] = nested
            target = nested
    else:
        if current is not None:
            target[path.field.name] = current.get(path.field.name)


def _urls(obj: ObjectDef, version: str) -> dict[str, str]:
    base = f"/services/data/v{version}/sobjects/{obj.name}"
    return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}


def describe_summary(obj: ObjectDef, version: str) -> dict[str, object]:
    """One object as ``GET /sobjects`` lists it (and ``objectDescribe`` of ``/sobjects/{T}``)."""
    return {
        "name": obj.name,
        "label": obj.label,
        "labelPlural": obj.label_plural,
        "keyPrefix": obj.prefix,
        "custom": False,
        "createable": True,
        "updateable": True,
        "deletable": True,
        "queryable": True,
        "retrieveable": True,
        "searchable": True,
        "replicateable": True,
        "urls": _urls(obj, version),
    }


def describe_global(version: str) -> dict[str, object]:
    """``GET /sobjects``."""
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [describe_summary(o, version) for o in OBJECTS.values()],
    }


def describe_object(obj: ObjectDef, version: str) -> dict[str, object]:
    """``GET /sobjects/{T}/describe``."""
    children = [
        {
            "childSObject": child.name,
            "field": f.name,
            "relationshipName": CHILD_RELATIONSHIPS.get((child.name, f.name)),
            "cascadeDelete": (child.name, f.name)
            in {("OrderItem", "OrderId"), ("Contact", "AccountId"), ("Case", "AccountId")},
        }
        for child in OBJECTS.values()
        for f in child.fields.values()
        if f.reference_to == obj.name
    ]
    return {
        **describe_summary(obj, version),
        "fields": [f.describe() for f in obj.fields.values()],
        "childRelationships": children,
        "recordTypeInfos": [],
    }
