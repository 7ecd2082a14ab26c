"""Which source fields a flow uses: the field list it hands ``read_changes`` and ``get``.

A flow reads its source record in these places, and only these:

- the mapping's rules and ``when:`` (the mapping compiler lists their ``source.X`` paths
  statically, with aliases: ``CompiledMapping.source_fields``);
- the key fields other flows find its records by (``xref.<entity>(v, by=Field)``:
  ``FlowPlan.key_fields``, remembered by the worker, engine/lookups.py);
- its ``hold:`` expressions (``source.X`` in ``when``, ``reason``, ``release_when``,
  related ids, the flag's id and values) and, when the flag is written onto the source
  record itself, the flag's fields (their current values tell whether a write is needed).

Echo hashes and digests are taken over the *mapped* payload (engine/echo.py), not over the
source record, so reading fewer fields changes none of them. Deletes, dependencies and
recon read nothing else of the record. The record's id, version and stamp are the
connector's own business (spi/connector.py, "Field lists").

When anything is not known statically (a bare ``source`` in an expression, a mapper that
does not list its fields) the answer is None: every field.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Collection, Iterable

from erpbridge.engine.hold_plan import HoldPlan
from erpbridge.mapping.aliases import Aliases
from erpbridge.mapping.scoped import ScopedExpression

__all__ = ["fields_kwargs", "flow_source_fields", "hold_source_fields"]


def hold_source_fields(hold: HoldPlan) -> frozenset[str] | None:
    """The source fields a ``hold:`` reads (None: the whole record)."""
    expressions: list[ScopedExpression | None] = [
        hold.when,
        hold.reason,
        hold.release_when,
        *(r.id for r in hold.related),
    ]
    names: set[str] = set()
    if hold.flag is not None:
        flag = hold.flag
        expressions += [flag.id, *(e for _, e in flag.set), *(e for _, e in flag.clear)]
        if flag.on_source:  # the record shows whether the flag is already as wanted
            names.update(name for name, _ in (*flag.set, *flag.clear))
    for expr in expressions:
        if expr is None:
            continue
        if "source" in expr.whole_roots:
            return None
        for ref, _pos in expr.paths:
            if ref.root != "scope" or not ref.steps or ref.steps[0] != "source":
                continue
            if len(ref.steps) < 2 or not isinstance(ref.steps[1], str):
                return None  # the scope's source as a whole, or by position
            names.add(ref.steps[1])
    return frozenset(names)


def flow_source_fields(
    mapped: Collection[str] | None,
    key_fields: Iterable[str],
    hold: HoldPlan | None,
    aliases: Aliases,
) -> frozenset[str] | None:
    """Every top-level source field a flow uses, with aliases; None: every field.

    Args:
        mapped: what the mapping reads (``CompiledMapping.source_fields``); None when
            not known statically.
        key_fields: the fields other flows find the flow's records by.
        hold: the flow's compiled hold, if any.
        aliases: the project's field aliases (a name may be read under any of them).
    """
    if mapped is None:
        return None
    names = set(mapped) | set(key_fields)
    if hold is not None:
        held = hold_source_fields(hold)
        if held is None:
            return None
        names |= held
    for name in list(names):
        names.update(aliases.others(name))
    return frozenset(names)


@functools.lru_cache(maxsize=256)
def _takes_fields(function: Callable[..., object]) -> bool:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):  # a builtin or an odd callable: do not guess
        return False
    return any(p.name == "fields" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def fields_kwargs(
    method: Callable[..., object], fields: Collection[str] | None
) -> dict[str, Collection[str]]:
    """``{"fields": fields}`` for a connector method that takes them, else ``{}``.

    A connector written before the field list (a plugin) has no ``fields`` parameter: it
    is called as before and returns every field, which the contract allows.
    """
    if fields is None:
        return {}
    function = getattr(method, "__func__", method)
    try:
        takes = _takes_fields(function)
    except TypeError:  # unhashable callable
        takes = False
    return {"fields": fields} if takes else {}
