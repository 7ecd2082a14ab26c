"""``trigger: {file_drop: 30s}``: a poll of a folder, allowed only on a file source."""

from __future__ import annotations

from pathlib import Path

import pytest

from erpbridge.config import ConfigErrors, load_project_text
from erpbridge.spi import ConnectorRegistry
from tests.fakes import fake_registry

PROJECT = """\
connections:
  drop:
    type: files
    root: {root}
    objects:
      orders: {{glob: "*.csv", key: id}}
  crm:
    type: fakecrm
    base_url: https://crm.example
    username: u
    password: ${{env:CRM_PASSWORD}}
flows:
  orders-in:
    source: {{connection: {source}, object: orders, trigger: {trigger}}}
    target: {{connection: crm, object: Order, write: upsert, key: id}}
    map: {{id: source.id}}
"""


def _registry() -> ConnectorRegistry:
    registry = ConnectorRegistry(
        {"files": "erpbridge.connectors.files:SPEC"}, use_entry_points=False
    )
    for spec in (fake_registry().get("fakecrm"), fake_registry().get("fakeerp")):
        registry.register(spec)
    return registry


def _load(tmp_path: Path, source: str, trigger: str):  # type: ignore[no-untyped-def]
    text = PROJECT.format(root=tmp_path, source=source, trigger=trigger)
    return load_project_text(
        text,
        path=tmp_path / "erpbridge.yaml",
        registry=_registry(),
        environ={"CRM_PASSWORD": "pw-1234"},
    )


def test_file_drop_on_a_file_source_polls_at_its_interval(tmp_path: Path) -> None:
    project = _load(tmp_path, "drop", "{file_drop: 30s}")
    trigger = project.spec.flows["orders-in"].source.trigger
    assert trigger.poll is None
    assert trigger.poll_interval is not None and trigger.poll_interval.total_seconds() == 30


def test_file_drop_on_a_connection_that_is_not_a_file_source_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors) as caught:
        _load(tmp_path, "crm", "{file_drop: 30s}")
    (error,) = caught.value.errors
    assert error.field == "flows.orders-in.source.trigger.file_drop"
    assert error.line == 14
    assert "file_drop needs a file source" in error.reason
    assert "'crm' is of type 'fakecrm'" in error.reason
    assert "use poll: 30s" in error.reason


@pytest.mark.parametrize(
    ("trigger", "reason"),
    [
        ("{file_drop: 30s, poll: 1m}", "set file_drop or poll, not both"),
        ("{file_drop: 0}", "file_drop must be longer than 0 s"),
        ("{file_drop: soon}", "'soon' is not a duration"),
    ],
)
def test_bad_file_drop_values_are_clear_errors(tmp_path: Path, trigger: str, reason: str) -> None:
    with pytest.raises(ConfigErrors) as caught:
        _load(tmp_path, "drop", trigger)
    assert any(reason in e.describe() for e in caught.value.errors), caught.value.errors


def test_plan_shows_the_file_drop_trigger(tmp_path: Path) -> None:
    from erpbridge.cli.project import plan_rows

    rows = plan_rows(_load(tmp_path, "drop", "{file_drop: 30s}"))
    assert "file drop 30s" in str(rows[0])
