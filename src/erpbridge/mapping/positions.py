"""Source positions of rules in a YAML project file loaded with ruamel (round-trip mode).

ruamel keeps the 0-based line and column of every mapping value (``node.lc``); these
helpers turn them into the 1-based :class:`SourcePos` of the expression text itself,
stepping over an opening quote and into a block scalar (``|``, ``>``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from erpbridge.mapping.types import SourcePos

__all__ = ["yaml_positions", "yaml_value_pos"]

_PARTS = ("expr", "const", "default", "when", "each")


def yaml_value_pos(
    node: Mapping[object, object], key: object, path: str, lines: Sequence[str] | None = None
) -> SourcePos | None:
    """Where the value of ``node[key]`` starts, or None when the loader kept no position.

    Args:
        node: a ruamel ``CommentedMap`` (any mapping with ``lc.value(key)``).
        path: the file, as shown in messages.
        lines: the file's lines; with them, quotes and block scalars are stepped over.
    """
    lc = getattr(node, "lc", None)
    try:
        line, col = lc.value(key)  # type: ignore[union-attr]
    except (AttributeError, KeyError, TypeError, IndexError):
        return None
    if lines is not None and 0 <= line < len(lines):
        mark = lines[line][col : col + 1]
        if mark in ("'", '"'):
            col += 1
        elif mark in ("|", ">") and line + 1 < len(lines):
            text = lines[line + 1]
            return SourcePos(path, line + 2, len(text) - len(text.lstrip(" ")) + 1)
    return SourcePos(path, int(line) + 1, int(col) + 1)


def yaml_positions(
    rules: Mapping[object, object],
    path: str,
    lines: Sequence[str] | None = None,
    *,
    prefix: str = "",
) -> dict[str, SourcePos]:
    """The ``positions`` of a :class:`MappingSpec` for a ruamel-loaded ``map:``.

    Keys are target-field paths (``to_Item.Material`` inside a nested ``map:``) and, for
    dict-form rules, ``path@part`` (``Fax@expr``, ``to_Item@each``, ``Vip@when``).
    """
    out: dict[str, SourcePos] = {}
    for key, value in rules.items():
        key_path = f"{prefix}{key}"
        pos = yaml_value_pos(rules, key, path, lines)
        if pos is not None:
            out[key_path] = pos
        if not isinstance(value, Mapping):
            continue
        for part in _PARTS:
            if part in value:
                part_pos = yaml_value_pos(value, part, path, lines)
                if part_pos is not None:
                    out[f"{key_path}@{part}"] = part_pos
        nested = value.get("map")
        if isinstance(nested, Mapping):
            out.update(yaml_positions(nested, path, lines, prefix=f"{key_path}."))
    return out
