"""Shared helpers for the mapping tests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from erpbridge.mapping import CompiledMapping, MappingSpec, ValueTable, compile_mapping

FIXED_NOW = datetime(2024, 3, 5, 2, 0, tzinfo=UTC)


def compile_rules(
    rules: Mapping[str, object],
    *,
    when: str | None = None,
    tables: Mapping[str, ValueTable] | None = None,
    flow: str = "test-flow",
    **kw: object,
) -> CompiledMapping:
    """Compile a mapping with a fixed clock."""
    spec = MappingSpec(flow, rules, when=when, tables=tables or {}, **kw)  # type: ignore[arg-type]
    return compile_mapping(spec, clock=lambda: FIXED_NOW)


def evaluate(expression: str, source: Mapping[str, object] | None = None, **kw: object) -> object:
    """The value of one expression on ``source``."""
    return compile_rules({"out": expression}, **kw).apply(source or {})["out"]
