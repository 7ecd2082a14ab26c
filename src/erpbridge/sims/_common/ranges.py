"""A sorted index of one field, for reads from a value on (a poll's change stamp).

Every simulator answers an incremental poll (records changed since a stamp) the way a
database reads a range of an indexed column: it keeps the field's values in order, each with
its record's key, moves a record when a write changes the value, and reads the keys from the
poll's lower bound on. A steady poll then costs what changed, not the size of the table.
What counts as an indexable value (text, an aware datetime, case-folded or not) and in which
order the keys come back are each simulator's own; this module only keeps the order.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

__all__ = ["RangeIndex"]

V = TypeVar("V")
K = TypeVar("K")


class RangeIndex(Generic[V, K]):
    """(value, key) pairs in order: values comparable with each other, keys too (they break
    ties). A record whose value is not indexable is simply not in it (None to :meth:`move`).
    """

    __slots__ = ("_entries",)

    def __init__(self, entries: Iterable[tuple[V, K]] = ()) -> None:
        self._entries: list[tuple[Any, Any]] = sorted(entries)

    def move(self, key: K, before: V | None, after: V | None) -> None:
        """Record ``key``'s value went from ``before`` to ``after`` (None: not indexed)."""
        entries = self._entries
        if before is not None:
            entry = (before, key)
            at = bisect.bisect_left(entries, entry)
            if at < len(entries) and entries[at] == entry:
                del entries[at]
        if after is not None:
            bisect.insort(entries, (after, key))

    def keys_from(self, floor: V) -> list[K]:
        """The keys of the records whose value is at or after ``floor``, in value order."""
        value: Any = floor  # comparable with the values, as the class says
        at = bisect.bisect_left(self._entries, value, key=_value)
        return [key for _, key in self._entries[at:]]


def _value(entry: tuple[Any, Any]) -> Any:
    return entry[0]
