"""Value tables: code lists (客户分类, 税码, 单位, sales org …) inline in YAML or in CSV.

A table maps a source code to a target code. Keys are compared as text (``1`` and
``"1"`` are the same key). Lookups are one dict access at run time.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from erpbridge.mapping.functions.strings import text_of
from erpbridge.spi.errors import ConfigError

__all__ = ["NO_DEFAULT", "ValueTable", "load_table", "load_tables", "table_key"]


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


#: a table (or call) without a default.
NO_DEFAULT: Final = _NoDefault()

_STRUCTURED_KEYS = frozenset({"values", "file", "default", "strict", "key", "value", "encoding"})
MAX_TABLE_ROWS = 200_000


def table_key(value: object) -> str:
    """The text form under which a value is looked up (``1`` -> ``"1"``)."""
    return value if type(value) is str else text_of(value)


@dataclass(frozen=True, slots=True)
class ValueTable:
    """A named code table.

    Attributes:
        name: how ``table("name", …)`` refers to it.
        values: key (as text) -> target value.
        default: the value for keys not in the table; ``NO_DEFAULT`` for none.
        strict: an unknown key is an error (and defaults are refused). Default False.
        origin: where the table came from (a CSV path or ``inline``), for messages.
    """

    name: str
    values: Mapping[str, object]
    default: object = NO_DEFAULT
    strict: bool = False
    origin: str = "inline"
    _reverse: dict[str, str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", {table_key(k): v for k, v in self.values.items()})
        if self.strict and self.default is not NO_DEFAULT:
            raise ConfigError(f"table {self.name!r} is strict and cannot have a default")

    def reversed_values(self) -> dict[str, str]:
        """value (as text) -> key, for ``reverse=true``.

        Raises:
            ValueError: two keys share one value, so the reverse is ambiguous.
        """
        if self._reverse is None:
            reverse: dict[str, str] = {}
            for key, value in self.values.items():
                text = table_key(value)
                if text in reverse:
                    raise ValueError(
                        f"table {self.name!r} maps both {reverse[text]!r} and {key!r} to "
                        f"{text!r}, so it cannot be read in reverse"
                    )
                reverse[text] = key
            object.__setattr__(self, "_reverse", reverse)
        assert self._reverse is not None  # noqa: S101  # set just above
        return self._reverse

    def fingerprint(self) -> object:
        """A JSON-able form of the content, for the mapping version hash."""
        default = None if self.default is NO_DEFAULT else text_of_safe(self.default)
        return {
            "values": {k: text_of_safe(v) for k, v in sorted(self.values.items())},
            "default": default,
            "has_default": self.default is not NO_DEFAULT,
            "strict": self.strict,
        }

    @classmethod
    def from_csv(
        cls,
        name: str,
        path: Path,
        *,
        key: str | None = None,
        value: str | None = None,
        default: object = NO_DEFAULT,
        strict: bool = False,
        encoding: str = "utf-8-sig",
    ) -> ValueTable:
        """Read a two-column (or wider) CSV with a header row; Excel's BOM is accepted.

        Args:
            key: the key column (default: the first column).
            value: the value column (default: the second column).

        Raises:
            ConfigError: unreadable file, unknown columns, or a key given twice.
        """
        shown = str(path)
        try:
            with path.open(encoding=encoding, newline="") as handle:
                reader = csv.reader(handle)
                header = next(reader, None)
                if header is None or len(header) < 2:
                    raise ConfigError(f"table {name!r}: needs a header and two columns", path=shown)
                k_col = _column(header, key, 0, name, shown)
                v_col = _column(header, value, 1, name, shown)
                values: dict[str, object] = {}
                for row_no, row in enumerate(reader, start=2):
                    if not any(cell.strip() for cell in row):
                        continue
                    if row_no > MAX_TABLE_ROWS:
                        raise ConfigError(f"table {name!r}: more than {MAX_TABLE_ROWS} rows")
                    if max(k_col, v_col) >= len(row):
                        raise ConfigError(f"table {name!r}: short row", path=shown, line=row_no)
                    k = row[k_col].strip()
                    if k in values:
                        raise ConfigError(
                            f"table {name!r}: key {k!r} appears twice", path=shown, line=row_no
                        )
                    values[k] = row[v_col].strip()
        except OSError as exc:
            raise ConfigError(f"table {name!r}: cannot read {shown} ({exc.strerror})") from exc
        except (UnicodeDecodeError, csv.Error) as exc:
            raise ConfigError(f"table {name!r}: {shown} is not a {encoding} CSV ({exc})") from exc
        return cls(name, values, default=default, strict=strict, origin=shown)


def text_of_safe(value: object) -> object:
    """A value as JSON-able text or scalar."""
    if value is None or isinstance(value, bool | int | str):
        return value
    return text_of(value)


def _column(header: list[str], wanted: str | None, index: int, name: str, shown: str) -> int:
    cleaned = [h.strip() for h in header]
    if wanted is None:
        return index
    if wanted not in cleaned:
        raise ConfigError(
            f"table {name!r}: no column {wanted!r} (columns: {', '.join(cleaned)})", path=shown
        )
    return cleaned.index(wanted)


def load_table(name: str, raw: object, base_dir: Path, *, where: str | None = None) -> ValueTable:
    """Build a table from its YAML form.

    Forms::

        sales_org: {East: "1010", South: "1020"}              # plain key: value
        sales_org: {values: {East: "1010"}, default: "1000"}  # with default / strict
        uom: {file: tables/uom.csv, key: crm, value: erp, strict: true}

    Args:
        base_dir: relative CSV paths are taken from here (the project file's folder).
        where: the project file, for error messages.

    Raises:
        ConfigError: a form that is none of these, or a bad CSV.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"table {name!r} must be a mapping of codes", path=where, field=name)
    keys = {str(k) for k in raw}
    if not keys & {"values", "file"}:
        return ValueTable(name, {table_key(k): v for k, v in raw.items()}, origin="inline")
    unknown = keys - _STRUCTURED_KEYS
    if unknown:
        raise ConfigError(
            f"table {name!r}: unknown keys {sorted(unknown)} (allowed: "
            f"{', '.join(sorted(_STRUCTURED_KEYS))})",
            path=where,
            field=name,
        )
    default = raw.get("default", NO_DEFAULT)
    strict = raw.get("strict", False)
    if not isinstance(strict, bool):
        raise ConfigError(f"table {name!r}: strict must be true or false", path=where, field=name)
    if "file" in raw:
        if "values" in raw:
            raise ConfigError(f"table {name!r}: give values or file, not both", path=where)
        path = Path(str(raw["file"]))
        path = path if path.is_absolute() else base_dir / path
        return ValueTable.from_csv(
            name,
            path,
            key=_opt_str(raw.get("key")),
            value=_opt_str(raw.get("value")),
            default=default,
            strict=strict,
            encoding=str(raw.get("encoding", "utf-8-sig")),
        )
    values = raw["values"]
    if not isinstance(values, Mapping):
        raise ConfigError(f"table {name!r}: values must be a mapping", path=where, field=name)
    return ValueTable(name, values, default=default, strict=strict)


def load_tables(
    raw: Mapping[str, object], base_dir: Path, *, where: str | None = None
) -> dict[str, ValueTable]:
    """Every table of a project's ``tables:`` section (see :func:`load_table`)."""
    return {
        str(name): load_table(str(name), spec, base_dir, where=where) for name, spec in raw.items()
    }


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)
