"""Field aliases: Chinese and English labels of one field (客户联系人 ↔ ContactName).

A mapping may name a source field by any of its aliases; when the record does not hold
the name as written, the other names are tried. On the target side, a label is written
under the field's wire name. Build one from a table in the project file, or from the
labels that ``describe()`` returns (:meth:`Aliases.from_schema`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from erpbridge.spi.schema import ObjectSchema

__all__ = ["Aliases"]


class Aliases:
    """Groups of names that mean the same field.

    Args:
        pairs: ``label -> wire name`` pairs (a mapping or an iterable of pairs). A name
            may appear in several pairs; all the names linked this way form one group.
    """

    __slots__ = ("_canonical", "_groups")

    def __init__(self, pairs: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        items = list(pairs.items()) if isinstance(pairs, Mapping) else list(pairs)
        self._canonical: dict[str, str] = {}
        parent: dict[str, str] = {}

        def root(name: str) -> str:
            while parent.setdefault(name, name) != name:
                name = parent[name]
            return name

        for label, name in items:
            label, name = str(label), str(name)
            if label != name:
                self._canonical.setdefault(label, name)
            parent[root(label)] = root(name)
        groups: dict[str, list[str]] = {}
        for name in parent:
            groups.setdefault(root(name), []).append(name)
        self._groups: dict[str, tuple[str, ...]] = {
            name: tuple(group) for group in groups.values() for name in group
        }

    @classmethod
    def from_schema(cls, schema: ObjectSchema) -> Aliases:
        """Aliases from a described object: each field's label -> its wire name."""
        return cls((f.label, f.name) for f in schema.fields if f.label and f.label != f.name)

    def merged(self, other: Aliases) -> Aliases:
        """One table holding both tables' pairs (this one's canonical names win)."""
        return Aliases(list(self.pairs()) + list(other.pairs()))

    def pairs(self) -> list[tuple[str, str]]:
        """Every (label, wire name) pair, plus group links, sorted (for hashing)."""
        out = set(self._canonical.items())
        for group in self._groups.values():
            out.update((group[0], n) for n in group[1:])
        return sorted(out)

    def others(self, name: str) -> tuple[str, ...]:
        """The other names of ``name``'s field, in a stable order; () when none."""
        group = self._groups.get(name)
        if not group:
            return ()
        return tuple(n for n in group if n != name)

    def canonical(self, name: str) -> str:
        """The wire name for ``name`` (itself when it is not a label)."""
        return self._canonical.get(name, name)

    def names(self) -> frozenset[str]:
        """Every name that appears in the table."""
        return frozenset(self._groups)

    def __bool__(self) -> bool:
        return bool(self._groups)

    def __repr__(self) -> str:
        return f"Aliases({dict(self._canonical)!r})"
