"""Every shipped template flow asks its source for enough fields.

For each flow of each template, the seeded records of its source (read whole, through
the real simulators) are cut down to the flow's field list; the flow's ``when:``, xref
requests, mapping and hold must give exactly what they give on the whole record. A
mapping or hold that reads a field the list lacks fails here (the cut record makes it
read the field as missing, or another value).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest

from erpbridge.engine.flow import FlowPlan
from erpbridge.mapping import MappingSpec, compile_mapping
from erpbridge.mapping.errors import MappingError
from erpbridge.spi.errors import ValidationError
from erpbridge.spi.records import Record
from tests.flows.harness import Bridge, close, running_template

TEMPLATES = {
    "sf-sap": ("salesforce", "sap"),
    "sf-oracle": ("salesforce", "oracle"),
    "jdy-kingdee": ("jiandaoyun", "kingdee"),
    "jdy-yonbip": ("jiandaoyun", "yonbip"),
    "starter": ("salesforce", "sap"),
}
NOW = datetime(2026, 11, 26, 1, 2, 3, tzinfo=UTC)
#: records read per flow (the first pages of the seed are plenty of shapes)
PER_FLOW = 300


class _Anything(Mapping[str, object]):
    """A related record holding every field (value 1), so hold expressions go on to read
    the source fields they compare it with."""

    def __getitem__(self, key: str) -> object:
        return 1

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __contains__(self, key: object) -> bool:
        return True


def _outcome(call: Callable[[], object]) -> tuple[str, object]:
    try:
        return ("value", call())
    except MappingError as exc:
        return ("error", str(exc))


async def _records(bridge: Bridge, plan: FlowPlan) -> list[Record]:
    source = bridge.connector(plan.source_connection)
    out: list[Record] = []
    try:
        async for page in source.read_changes(plan.spec.source.object, None, 100):
            out += [r for r in page.records if not r.deleted]
            if len(out) >= PER_FLOW:
                break
    except ValidationError:  # an object the system only pushes (webhook-only flows)
        return []
    return out


def _check_record(plan: FlowPlan, record: Record) -> None:
    assert plan.source_fields is not None
    full = dict(record.fields)
    cut = {k: v for k, v in full.items() if k in plan.source_fields}
    # the same mapping on a fixed clock, so now() gives one value to both
    mapper = compile_mapping(plan.mapper.spec, clock=lambda: NOW)  # type: ignore[attr-defined]
    assert _outcome(lambda: mapper.accepts(cut)) == _outcome(lambda: mapper.accepts(full))
    asked = mapper.xref_requests(full)
    assert mapper.xref_requests(cut) == asked
    xrefs = {req: f"T-{req[1]}" for req in asked}
    assert _outcome(lambda: mapper.apply(cut, xrefs)) == _outcome(lambda: mapper.apply(full, xrefs))
    hold = plan.hold
    if hold is None:
        return
    expressions = [hold.when, hold.reason, hold.release_when, *(r.id for r in hold.related)]
    if hold.flag is not None:
        expressions += [hold.flag.id, *(e for _, e in (*hold.flag.set, *hold.flag.clear))]
        if hold.flag.on_source:
            names = {name for name, _ in (*hold.flag.set, *hold.flag.clear)}
            assert names <= plan.source_fields
    related = {r.name: _Anything() for r in hold.related}
    for expr in (e for e in expressions if e is not None):

        def scope(fields: dict[str, object]) -> dict[str, object]:
            return {"source": fields, "related": related, "hold": {"reason": "over credit"}}

        assert _outcome(lambda e=expr: e.evaluate(scope(cut))) == _outcome(
            lambda e=expr: e.evaluate(scope(full))
        )


@pytest.mark.parametrize("template", sorted(TEMPLATES))
async def test_each_flow_reads_every_field_its_mapping_when_and_hold_use(
    template: str, tmp_path: Path
) -> None:
    with running_template(template, tmp_path, TEMPLATES[template]) as bridge:
        try:
            checked = 0
            for name, plan in bridge.plans.items():
                assert plan.source_fields is not None, f"{name}: every field asked for"
                assert bridge.runtime.source_fields(name) == plan.source_fields
                for record in await _records(bridge, plan):
                    _check_record(plan, record)
                    checked += 1
        finally:
            await close(bridge)
    assert checked > 0


def test_a_mapping_reading_the_whole_record_asks_for_every_field() -> None:
    whole = compile_mapping(MappingSpec(flow="f", rules={"A": "source", "B": "source.X"}))
    listed = compile_mapping(
        MappingSpec(flow="f", rules={"B": "source.X.Y", "C": "source['名称']"})
    )
    assert whole.source_fields is None
    assert listed.source_fields == {"X", "名称"}
