"""OData entities (verbose JSON) -> spi Records: typed fields, nested lines, id, version, stamp.

Record ids are the key value (``1000001``) or, for compound keys, the key predicate
(``Material='TG11',Plant='1710',…``), so :func:`key_predicate` can address the entity again.
The version is the entity's ETag (``__metadata.etag``), else its change stamp, else a hash
of its fields (credit accounts and stock have neither).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from erpbridge.connectors.sap.cursor import STAMPS, literal
from erpbridge.connectors.sap.describe import EntitySetSchema
from erpbridge.connectors.sap.errors import SYSTEM
from erpbridge.connectors.sap.values import from_wire
from erpbridge.spi.errors import TransientError
from erpbridge.spi.records import Record

__all__ = [
    "created_identity",
    "entity_fields",
    "key_predicate",
    "record_id",
    "to_record",
    "to_records",
]


def _is_deferred(value: object) -> bool:
    return isinstance(value, dict) and "__deferred" in value


def entity_fields(
    entity_set: EntitySetSchema, data: Mapping[str, object], sets: Mapping[str, EntitySetSchema]
) -> dict[str, object]:
    """An entity's properties as Python values; expanded navigations as nested fields."""
    fields: dict[str, object] = {}
    props = entity_set.props
    for name, value in data.items():
        if name == "__metadata":
            continue
        prop = props.get(name)
        if prop is not None:
            # Most values are plain strings of Edm.String: nothing to convert.
            if value is None or (type(value) is str and prop.edm_type == "Edm.String"):
                fields[name] = value
            else:
                fields[name] = from_wire(prop.edm_type, value)
            continue
        nav = entity_set.navs.get(name)
        target = sets.get(nav.target_set) if nav else None
        if target is None or not isinstance(value, dict | list) or _is_deferred(value):
            continue
        rows = value.get("results", value) if isinstance(value, dict) else value
        if isinstance(rows, list):
            fields[name] = [entity_fields(target, r, sets) for r in rows if isinstance(r, dict)]
        elif isinstance(rows, dict):
            fields[name] = entity_fields(target, rows, sets)
    return fields


def _content_version(fields: Mapping[str, object]) -> str:
    """A version for entities with neither ETag nor change stamp (credit accounts, stock).

    Without one, every read of such an entity would look like the version already synced,
    and a changed credit limit or stock level would never flow again.
    """
    text = json.dumps(fields, sort_keys=True, default=str, ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def to_record(
    entity_set: EntitySetSchema, data: object, sets: Mapping[str, EntitySetSchema]
) -> Record:
    """One entity as a Record.

    Raises:
        TransientError: the entity is not a JSON object (a broken answer).
    """
    if not isinstance(data, dict):
        raise TransientError(
            "an entity in the answer is not a JSON object", system=SYSTEM, object=entity_set.name
        )
    fields = entity_fields(entity_set, data, sets)
    spec = STAMPS.get(entity_set.name)
    stamp = spec.stamp_of(fields) if spec else None
    meta = data.get("__metadata")
    etag = meta.get("etag") if isinstance(meta, dict) else None
    version = str(etag) if etag else stamp.isoformat() if stamp else _content_version(fields)
    return Record(entity_set.name, record_id(entity_set, fields), fields, version, stamp)


def created_identity(entity_set: EntitySetSchema, data: object) -> tuple[str, str | None]:
    """(id, version) of an entity a create answered, as :func:`to_record` would give them,
    without converting its other properties and nested lines.

    Raises:
        TransientError: the entity is not a JSON object (a broken answer).
    """
    if not isinstance(data, dict):
        raise TransientError(
            "an entity in the answer is not a JSON object", system=SYSTEM, object=entity_set.name
        )
    spec = STAMPS.get(entity_set.name)
    wanted = [*entity_set.keys, *((spec.stamp, spec.time) if spec else ())]
    head = {name: data[name] for name in wanted if name and name in data}
    fields = entity_fields(entity_set, head, {})
    stamp = spec.stamp_of(fields) if spec else None
    meta = data.get("__metadata")
    etag = meta.get("etag") if isinstance(meta, dict) else None
    version = str(etag) if etag else (stamp.isoformat() if stamp else None)
    return record_id(entity_set, fields), version


def to_records(
    entity_set: EntitySetSchema, d: Mapping[str, object], sets: Mapping[str, EntitySetSchema]
) -> list[Record]:
    """The entities of a collection answer's ``d``.

    Raises:
        TransientError: ``d`` has no ``results`` list.
    """
    rows = d.get("results")
    if not isinstance(rows, list):
        raise TransientError(
            "collection answer without a results list", system=SYSTEM, object=entity_set.name
        )
    return [to_record(entity_set, row, sets) for row in rows]


def record_id(entity_set: EntitySetSchema, fields: Mapping[str, object]) -> str:
    """A record's id: its key value, or ``K1='v1',K2='v2'`` for compound keys."""
    if len(entity_set.keys) == 1:
        return str(fields.get(entity_set.keys[0], ""))
    return ",".join(
        f"{k}={literal(fields.get(k, ''), entity_set.props[k].edm_type)}" for k in entity_set.keys
    )


def key_predicate(entity_set: EntitySetSchema, record_key: str) -> str:
    """``('1000001')`` for a simple id; compound ids are already predicates."""
    if len(entity_set.keys) == 1:
        return f"({literal(record_key, entity_set.props[entity_set.keys[0]].edm_type)})"
    return f"({record_key})"
