"""Child records read with their parent (Order -> OrderItems), as spi LINES fields.

A connection lists, per object, the child relationships to embed (``lines`` setting,
default ``{"Order": ["OrderItems"]}``). Reads then select them with a SOQL child
sub-query, and the record carries them as a list of mappings under the relationship name
(``record.fields["OrderItems"] = [{"Id": …, "Quantity": …}, …]``), which is what mappings
iterate with ``each(source.OrderItems, …)``. Salesforce moves the parent's
``SystemModstamp`` when its items change (the total is recomputed), so a change read of
the parent sees line changes too. Lines are not written through the parent: write the
child object itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping

from erpbridge.connectors.salesforce.client import SalesforceClient, expect_mapping
from erpbridge.connectors.salesforce.cursor import soql_name
from erpbridge.spi.errors import ConnectorError
from erpbridge.spi.schema import Field, FieldType, ObjectSchema

__all__ = [
    "complete_lines",
    "flatten_lines",
    "line_fields",
    "narrowed",
    "select_list",
    "with_lines",
]


#: fields every record is made of (its id, version and stamp, its tombstone flag)
_RECORD_FIELDS = frozenset({"Id", "SystemModstamp", "IsDeleted"})


def line_fields(schema: ObjectSchema) -> list[Field]:
    """The LINES fields of ``schema``."""
    return [f for f in schema.fields if f.type is FieldType.LINES and f.lines is not None]


def with_lines(schema: ObjectSchema, lines: Mapping[str, ObjectSchema]) -> ObjectSchema:
    """``schema`` plus one read-only LINES field per child relationship."""
    extra = [
        Field(name=rel, type=FieldType.LINES, label=rel, read_only=True, lines=child)
        for rel, child in lines.items()
    ]
    return ObjectSchema(
        name=schema.name,
        fields=[*schema.fields, *extra],
        label=schema.label,
        id_field=schema.id_field,
        natural_keys=schema.natural_keys,
        stamp_field=schema.stamp_field,
    )


def narrowed(schema: ObjectSchema, fields: Collection[str] | None) -> ObjectSchema:
    """``schema`` with only the fields named in ``fields`` (wire name or label).

    None keeps every field. Lines (child relationships) stay only when asked by their
    relationship name. The fields a record is made of (``Id``; ``SystemModstamp``, its
    version and stamp; ``IsDeleted``) stay whenever the object has them.
    """
    if fields is None:
        return schema
    kept = [
        f
        for f in schema.fields
        if f.name in fields or f.name in _RECORD_FIELDS or (f.label and f.label in fields)
    ]
    return dataclasses.replace(schema, fields=kept)


def _plain(schema: ObjectSchema) -> list[str]:
    return [f.name for f in schema.fields if f.type is not FieldType.LINES]


def select_list(schema: ObjectSchema, first: Iterable[str] = ("Id",)) -> str:
    """``Id, A, B, (SELECT … FROM Rel)`` for ``schema`` (every name checked)."""
    names = [soql_name(n) for n in dict.fromkeys([*first, *_plain(schema)])]
    for f in line_fields(schema):
        assert f.lines is not None  # noqa: S101 - line_fields keeps only those
        child = ", ".join(soql_name(n) for n in dict.fromkeys(["Id", *_plain(f.lines)]))
        names.append(f"(SELECT {child} FROM {soql_name(f.name)})")  # noqa: S608 - checked names
    return ", ".join(names)


async def complete_lines(
    client: SalesforceClient, row: Mapping[str, object], rels: Iterable[str], obj: str
) -> dict[str, object]:
    """``row`` with every child sub-query result fetched to its end (``nextRecordsUrl``)."""
    out = dict(row)
    for rel in rels:
        nested = out.get(rel)
        if not isinstance(nested, Mapping):
            continue
        records = list(nested.get("records") or [])
        page: Mapping[str, object] = nested
        while not page.get("done", True) and isinstance(page.get("nextRecordsUrl"), str):
            data = await client.call_json("GET", str(page["nextRecordsUrl"]), object=obj)
            page = expect_mapping(data, "child query result", object=obj)
            more = page.get("records")
            if not isinstance(more, list):
                raise ConnectorError(
                    "child query page without records", system="salesforce", object=obj
                )
            records.extend(more)
        out[rel] = {"totalSize": len(records), "done": True, "records": records}
    return out


def flatten_lines(row: Mapping[str, object], rels: Iterable[str]) -> dict[str, object]:
    """Nested query results -> lists of child field mappings (``attributes`` dropped)."""
    out = dict(row)
    for rel in rels:
        nested = out.get(rel)
        records = nested.get("records") if isinstance(nested, Mapping) else None
        out[rel] = [
            {k: v for k, v in r.items() if k != "attributes"}
            for r in (records if isinstance(records, list) else [])
            if isinstance(r, Mapping)
        ]
    return out
