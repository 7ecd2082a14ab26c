"""Resolve a batch's xref lookups: by source id, and by natural key (``by=``).

``xref.customer(source.AccountId)`` names the referenced record by its source id: one
query of the xref table answers it. ``xref.customer(source.CustomerCode, by="Code")``
names it by a key the source system gives it (简道云 orders carry the customer's
客户编号, not its record id). The key is first turned into the source id, then looked up
like an id, so a referenced record not synced yet parks the job and is synced first,
exactly as for an id:

1. the store's ``xref_keys`` table (key value -> source id), one query per key field;
2. for the values it does not know (or knows more than once), one ``find()`` in the
   source system per key field and batch, through the connection's limits; the answers
   are saved to ``xref_keys`` (durable: the next batch, a recon or another worker reads
   them from the store);
3. the xref table by those source ids, one query per entity; when no flow creates the
   entity's records in this direction (only ``write: update`` flows keep it), an id it does
   not know is looked up in the other direction's xref (a CRM -> ERP product flow's pair
   answers an ERP -> CRM flow's ``xref.product(source.ItemCode)``).

The records a flow keeps for the entity (``entity: customer``) refresh their own keys
every time the flow reads them (:func:`remember_keys`), so a key that moves from one
record to another is not answered from an old row. The source object searched is that
flow's source object on the same connection.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from erpbridge.config.model import FlowSpec
from erpbridge.engine.clock import Clock
from erpbridge.engine.flow import FlowPlan
from erpbridge.engine.runtime import Runtime
from erpbridge.engine.xref import (
    lookup_reverse_xrefs,
    lookup_source_keys,
    lookup_xrefs,
    save_source_keys,
)
from erpbridge.mapping.closures import xref_id
from erpbridge.mapping.errors import FieldMappingError, MissingReference, SkippedReference
from erpbridge.mapping.types import keyed_entity, split_keyed_entity
from erpbridge.spi.records import Record, WriteMode

__all__ = ["Lookups", "key_source", "remember_keys", "resolve_lookups", "save_record_keys"]

_Pair = tuple[str, str]


@dataclass(slots=True)
class Lookups:
    """What a batch's lookups found.

    Attributes:
        xrefs: (lookup name, value) -> target id or None, for ``apply()``.
        sources: (``entity@field``, key value) -> the source id holding that key.
        ambiguous: (``entity@field``, key value) -> the source ids that all hold it.
        source_connection: the connection the keys were looked up in.
    """

    xrefs: dict[_Pair, str | None] = field(default_factory=dict)
    sources: dict[_Pair, str] = field(default_factory=dict)
    ambiguous: dict[_Pair, list[str]] = field(default_factory=dict)
    source_connection: str = ""

    def to_sync(
        self, pairs: Iterable[_Pair], exc: MissingReference, skips: Collection[str] = ()
    ) -> set[_Pair]:
        """(entity, source id) of every referenced record in ``pairs`` (and ``exc``'s)
        that has no xref: what the job waits for. Keys no source record holds are left out
        (there is nothing to sync yet), and so are lookups whose name is in ``skips``
        (used only with ``missing="skip"``: their records are not wanted in the target)."""
        wanted = {*pairs, (keyed_entity(exc.entity, exc.key_field), exc.source_id)}
        out: set[_Pair] = set()
        for name, value in wanted:
            if self.xrefs.get((name, value)) is not None or name in skips:
                continue
            entity, key_field = split_keyed_entity(name)
            if key_field is None:
                out.add((entity, value))
            elif (name, value) in self.sources:
                out.add((entity, self.sources[(name, value)]))
        return out

    def explain(self, exc: MissingReference) -> MissingReference | FieldMappingError:
        """``exc`` with the reason a key lookup failed: a key no source record holds (the
        job waits), or one several hold (a person decides: a mapping error)."""
        if exc.key_field is None:
            return exc
        pair = (keyed_entity(exc.entity, exc.key_field), exc.source_id)
        where = f"{self.source_connection}"
        if pair in self.ambiguous:
            return self._ambiguous(exc, pair)
        if pair in self.sources:
            exc.record_id = self.sources[pair]
            return exc
        missing = MissingReference(
            exc.entity,
            exc.source_id,
            source=exc.source,
            key_field=exc.key_field,
            reason=f"no {exc.entity} record in {where} has this key (yet)",
        )
        missing.locate(exc.flow or "", exc.target_field or "", exc.expression)
        return missing

    def explain_skip(self, exc: SkippedReference) -> SkippedReference | FieldMappingError:
        """``exc`` with the reason a key lookup found no pair: no source record holds the
        key (skipped, saying so), or several do (not a miss: a person decides, as for a
        lookup that waits)."""
        if exc.key_field is None:
            return exc
        pair = (keyed_entity(exc.entity, exc.key_field), exc.source_id)
        if pair in self.ambiguous:
            return self._ambiguous(exc, pair)
        if pair in self.sources:
            return exc
        skipped = SkippedReference(
            exc.entity,
            exc.source_id,
            source=exc.source,
            key_field=exc.key_field,
            reason=f"no {exc.entity} record in {self.source_connection} has this key",
        )
        skipped.locate(exc.flow or "", exc.target_field or "", exc.expression)
        return skipped

    def _ambiguous(
        self, exc: MissingReference | SkippedReference, pair: _Pair
    ) -> FieldMappingError:
        """A key several source records hold: a mapping error naming them all."""
        ids = ", ".join(self.ambiguous[pair])
        problem = FieldMappingError(
            f"xref.{exc.entity}({exc.source_id!r}, by={exc.key_field!r}): "
            f"{len(self.ambiguous[pair])} {exc.entity} records in {self.source_connection} "
            f"have this key (ids {ids}); make it unique there",
            value=exc.source_id,
            source=exc.source,
        )
        problem.locate(exc.flow or "", exc.target_field or "", exc.expression)
        return problem


def key_source(flows: Mapping[str, FlowSpec], entity: str, connection: str) -> str | None:
    """The source object of the first flow that keeps ``entity`` from ``connection``."""
    for name, flow in flows.items():
        if (flow.entity or name) == entity and flow.source.connection == connection:
            return flow.source.object
    return None


def _created_elsewhere(
    flows: Mapping[str, FlowSpec], entity: str, source: str, target: str
) -> bool:
    """True when no flow creates ``entity`` records from ``source`` in ``target`` (every
    flow keeping it this way only updates): its pairs come from the other direction."""
    return all(
        flow.target.write is WriteMode.UPDATE
        for name, flow in flows.items()
        if (flow.entity or name) == entity
        and flow.source.connection == source
        and flow.target.connection == target
    )


def _key_text(value: object) -> str | None:
    if value is None or value == "":
        return None
    try:
        return xref_id(value)
    except FieldMappingError:
        return None


async def resolve_lookups(
    store: sa.Engine,
    runtime: Runtime,
    plan: FlowPlan,
    requests: Iterable[_Pair],
    clock: Clock,
) -> Lookups:
    """Resolve every (lookup name, value) of a batch of ``plan`` (see the module doc).

    The object searched for a key is the source object of the project's flow that keeps
    the entity from ``plan``'s source connection.

    Raises:
        ConnectorError: the ``find()`` in the source system failed (the batch retries).
    """
    source = plan.source_connection
    out = Lookups(source_connection=source)
    by_id: dict[str, set[str]] = defaultdict(set)
    by_key: dict[tuple[str, str], set[str]] = defaultdict(set)
    for name, value in requests:
        entity, key_field = split_keyed_entity(name)
        (by_id[entity] if key_field is None else by_key[(entity, key_field)]).add(value)
    if not by_id and not by_key:
        return out
    known: dict[tuple[str, str], dict[str, set[str]]] = {}
    if by_key:
        with store.connect() as conn:
            for (entity, key_field), values in by_key.items():
                known[(entity, key_field)] = lookup_source_keys(
                    conn, (entity, source, key_field), values
                )
    for (entity, key_field), values in by_key.items():
        found = known[(entity, key_field)]
        unsure = sorted(v for v in values if len(found.get(v, ())) != 1)
        if unsure:
            ref = (entity, source, key_field)
            found.update(await _find(store, runtime, ref, unsure, clock))
        name = keyed_entity(entity, key_field)
        for value in values:
            ids = sorted(found.get(value, ()))
            if len(ids) == 1:
                out.sources[(name, value)] = ids[0]
                by_id[entity].add(ids[0])
            elif ids:
                out.ambiguous[(name, value)] = ids
    with store.connect() as conn:
        targets = {
            entity: lookup_xrefs(conn, (entity, source, plan.target_connection), ids)
            for entity, ids in by_id.items()
        }
        # A two-way entity has one xref (docs/engine.md, guarantee 5): an ERP -> CRM flow
        # finds the CRM id of an item the CRM -> ERP flow created through that flow's
        # xref, read the other way round, as the worker does for its target ids. Only when
        # no flow creates the entity's records in this direction: otherwise a missing xref
        # means "not synced yet", and the job waits for it (a pair the other direction
        # holds may name another record).
        flows = runtime.project.spec.flows
        for entity, wanted_ids in by_id.items():
            unknown = [i for i in wanted_ids if i not in targets[entity]]
            if unknown and _created_elsewhere(flows, entity, source, plan.target_connection):
                reverse = (entity, plan.target_connection, source)
                targets[entity].update(lookup_reverse_xrefs(conn, reverse, unknown))
    for name, value in requests:
        entity, key_field = split_keyed_entity(name)
        source_id = value if key_field is None else out.sources.get((name, value))
        out.xrefs[(name, value)] = targets[entity].get(source_id) if source_id else None
    return out


async def _find(
    store: sa.Engine,
    runtime: Runtime,
    ref: tuple[str, str, str],
    values: Sequence[str],
    clock: Clock,
) -> dict[str, set[str]]:
    """key value -> source ids, asked of the source system; saved to ``xref_keys``."""
    entity, connection, key_field = ref
    obj = key_source(runtime.project.spec.flows, entity, connection)
    if obj is None:
        return {}
    connector = runtime.connector(connection)
    records = await runtime.guard(connection).call(
        lambda: connector.find(obj, key_field, list(values))
    )
    wanted = set(values)
    found: dict[str, set[str]] = {v: set() for v in values}
    for record in records:
        text = _key_text(record.fields.get(key_field))
        if text in wanted and not record.deleted:
            found[text].add(record.id)
    keys: dict[str, str | None] = {sid: value for value, ids in found.items() for sid in ids}
    with store.begin() as conn:
        # Rows that claimed one of these values for a record find() no longer returns
        # are out of date (the record's key moved): forget them.
        for value, ids in lookup_source_keys(conn, ref, values).items():
            for stale in ids - found.get(value, set()):
                keys.setdefault(stale, None)
        save_source_keys(conn, ref, keys, clock.now())
    return {v: ids for v, ids in found.items() if ids}


def remember_keys(
    store: sa.Engine, plan: FlowPlan, records: Iterable[Record], clock: Clock
) -> None:
    """Save the key fields other flows find this flow's records by (``plan.key_fields``)."""
    if not plan.key_fields:
        return
    records = list(records)
    if not records:
        return
    with store.begin() as conn:
        save_record_keys(
            conn, (plan.entity, plan.source_connection), plan.key_fields, records, clock.now()
        )


def save_record_keys(
    conn: sa.Connection,
    owner: tuple[str, str],
    key_fields: Sequence[str],
    records: Sequence[Record],
    now: datetime,
) -> None:
    """Save ``records``' values of ``key_fields`` for (entity, source connection)
    ``owner``, in the caller's transaction (:func:`remember_keys`; intake, for the
    changes it ends itself)."""
    entity, source_connection = owner
    for key_field in key_fields:
        # A record without the field (a partial snapshot) says nothing about its key.
        keys = {
            r.id: None if r.deleted else _key_text(r.fields.get(key_field))
            for r in records
            if r.deleted or key_field in r.fields
        }
        save_source_keys(conn, (entity, source_connection, key_field), keys, now)
