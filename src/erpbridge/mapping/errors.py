"""Errors and problems of the mapping language.

Every error is a :class:`erpbridge.spi.errors.MappingError`, so the engine needs one
``except`` to send a job to the dead letters. Two it treats apart:
:class:`MissingReference` (the job waits, is parked, until the referenced record is
synced) and :class:`SkippedReference` (a lookup written ``missing="skip"`` found no target
id: the record is skipped, as when the flow's ``when:`` is false).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from erpbridge.mapping.types import SourcePos
from erpbridge.spi.errors import MappingError

__all__ = [
    "FieldMappingError",
    "MappingCompileError",
    "MappingError",
    "MissingReference",
    "Problem",
    "Severity",
    "SkippedReference",
    "lookup_text",
]

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong (or doubtful) with a mapping, found at load or by ``validate``.

    Attributes:
        severity: ``"error"`` refuses the mapping; ``"warning"`` is shown but allowed.
        message: what is wrong, with a did-you-mean where one is known.
        flow: the flow's name.
        target_field: the target field path (``to_Item.Material``), or ``when``.
        expression: the expression text concerned, when there is one.
        pos: file, line and column of the offending part, when known.
    """

    severity: Severity
    message: str
    flow: str = ""
    target_field: str = ""
    expression: str | None = None
    pos: SourcePos | None = None

    def __str__(self) -> str:
        where = f"{self.pos}: " if self.pos else ""
        prefix = " › ".join(p for p in (self.flow, self.target_field) if p)
        level = "" if self.severity == "error" else "warning: "
        return f"{where}{level}{prefix}: {self.message}" if prefix else f"{where}{self.message}"


class MappingCompileError(MappingError):
    """A mapping that cannot be compiled; ``problems`` lists every error found."""

    def __init__(self, problems: Sequence[Problem], *, flow: str | None = None) -> None:
        self.problems = tuple(problems)
        first = self.problems[0] if self.problems else None
        self.pos = first.pos if first else None
        super().__init__(
            "\n".join(str(p) for p in self.problems) or "mapping refused",
            flow=None,  # each problem line names the flow already
            target_field=None,
            expression=first.expression if first else None,
        )
        self.flow = flow
        self.target_field = first.target_field if first else None


class FieldMappingError(MappingError):
    """One record could not be mapped: names flow, target field, expression and value.

    ``str()`` reads like ``orders-to-sap › TotalNetAmount: money(): "12,3x" is not a
    number (source.TotalAmount)``.

    Attributes:
        reason: the message without the flow and field prefix.
        value: the source value that broke the expression (None when not one value).
        source: the source expression that produced ``value`` (``source.TotalAmount``).
    """

    def __init__(
        self,
        reason: str,
        *,
        value: object = None,
        source: str | None = None,
        flow: str | None = None,
        target_field: str | None = None,
        expression: str | None = None,
    ) -> None:
        super().__init__(reason, flow=flow, target_field=target_field, expression=expression)
        self.reason = reason
        self.value = value
        self.source = source

    def locate(self, flow: str, target_field: str, expression: str | None) -> None:
        """Fill in where the error happened (used while it travels up to ``apply``)."""
        self.flow = flow
        if self.target_field:
            sep = "" if self.target_field.startswith("[") else "."
            self.target_field = f"{target_field}{sep}{self.target_field}"
        else:
            self.target_field = target_field
        if self.expression is None:
            self.expression = expression

    def nest(self, prefix: str) -> None:
        """Prefix the target field with a nested-line step such as ``[2].Material``."""
        if self.target_field:
            sep = "" if self.target_field.startswith("[") else "."
            self.target_field = f"{prefix}{sep}{self.target_field}"
        else:
            self.target_field = prefix

    def __str__(self) -> str:
        prefix = " › ".join(p for p in (self.flow, self.target_field) if p)
        return f"{prefix}: {self.reason}" if prefix else self.reason


def lookup_text(entity: str, source_id: str, key_field: str | None) -> str:
    """How a lookup is named in messages: ``xref.customer('C-1', by='Code')``."""
    if key_field is None:
        return f"xref.{entity}({source_id!r})"
    return f"xref.{entity}({source_id!r}, by={key_field!r})"


class MissingReference(FieldMappingError):  # noqa: N818  # the name the engine uses
    """An xref lookup found no target id yet; the engine parks the job until it exists.

    Attributes:
        entity: the xref entity (``customer``).
        source_id: the source id that has no target id yet; for a lookup by natural key
            (``key_field`` set), the key value.
        key_field: the key field of ``xref.<entity>(key, by=...)``; None for a lookup by id.
        record_id: the referenced record's source id when known: ``source_id`` for a lookup
            by id; for a lookup by key, set by the engine once it found the record.
    """

    def __init__(
        self,
        entity: str,
        source_id: str,
        *,
        source: str | None = None,
        key_field: str | None = None,
        reason: str | None = None,
    ) -> None:
        call = lookup_text(entity, source_id, key_field)
        super().__init__(
            f"{call}: {reason or 'no target id yet (referenced record not synced)'}",
            value=source_id,
            source=source,
        )
        self.entity = entity
        self.source_id = source_id
        self.key_field = key_field
        self.record_id: str | None = source_id if key_field is None else None


class SkippedReference(FieldMappingError):  # noqa: N818  # not an error: a decision
    """A lookup written ``missing="skip"`` found no target id: the record is skipped.

    Not an error of the record: the engine ends the job like a record the flow's
    ``when:`` filters out (outcome ``filtered``, nothing written, nothing queued), with
    ``str()`` as the reason. Inside ``each`` it never reaches ``apply``'s caller: only
    that line is left out.

    Attributes:
        entity: the xref entity (``product``).
        source_id: the source id (or, with ``key_field``, the key value) that has no pair.
        key_field: the key field of ``xref.<entity>(key, by=...)``; None for a lookup by id.
    """

    def __init__(
        self,
        entity: str,
        source_id: str,
        *,
        source: str | None = None,
        key_field: str | None = None,
        reason: str | None = None,
    ) -> None:
        call = lookup_text(entity, source_id, key_field)
        why = f"{reason}; " if reason else ""
        super().__init__(
            f'{call} has no target: {why}skipped (missing="skip")', value=source_id, source=source
        )
        self.entity = entity
        self.source_id = source_id
        self.key_field = key_field
