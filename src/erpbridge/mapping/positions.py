"""Where each rule's expression starts in the project file, for errors that point there.

The loader knows where YAML values sit; these helpers turn that into the 1-based
:class:`SourcePos` of the expression text itself (stepping over an opening quote and into
a block scalar ``|``/``>``), keyed the way :class:`MappingSpec` ``positions`` expects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from erpbridge.mapping.types import SourcePos

__all__ = ["expression_start", "rule_positions", "yaml_positions", "yaml_value_pos"]

_PARTS = ("expr", "const", "default", "when", "each")

#: (path of keys below the map) -> 1-based (line, column) of that value, or None.
ValueAt = Callable[[tuple[str, ...]], "tuple[int, int] | None"]


def expression_start(
    path: str, line: int, column: int, lines: Sequence[str] | None = None
) -> SourcePos:
    """The expression's first character for a YAML value at 1-based (line, column).

    With the file's ``lines``, an opening quote is stepped over, and a block scalar's
    position becomes its first content line.
    """
    if lines is not None and 1 <= line <= len(lines):
        mark = lines[line - 1][column - 1 : column]
        if mark in ("'", '"'):
            return SourcePos(path, line, column + 1)
        if mark in ("|", ">") and line < len(lines):
            text = lines[line]
            return SourcePos(path, line + 1, len(text) - len(text.lstrip(" ")) + 1)
    return SourcePos(path, line, column)


def rule_positions(
    rules: Mapping[str, object],
    value_at: ValueAt,
    path: str,
    lines: Sequence[str] | None = None,
) -> dict[str, SourcePos]:
    """The ``positions`` of a :class:`MappingSpec` from any loader that knows positions.

    Args:
        rules: the flow's ``map:`` as plain data.
        value_at: gives the 1-based (line, column) of the value at a key path below the
            map, e.g. ``lambda p: marks.value_at(("flows", name, "map", *p))``.
        path: the file, as shown in messages.
        lines: the file's lines (to step over quotes and into block scalars).

    Returns:
        Target-field paths (``to_Item.Material`` inside a nested ``map:``) and, for
        dict-form rules, ``path@part`` (``Fax@expr``, ``to_Item@each``, ``Vip@when``).
    """
    out: dict[str, SourcePos] = {}
    _walk(rules, value_at, path, lines, (), "", out)
    return out


def _walk(
    rules: Mapping[str, object],
    value_at: ValueAt,
    path: str,
    lines: Sequence[str] | None,
    yaml_prefix: tuple[str, ...],
    target_prefix: str,
    out: dict[str, SourcePos],
) -> None:
    for key, value in rules.items():
        here = (*yaml_prefix, str(key))
        target = f"{target_prefix}{key}"
        found = value_at(here)
        if found is not None:
            out[target] = expression_start(path, found[0], found[1], lines)
        if not isinstance(value, Mapping):
            continue
        for part in _PARTS:
            if part in value:
                part_found = value_at((*here, part))
                if part_found is not None:
                    out[f"{target}@{part}"] = expression_start(path, *part_found, lines)
        nested = value.get("map")
        if isinstance(nested, Mapping):
            _walk(nested, value_at, path, lines, (*here, "map"), f"{target}.", out)


def _ruamel_value_at(root: Mapping[object, object]) -> ValueAt:
    def value_at(keys: tuple[str, ...]) -> tuple[int, int] | None:
        node: object = root
        for key in keys[:-1]:
            if not isinstance(node, Mapping) or key not in node:
                return None
            node = node[key]
        try:
            line, col = node.lc.value(keys[-1])  # type: ignore[attr-defined]
        except (AttributeError, KeyError, TypeError, IndexError):
            return None
        return int(line) + 1, int(col) + 1

    return value_at


def yaml_value_pos(
    node: Mapping[object, object], key: object, path: str, lines: Sequence[str] | None = None
) -> SourcePos | None:
    """Where the value of ``node[key]`` starts in a ruamel round-trip document.

    Args:
        node: a ruamel ``CommentedMap`` (any mapping with ``lc.value(key)``).
        path: the file, as shown in messages.
        lines: the file's lines; with them, quotes and block scalars are stepped over.
    """
    found = _ruamel_value_at(node)((str(key),))
    return None if found is None else expression_start(path, found[0], found[1], lines)


def yaml_positions(
    rules: Mapping[object, object], path: str, lines: Sequence[str] | None = None
) -> dict[str, SourcePos]:
    """:func:`rule_positions` for a ``map:`` loaded with ruamel in round-trip mode."""
    plain = {str(k): v for k, v in rules.items()}
    return rule_positions(plain, _ruamel_value_at(rules), path, lines)
