"""Load YAML into plain Python values while remembering where each key and value sits.

ruamel.yaml's round-trip loader keeps line/column marks on its containers; we copy the
document into plain dicts and lists (so nothing downstream depends on ruamel types) and
keep a :class:`Marks` index from a path (tuple of keys and list indexes) to its position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from erpbridge.spi.errors import ConfigError

__all__ = ["Marks", "Path_", "YamlDocument", "load_yaml", "load_yaml_text"]

#: a path into a document: mapping keys and list indexes.
Path_ = tuple[str | int, ...]

#: Files larger than this are refused before parsing (a project file is a few hundred KB).
MAX_BYTES = 5 * 1024 * 1024


@dataclass(slots=True)
class Marks:
    """Positions (1-based line and column) of keys and values in one file."""

    path: str
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def locate(self, loc: Sequence[str | int]) -> tuple[int, int] | None:
        """Best position for ``loc``: the key itself, else its value, else the nearest parent."""
        probe: Path_ = tuple(loc)
        while True:
            if probe in self.keys:
                return self.keys[probe]
            if probe in self.values:
                return self.values[probe]
            if not probe:
                return None
            probe = probe[:-1]

    def value_at(self, loc: Sequence[str | int]) -> tuple[int, int] | None:
        """Position of the value at ``loc`` (falls back like :meth:`locate`)."""
        probe: Path_ = tuple(loc)
        if probe in self.values:
            return self.values[probe]
        return self.locate(probe)


@dataclass(slots=True)
class YamlDocument:
    """A loaded document: plain data plus its marks."""

    data: Any
    marks: Marks


def _plain(node: Any, path: Path_, marks: Marks) -> Any:
    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for key in node:
            if not isinstance(key, str | int | float | bool) or isinstance(key, bool):
                line, col = node.lc.line + 1, node.lc.col + 1
                raise ConfigError(
                    "mapping keys must be plain scalars", path=marks.path, line=line, column=col
                )
            child = (*path, str(key))
            kline, kcol = node.lc.key(key)
            vline, vcol = node.lc.value(key)
            marks.keys[child] = (kline + 1, kcol + 1)
            marks.values[child] = (vline + 1, vcol + 1)
            out[str(key)] = _plain(node[key], child, marks)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, item in enumerate(node):
            child = (*path, index)
            line, col = node.lc.item(index)
            marks.values[child] = (line + 1, col + 1)
            items.append(_plain(item, child, marks))
        return items
    if isinstance(node, str):
        return str(node)  # drop ruamel's scalar string subclasses
    return node


def load_yaml_text(text: str, path: str = "<string>") -> YamlDocument:
    """Parse ``text``; any YAML error becomes a :class:`ConfigError` with its line and column."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    marks = Marks(path=path)
    try:
        raw = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        if exc.context and exc.problem and "duplicate key" in exc.problem:
            problem = exc.problem
        raise ConfigError(
            f"invalid YAML: {problem}",
            path=path,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from exc
    except YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", path=path) from exc
    marks.values[()] = (1, 1)
    return YamlDocument(data=_plain(raw, (), marks), marks=marks)


def load_yaml(path: Path) -> YamlDocument:
    """Read and parse a YAML file (UTF-8, with or without BOM)."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ConfigError(f"file is {size} bytes; the limit is {MAX_BYTES}", path=str(path))
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise ConfigError("file not found", path=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"not UTF-8 text (byte {exc.start}): save the file as UTF-8", path=str(path)
        ) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path=str(path)) from exc
    return load_yaml_text(text, str(path))
