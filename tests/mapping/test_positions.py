"""Positions of rules in a ruamel-loaded project file, and errors that point there."""

from __future__ import annotations

import io

import pytest
from ruamel.yaml import YAML

from erpbridge.mapping import (
    MappingCompileError,
    MappingSpec,
    SourcePos,
    compile_mapping,
    rule_positions,
    yaml_positions,
    yaml_value_pos,
)

TEXT = """\
flows:
  f:
    when: source.Stat == "A"
    map:
      Plain: source.Name
      Quoted: 'concat(source.A, mony(1))'
      Block: |
        upper(
          sorce.Name)
      Form: {expr: source.Fax, default: "-", when: 'sourc.X > 1'}
      Lines:
        each: source.Items
        map:
          Material: xref.product(.Sku)
          Qty: number(.Qty, scale=x)
"""
LINES = TEXT.splitlines()


def _flow():  # type: ignore[no-untyped-def]
    return YAML().load(io.StringIO(TEXT))["flows"]["f"]


def test_positions_step_over_quotes_and_into_block_scalars() -> None:
    positions = yaml_positions(_flow()["map"], "p.yaml", LINES)

    assert positions["Plain"] == SourcePos("p.yaml", 5, 14)
    assert positions["Quoted"] == SourcePos("p.yaml", 6, 16)
    assert positions["Block"] == SourcePos("p.yaml", 8, 9)
    assert positions["Form@when"] == SourcePos("p.yaml", 10, LINES[9].index("sourc.X") + 1)
    assert positions["Lines@each"] == SourcePos("p.yaml", 12, 15)
    assert positions["Lines.Qty"] == SourcePos("p.yaml", 15, 16)


def test_compile_errors_point_at_file_line_and_column() -> None:
    flow = _flow()
    spec = MappingSpec(
        "f",
        dict(flow["map"]),
        when=flow["when"],
        positions=yaml_positions(flow["map"], "p.yaml", LINES),
        when_pos=yaml_value_pos(flow, "when", "p.yaml", LINES),
    )

    with pytest.raises(MappingCompileError) as caught:
        compile_mapping(spec)

    assert [str(p).split(": ")[0] for p in caught.value.problems] == [
        f"p.yaml:6:{LINES[5].index('mony') + 1}",
        f"p.yaml:9:{LINES[8].index('sorce') + 1}",  # second line of the block scalar
        f"p.yaml:10:{LINES[9].index('sourc.X') + 1}",
        f"p.yaml:15:{LINES[14].index('x)') + 1}",
    ]


def test_rule_positions_work_from_any_loader_marks() -> None:
    flow = _flow()
    marks = {}  # what a loader that copies to plain dicts keeps: key path -> (line, col)
    for key in flow["map"]:
        line, col = flow["map"].lc.value(key)
        marks[(key,)] = (line + 1, col + 1)
    marks[("Lines", "map", "Qty")] = (15, 12)
    plain = {"Plain": "source.Name", "Quoted": "x", "Lines": {"each": ".", "map": {"Qty": "1"}}}

    positions = rule_positions(plain, marks.get, "p.yaml", LINES)

    assert positions["Plain"] == SourcePos("p.yaml", 5, 14)
    assert positions["Quoted"] == SourcePos("p.yaml", 6, 16)
    assert positions["Lines.Qty"] == SourcePos("p.yaml", 15, 12)
