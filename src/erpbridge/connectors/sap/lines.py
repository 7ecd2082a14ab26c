"""Line-level updates: an update whose fields carry ``to_Item`` becomes item requests.

SAP has no deep update (reference §4): items are changed with
``PATCH A_SalesOrderItem(SalesOrder='…',SalesOrderItem='…')``, created with
``POST A_SalesOrder('…')/to_Item`` and removed with ``DELETE A_SalesOrderItem(…)``. The
writer puts these after the header's ``PATCH`` in the record's one changeset, so a header
and its items change together or not at all.

Matching a mapped line to an SAP item (the choice, docs/connectors/sap.md):

1. by the CRM line reference ``ExternalItemID`` (the mapping sets it to the CRM line's id;
   a deep insert stores it, so the next update finds the item again whatever SAP numbered
   it, and whatever order or count the CRM lines have now);
2. a line whose reference no item has yet is matched to an item *without* a reference and
   the same ``Material`` (orders created before the mapping set references), in item-number
   order; the match writes the reference, so from then on rule 1 holds;
3. a line matched by neither is created.

An item whose reference no mapped line carries any more was a CRM line that is gone: it is
deleted (SAP refuses that once the item is delivered, and the whole changeset rolls back);
so is a second item carrying a reference another item already answers for (a copy).
Two mapped lines with one reference are refused (a validation error naming both).
An item without a reference that no line matched is SAP's own (added there, or a
sub-item SAP generated) and is left alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from urllib.parse import quote

from erpbridge.connectors.sap.batch import BatchOperation
from erpbridge.connectors.sap.describe import EntitySetSchema
from erpbridge.connectors.sap.errors import SYSTEM
from erpbridge.connectors.sap.records import key_predicate, record_id
from erpbridge.connectors.sap.values import to_wire, to_wire_fields
from erpbridge.spi.errors import ValidationError

__all__ = ["LINE_NAVS", "LineNav", "LinePlan", "plan_lines"]


@dataclass(frozen=True, slots=True)
class LineNav:
    """How the lines of one navigation are matched to the target's records."""

    reference: str  # the field holding the CRM line's id
    match_by: str  # the field rule 2 matches unreferenced items by


#: (entity set, navigation) -> its line rules; other navigations' lines are not updated.
LINE_NAVS: dict[tuple[str, str], LineNav] = {
    ("A_SalesOrder", "to_Item"): LineNav(reference="ExternalItemID", match_by="Material"),
    # Requisition items have no external item id; RequirementTracking (requirement
    # tracking number, 10 characters) carries the CRM's reference (the case number).
    ("A_PurchaseRequisitionHeader", "to_PurchaseReqnItem"): LineNav(
        reference="RequirementTracking", match_by="Material"
    ),
}

_NUMERIC = ("Edm.Decimal", "Edm.Double", "Edm.Single", "Edm.Int16", "Edm.Int32", "Edm.Int64")


@dataclass(frozen=True, slots=True)
class LinePlan:
    """The item requests of one update, and the current items they touch (for hints)."""

    requests: list[BatchOperation]
    touched: list[Mapping[str, object]]


def _is_blank(value: object) -> bool:
    return value is None or value == ""


def _same(edm_type: str, new: object, old: object) -> bool:
    """True when a mapped value equals SAP's (``3`` = ``3.000``, null = empty text)."""
    if _is_blank(new) and _is_blank(old):
        return True
    if edm_type in _NUMERIC:
        try:
            return Decimal(str(new)) == Decimal(str(old))
        except InvalidOperation:
            return False
    return to_wire(edm_type, new) == to_wire(edm_type, old)


def _changes(
    item_set: EntitySetSchema, line: Mapping[str, object], item: Mapping[str, object]
) -> dict[str, object]:
    """The fields of ``line`` that differ from ``item`` (keys and read-only ones left out)."""
    out: dict[str, object] = {}
    for name, value in line.items():
        prop = item_set.props.get(name)
        if prop is None:
            out[name] = value  # unknown to $metadata: sent, so SAP's own 400 names it
        elif (
            name not in item_set.keys
            and prop.updatable
            and not _same(prop.edm_type, value, item.get(name))
        ):
            out[name] = value
    return out


def _check_references(
    entity: str, nav: str, spec: LineNav, lines: Sequence[Mapping[str, object]]
) -> None:
    """Each mapped line needs its own reference, or items could not be told apart.

    Raises:
        ValidationError: two lines carry the same reference (names both lines).
    """
    seen: dict[str, int] = {}
    for n, line in enumerate(lines, start=1):
        ref = line.get(spec.reference)
        if _is_blank(ref):
            continue
        if str(ref) in seen:
            raise ValidationError(
                f"{nav} lines {seen[str(ref)]} and {n} carry the same {spec.reference} "
                f"{ref!r}; each CRM line needs its own (map it to the line's id)",
                field=f"{nav}.{spec.reference}",
                system=SYSTEM,
                object=entity,
            )
        seen[str(ref)] = n


def _match(
    spec: LineNav, lines: Sequence[Mapping[str, object]], items: Sequence[Mapping[str, object]]
) -> tuple[dict[int, Mapping[str, object]], list[Mapping[str, object]]]:
    """(line index -> matched item, items to remove) by the rules in the module docstring.

    Items that share a reference (copies) are matched once; the other copies are removed.
    """
    by_reference: dict[str, list[Mapping[str, object]]] = {}
    for item in items:
        if not _is_blank(item.get(spec.reference)):
            by_reference.setdefault(str(item[spec.reference]), []).append(item)
    matched: dict[int, Mapping[str, object]] = {}
    for n, line in enumerate(lines):
        ref = line.get(spec.reference)
        if not _is_blank(ref) and by_reference.get(str(ref)):
            matched[n] = by_reference[str(ref)].pop(0)
    # Items without a reference, oldest item number first, by the matching field.
    free: dict[str, list[Mapping[str, object]]] = {}
    for item in items:
        if _is_blank(item.get(spec.reference)):
            free.setdefault(str(item.get(spec.match_by)), []).append(item)
    for n, line in enumerate(lines):
        candidates = free.get(str(line.get(spec.match_by)))
        if n not in matched and candidates:
            matched[n] = candidates.pop(0)
    removed = [item for rest in by_reference.values() for item in rest]
    return matched, removed


def plan_lines(
    entity_set: EntitySetSchema,
    target_id: str,
    fields: Mapping[str, object],
    current: Mapping[str, object],
    sets: Mapping[str, EntitySetSchema],
) -> LinePlan:
    """The item requests that bring the record's lines to ``fields``' lines.

    Args:
        entity_set: the header's set (``A_SalesOrder``).
        target_id: the header's id.
        fields: the mapped record; its line lists of :data:`LINE_NAVS` navigations count.
        current: the record as SAP has it now, with those navigations expanded.
        sets: every set of the service (the items' schema).

    Raises:
        ValidationError: two mapped lines carry the same reference.
    """
    requests: list[BatchOperation] = []
    touched: list[Mapping[str, object]] = []
    for nav_name, nav in entity_set.navs.items():
        spec = LINE_NAVS.get((entity_set.name, nav_name))
        lines = fields.get(nav_name)
        item_set = sets.get(nav.target_set)
        if spec is None or item_set is None or not isinstance(lines, list | tuple):
            continue
        lines = [line for line in lines if isinstance(line, Mapping)]
        _check_references(entity_set.name, nav_name, spec, lines)
        now = current.get(nav_name)
        items = [i for i in now if isinstance(i, Mapping)] if isinstance(now, list) else []
        matched, removed = _match(spec, lines, items)
        creates: list[BatchOperation] = []
        for n, line in enumerate(lines):
            item = matched.get(n)
            if item is None:
                body = json.dumps(to_wire_fields(item_set, line, sets), ensure_ascii=False)
                path = f"{entity_set.name}{key_predicate(entity_set, target_id)}/{nav_name}"
                creates.append(BatchOperation("POST", _quote(path), body.encode()))
                continue
            changed = _changes(item_set, line, item)
            if changed:
                body = json.dumps(to_wire_fields(item_set, changed, sets), ensure_ascii=False)
                requests.append(BatchOperation("PATCH", _item_path(item_set, item), body.encode()))
                touched.append(item)
        # New items before removals, so SAP never hands a removed item's number out again
        # inside the same changeset.
        requests += creates
        for item in removed:
            requests.append(BatchOperation("DELETE", _item_path(item_set, item)))
            touched.append(item)
    return LinePlan(requests, touched)


def _item_path(item_set: EntitySetSchema, item: Mapping[str, object]) -> str:
    return _quote(f"{item_set.name}{key_predicate(item_set, record_id(item_set, item))}")


def _quote(path: str) -> str:
    return quote(path, safe="()'=,/")
