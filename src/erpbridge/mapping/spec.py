"""The input of the compiler: a flow's mapping as the project file gives it.

:class:`MappingSpec` does not depend on the config models: the loader hands over the raw
``map:`` dict, the ``when:`` text, the value tables, the alias tables and where each rule
sits in the file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, time
from decimal import Decimal

from erpbridge.mapping.aliases import Aliases
from erpbridge.mapping.tables import ValueTable
from erpbridge.mapping.types import SourcePos

__all__ = ["LANGUAGE_VERSION", "MappingSpec"]

#: bumped when the meaning of an existing mapping changes; part of every version hash.
LANGUAGE_VERSION = 1


@dataclass(frozen=True)
class MappingSpec:
    """One flow's mapping, ready to compile.

    Attributes:
        flow: the flow's name (``orders-to-sap``), used in every error.
        rules: the raw ``map:`` dict: target field -> rule. A rule is an expression
            string; a YAML number, boolean or null (a constant); or a dict with ``expr``
            or ``const``, and optionally ``default`` (a constant used when the value is
            blank or absent), ``required: true`` and ``when`` (the field is left out
            when false); or a nested-lines dict ``{each: <list expr>, map: {...},
            when: <line filter>}``.
        when: the flow's filter expression, or None to accept every record.
        tables: value tables by name (see :func:`erpbridge.mapping.load_tables`).
        aliases: source field aliases (labels <-> wire names).
        target_aliases: target labels -> wire names; a rule keyed by a label is written
            under the wire name.
        positions: where each rule starts in the project file, keyed by target-field
            path (``TotalNetAmount``, ``to_Item.Material``); for a part of a dict-form
            rule, ``path@part`` (``to_Item@each``, ``Phone@when``) is looked up first.
        when_pos: where the flow's ``when:`` expression starts.
        xref_entities: the xref entities the project declares; None accepts any.
        xref_key_entities: the entities this flow may look up by natural key
            (``xref.customer(source.Code, by="Code")``): those a flow keeps from this
            flow's source connection. None accepts any.
        xref_key_fields: entity -> the fields (names and labels) of the source object
            that entity comes from, to check ``by=`` against (``validate --online``).
            None, or an entity absent from it, accepts any field.
    """

    flow: str
    rules: Mapping[str, object]
    when: str | None = None
    tables: Mapping[str, ValueTable] = field(default_factory=dict)
    aliases: Aliases = field(default_factory=Aliases)
    target_aliases: Aliases = field(default_factory=Aliases)
    positions: Mapping[str, SourcePos] = field(default_factory=dict)
    when_pos: SourcePos | None = None
    xref_entities: Collection[str] | None = None
    xref_key_entities: Collection[str] | None = None
    xref_key_fields: Mapping[str, Collection[str]] | None = None

    def version(self) -> str:
        """A stable hash of what the mapping means (positions and file names excluded).

        Two specs with the same rules, filter, tables and aliases give the same version on
        any machine and Python version; the engine stores it with each job's payload.
        """
        content = {
            "language": LANGUAGE_VERSION,
            "flow": self.flow,
            "rules": _jsonable(self.rules),
            "when": self.when,
            "tables": {n: t.fingerprint() for n, t in sorted(self.tables.items())},
            "aliases": self.aliases.pairs(),
            "target_aliases": self.target_aliases.pairs(),
        }
        text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _jsonable(value: object) -> object:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal | date | time):
        return {"$": type(value).__name__, "v": str(value)}
    if isinstance(value, float):
        return {"$": "float", "v": repr(value)}
    if value is None or isinstance(value, bool | int | str):
        return value
    return {"$": type(value).__name__, "v": repr(value)}
