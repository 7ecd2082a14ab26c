"""What a recon compares and how: normalised values, tolerances, and the classification of
one partition's keys (see :mod:`erpbridge.engine.recon_index` for the partitions).
"""

from __future__ import annotations

import enum
import pickle
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from erpbridge.engine.recon_index import Entry
from erpbridge.engine.snapshot import json_safe

__all__ = ["Difference", "DifferenceKind", "PartitionJoin", "amount_of", "normalise"]


class DifferenceKind(enum.StrEnum):
    """How one key differs between the sides."""

    MISSING_IN_TARGET = "missing_in_target"
    MISSING_IN_SOURCE = "missing_in_source"
    FIELD = "field"
    DUPLICATE_SOURCE = "duplicate_source"
    DUPLICATE_TARGET = "duplicate_target"
    UNMAPPABLE = "unmappable"
    BAD_RECORD = "bad_record"


@dataclass(frozen=True, slots=True)
class Difference:
    """One difference found by a run."""

    kind: DifferenceKind
    key: str
    field: str | None = None
    expected: Any = None
    actual: Any = None
    rule: str | None = None
    source_id: str | None = None
    amount: Decimal | None = None


_ODATA_DATE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d{4})?\)/$")
_ISO_MOMENT = re.compile(
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$"
)


def _moment(text: str) -> datetime | None:
    """An OData ``/Date(ms)/`` or ISO 8601 date/date-time as aware UTC (naive = UTC)."""
    match = _ODATA_DATE.match(text)
    if match:
        return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=UTC)
    if _ISO_MOMENT.match(text):
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


_NUMBER_START = frozenset("+-.0123456789")


def normalise(value: object) -> object:
    """The comparable form of a value: Decimal for numbers, aware UTC datetimes for dates
    and moments (ISO 8601 or OData ``/Date(ms)/``), trimmed text, None for blank.

    Text that cannot be a number or a date (it starts with a letter or a CJK character)
    returns on the first test.
    """
    if value is None:
        return None
    if type(value) is str:
        text = value.strip()
        if not text:
            return None
        first = text[0]
        if first == "/" or (first in _NUMBER_START or first.isdigit()):
            moment = _moment(text) if (first == "/" or "-" in text[1:] or ":" in text) else None
            if moment is not None:
                return moment.astimezone(UTC)
            try:
                number = Decimal(text.replace(",", ""))
            except InvalidOperation:
                return text
            return number.normalize() if number.is_finite() else text
        return text
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            return str(value)
        return number.normalize() if number.is_finite() else str(value)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    safe = json_safe(value)
    return safe if not isinstance(safe, str) else safe.strip() or None


def _equal(expected: object, actual: object, tolerance: Decimal | None) -> bool:
    a, b = normalise(expected), normalise(actual)
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return abs(a - b) <= (tolerance or Decimal(0))
    return a == b


def amount_of(value: object) -> Decimal | None:
    """``value`` as a Decimal amount, or None when it is not a number."""
    number = normalise(value)
    return number if isinstance(number, Decimal) else None


def _values(entry: Entry) -> tuple[Any, ...]:
    decoded: tuple[Any, ...] = pickle.loads(entry[2])  # noqa: S301 - our own private file
    return decoded


def _shown(value: object) -> object:
    return json_safe(value)


class PartitionJoin:
    """Classifies the keys of partitions, one at a time, with the run's rules.

    Args:
        names: the compared target fields, in order (the order of every entry's values).
        rules: target field -> the rule text that produces the expected value.
        tolerances: field -> allowed absolute difference for numbers.
        amount_field: the field whose differences are summed, if any.
        since_filtered: the source was read ``--since``: target-only keys are expected.
    """

    def __init__(
        self,
        names: Sequence[str],
        rules: Mapping[str, str],
        tolerances: Mapping[str, Decimal],
        amount_field: str | None,
        *,
        since_filtered: bool,
    ) -> None:
        self.names = list(names)
        self.rules = rules
        self.tolerances = tolerances
        self.amount_field = amount_field
        self.since_filtered = since_filtered
        self.matches = 0
        self.differences: list[Difference] = []

    def join(self, source: Iterable[Entry], target: Iterable[Entry]) -> None:
        """Classify every key of one partition (both sides' entries)."""
        sources: dict[str, Entry] = {}
        source_dups: dict[str, list[Entry]] = {}
        for entry in source:
            key = entry[0]
            if key in sources:
                source_dups.setdefault(key, [sources[key]]).append(entry)
            else:
                sources[key] = entry
        targets: dict[str, Entry] = {}
        target_counts: dict[str, int] = {}
        for entry in target:
            key = entry[0]
            if key in targets:
                target_counts[key] = target_counts.get(key, 1) + 1
            else:
                targets[key] = entry
        for key, first in sources.items():
            target_entry = targets.pop(key, None)
            if key in source_dups:
                self._add(
                    DifferenceKind.DUPLICATE_SOURCE, first, actual=[e[1] for e in source_dups[key]]
                )
            elif target_entry is None:
                expected = dict(zip(self.names, map(_shown, _values(first)), strict=True))
                self._add(DifferenceKind.MISSING_IN_TARGET, first, expected=expected)
            elif key in target_counts:
                self._add(DifferenceKind.DUPLICATE_TARGET, first, actual=target_counts[key])
            elif first[2] == target_entry[2]:
                self.matches += 1
            else:
                self._compare(first, target_entry)
        if not self.since_filtered:  # with --since, target records outside the window are expected
            for key, entry in targets.items():
                actual = dict(zip(self.names, map(_shown, _values(entry)), strict=True))
                self.differences.append(
                    Difference(
                        DifferenceKind.MISSING_IN_SOURCE,
                        key,
                        actual=actual,
                        amount=amount_of(entry[3]),
                    )
                )

    def _add(self, kind: DifferenceKind, first: Entry, **values: Any) -> None:
        self.differences.append(
            Difference(kind, first[0], source_id=first[1], amount=amount_of(first[3]), **values)
        )

    def _compare(self, source: Entry, target: Entry) -> None:
        wanted, got_values = _values(source), _values(target)
        if wanted == got_values:  # equal values pickled apart (one object used twice, say)
            self.matches += 1
            return
        found = False
        for name, want, got in zip(self.names, wanted, got_values, strict=True):
            if isinstance(want, list | dict) or _equal(want, got, self.tolerances.get(name)):
                continue  # nested lines are not compared field by field
            found = True
            diff_amount = None
            if name == self.amount_field:
                a, b = normalise(want), normalise(got)
                if isinstance(a, Decimal) and isinstance(b, Decimal):
                    diff_amount = abs(a - b)
            self.differences.append(
                Difference(
                    DifferenceKind.FIELD,
                    source[0],
                    name,
                    _shown(want),
                    _shown(got),
                    self.rules.get(name),
                    source[1],
                    diff_amount,
                )
            )
        self.matches += not found
