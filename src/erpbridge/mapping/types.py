"""Shared value types of the mapping language: source positions, limits, static kinds."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from erpbridge.spi.schema import FieldType

__all__ = [
    "MAX_DEPTH",
    "MAX_EXPRESSION_CHARS",
    "MAX_LINES_PER_LIST",
    "MAX_NODES",
    "MAX_PATTERN_CHARS",
    "MAX_RULES",
    "MAX_TEXT_CHARS",
    "Evaluator",
    "FieldType",
    "Record",
    "SourcePos",
    "XrefMap",
    "keyed_entity",
    "split_keyed_entity",
]

#: a source record's fields (``Record.fields``); nested lines are lists of such mappings.
Record = Mapping[str, object]
#: resolved xrefs for a batch: (entity, source id) -> target id, or None when unknown.
XrefMap = Mapping[tuple[str, str], "str | None"]
#: between an entity and a key field in the name of a lookup by natural key
#: (``customer@CustomerCode``); entity names cannot contain it (config ``Name``, identifiers).
KEY_MARK = "@"


def keyed_entity(entity: str, key_field: str | None) -> str:
    """The lookup name of ``xref.<entity>(value, by=key_field)``; ``entity`` without a key.

    An xref request or an :data:`XrefMap` key is ``(lookup name, value)``: for a lookup by
    id the name is the entity and the value a source id; by natural key the name is
    ``entity@key_field`` and the value the key (``("customer@客户编号", "C-001")``).
    """
    return entity if not key_field else f"{entity}{KEY_MARK}{key_field}"


def split_keyed_entity(name: str) -> tuple[str, str | None]:
    """(entity, key field or None) of a lookup name made by :func:`keyed_entity`."""
    entity, mark, key_field = name.partition(KEY_MARK)
    return (entity, key_field) if mark else (name, None)


#: one compiled expression: (source record, current line or None, xrefs) -> value.
Evaluator = Callable[[Record, "Record | None", XrefMap], object]

# Limits checked at load: a mapping beyond them is refused, so a worker never meets
# an expression that is slow to compile or to run (issue 5, "Bad input").
MAX_EXPRESSION_CHARS = 4000  # one expression's text
MAX_DEPTH = 32  # nesting of the expression tree (brackets, calls, operators)
MAX_NODES = 600  # syntax nodes in one expression
MAX_RULES = 2000  # target fields in one mapping, nested lines included
MAX_PATTERN_CHARS = 200  # a regular expression literal
MAX_TEXT_CHARS = 100_000  # longest string a regex or pad function will work on
MAX_LINES_PER_LIST = 100_000  # nested lines in one record that each() will walk


@dataclass(frozen=True, slots=True)
class SourcePos:
    """Where an expression's text starts in a project file.

    Attributes:
        path: the file, as it should be shown to a person.
        line: 1-based line of the expression's first character.
        column: 1-based column of the expression's first character (for a quoted YAML
            scalar, the character after the opening quote).
    """

    path: str
    line: int
    column: int

    def at(self, line_offset: int, column_offset: int) -> SourcePos:
        """The position of the character at (line_offset, column_offset) in the expression.

        Both offsets are 0-based. Later lines come from a YAML block scalar (``|``), whose
        lines all share the first line's indentation, so the column adds to this one's.
        """
        return SourcePos(self.path, self.line + line_offset, self.column + column_offset)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


#: static kinds are the portable field types of the spi (``describe()`` speaks them too).
Kind = FieldType
