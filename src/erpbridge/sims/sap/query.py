"""OData V2 system query options besides ``$filter``: ``$orderby``, ``$select``, ``$expand``,
``$top``, ``$skip``, ``$skiptoken``, ``$inlinecount`` (reference §3); ``$filter`` is filter.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal

from erpbridge.sims.sap.errors import ODataError
from erpbridge.sims.sap.filter import Floor, Lookup, Predicate, plan_filter
from erpbridge.sims.sap.model import EntitySetDef
from erpbridge.sims.sap.wire import Value

__all__ = [
    "QueryOptions",
    "parse_expand",
    "parse_options",
    "parse_orderby",
    "parse_select",
    "sort_rows",
]

Row = dict[str, Value]


def _row_sort_key(name: str) -> Callable[[Row], tuple[int, object]]:
    return lambda r: _sort_key(r.get(name))


def parse_orderby(entity_set: EntitySetDef, text: str) -> list[tuple[str, bool]]:
    """``F1 asc, F2 desc`` -> [(property, descending)].

    Raises:
        ODataError: 400 for an unknown property or direction.
    """
    result: list[tuple[str, bool]] = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2:
            raise ODataError(400, "/IWBEP/CM_MGW_RT/005", f"Invalid $orderby: '{text}'")
        name = words[0]
        direction = words[1].lower() if len(words) == 2 else "asc"
        if name not in entity_set.prop_by_name or direction not in ("asc", "desc"):
            raise ODataError(
                400,
                "/IWBEP/CM_MGW_RT/005",
                f"Invalid $orderby: '{part.strip()}' (property of '{entity_set.type_name}' "
                "followed by asc or desc expected)",
            )
        result.append((name, direction == "desc"))
    return result


def sort_rows(rows: list[Row], order: list[tuple[str, bool]]) -> list[Row]:
    """Sort by several keys; nulls sort first (stable, last key first)."""
    for name, descending in reversed(order):
        rows.sort(key=_row_sort_key(name), reverse=descending)
    return rows


def _sort_key(value: Value) -> tuple[int, object]:
    if value is None:
        return (0, 0)
    if isinstance(value, datetime):
        return (1, value.timestamp())
    if isinstance(value, time):
        return (1, value.isoformat())
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, int | float | Decimal):
        return (1, Decimal(value))
    return (1, value)


def parse_select(entity_set: EntitySetDef, text: str) -> set[str] | None:
    """``$select`` -> property and navigation names (None = everything).

    Raises:
        ODataError: 400 for a name the type does not have.
    """
    names = {part.strip() for part in text.split(",") if part.strip()}
    if not names or "*" in names:
        return None
    for name in names:
        head = name.split("/", 1)[0]
        if head not in entity_set.prop_by_name and head not in entity_set.nav_by_name:
            raise ODataError(
                400,
                "/IWBEP/CM_MGW_RT/021",
                f"Property '{head}' is invalid in $select for type '{entity_set.type_name}'",
            )
    return {name.split("/", 1)[0] for name in names}


def parse_expand(text: str) -> dict[str, object]:
    """``to_Item,to_Partner/to_Address`` -> a tree {nav: subtree} (checked when used)."""
    tree: dict[str, object] = {}
    for path in text.split(","):
        node = tree
        for segment in (s.strip() for s in path.split("/")):
            if not segment:
                raise ODataError(400, "/IWBEP/CM_MGW_RT/021", f"Invalid $expand: '{text}'")
            child = node.setdefault(segment, {})
            assert isinstance(child, dict)  # noqa: S101 - built right here
            node = child
    return tree


@dataclass(frozen=True, slots=True)
class QueryOptions:
    """Parsed system query options of one collection request."""

    predicate: Predicate | None = None
    lookup: Lookup | None = None
    floor: Floor | None = None
    order: tuple[tuple[str, bool], ...] = ()
    select: frozenset[str] | None = None
    expand: dict[str, object] | None = None
    top: int | None = None
    skip: int = 0
    skiptoken: int = 0
    inlinecount: bool = False


def _count(params: dict[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    value = raw.strip()  # strips more than int() accepts around a number ("0\x1f")
    if not (value.isascii() and value.isdigit()):  # "²".isdigit() is True
        raise ODataError(
            400, "/IWBEP/CM_MGW_RT/001", f"Invalid value '{raw}' of system query option {name}"
        )
    return int(value)


def parse_options(entity_set: EntitySetDef, params: dict[str, str]) -> QueryOptions:
    """Parse every system query option of a collection request.

    Raises:
        ODataError: 400 naming the option that is wrong.
    """
    filter_text = params.get("$filter")
    order = params.get("$orderby")
    select = params.get("$select")
    expand = params.get("$expand")
    inline = params.get("$inlinecount", "none")
    if inline not in ("allpages", "none"):
        raise ODataError(400, "/IWBEP/CM_MGW_RT/001", f"Invalid value '{inline}' of $inlinecount")
    chosen = parse_select(entity_set, select) if select else None
    plan = plan_filter(entity_set, filter_text) if filter_text else None
    return QueryOptions(
        predicate=plan.predicate if plan else None,
        lookup=plan.lookup if plan else None,
        floor=plan.floor if plan else None,
        order=tuple(parse_orderby(entity_set, order)) if order else (),
        select=frozenset(chosen) if chosen is not None else None,
        expand=parse_expand(expand) if expand else None,
        top=_count(params, "$top"),
        skip=_count(params, "$skip") or 0,
        skiptoken=_count(params, "$skiptoken") or 0,
        inlinecount=inline == "allpages",
    )
