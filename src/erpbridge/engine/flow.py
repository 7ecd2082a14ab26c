"""What the worker needs to know of one flow, prepared once per run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from erpbridge.config.model import FlowSpec
from erpbridge.engine.hold_plan import HoldPlan
from erpbridge.engine.retry import RetryPolicy

__all__ = ["FlowMapper", "FlowPlan"]


class FlowMapper(Protocol):
    """A compiled mapping as the engine uses it (see erpbridge.mapping)."""

    def version(self) -> str:
        """Stable hash of the mapping, stored with each payload."""
        ...

    def accepts(self, source: Mapping[str, object]) -> bool:
        """The flow's ``when:`` filter."""
        ...

    def xref_requests(self, source: Mapping[str, object]) -> set[tuple[str, str]]:
        """(entity, source id) pairs the mapping will look up for this record."""
        ...

    def apply(
        self, source: Mapping[str, object], xrefs: Mapping[tuple[str, str], str | None]
    ) -> dict[str, object]:
        """The target record (raises MappingError: MissingReference for an xref to wait
        for, SkippedReference for a lookup with ``missing="skip"`` that has no pair)."""
        ...


@dataclass(frozen=True, slots=True)
class FlowPlan:
    """One flow, ready to run.

    Attributes:
        name: the flow's name.
        spec: its validated spec.
        mapper: its compiled mapping.
        policy: its retry policy.
        entity: the xref entity the flow maintains (its ``entity:``, else its name).
        batch_size: records per write call.
        hold: its compiled ``hold:`` check, or None.
        key_fields: source fields other flows find this flow's records by
            (``xref.<entity>(key, by=field)``); the worker remembers their values.
        source_fields: the top-level source fields the flow uses (mapping, ``when:``,
            key fields, hold), handed to the source's ``read_changes`` and ``get``;
            None asks for every field (engine/source_fields.py).
        content_fields: the same without the fields only ``when:`` reads: what a change's
            content digest covers, with the filter's answer (engine/unchanged.py).
    """

    name: str
    spec: FlowSpec
    mapper: FlowMapper
    policy: RetryPolicy
    entity: str
    batch_size: int
    hold: HoldPlan | None = None
    key_fields: tuple[str, ...] = ()
    source_fields: frozenset[str] | None = None
    content_fields: frozenset[str] | None = None

    @property
    def source_connection(self) -> str:
        """Name of the connection the flow reads."""
        return self.spec.source.connection

    @property
    def target_connection(self) -> str:
        """Name of the connection the flow writes."""
        return self.spec.target.connection

    @property
    def xref_key(self) -> tuple[str, str, str]:
        """(entity, source connection, target connection) of the flow's own xref."""
        return (self.entity, self.source_connection, self.target_connection)
