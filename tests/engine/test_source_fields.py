"""The field list the engine asks its sources for, and snapshots read with one."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import pytest

from erpbridge.config import load_project_text
from erpbridge.engine.enqueue import enqueue_changes
from erpbridge.engine.intake import poll_flow, sync_flow
from erpbridge.engine.jobs import Trigger
from erpbridge.engine.plans import build_plans
from erpbridge.engine.source_fields import fields_kwargs
from erpbridge.engine.worker import Worker
from erpbridge.spi import Change, ChangePage, ConnectorRegistry, Cursor, Record
from tests.engine.conftest import Harness, make_harness
from tests.engine.memory import memory_spec

PROJECT = """\
connections:
  crm: {type: memory}
  erp: {type: memory}
aliases:
  客户编号: AccountNumber
flows:
  accounts:
    entity: customer
    source: {connection: crm, object: Account, trigger: {poll: 1m}}
    target: {connection: erp, object: Customer, write: upsert, key: Code}
    when: source.Active == true
    map:
      Code: source.客户编号
      Name: source.Name
  orders:
    entity: order
    source: {connection: crm, object: Order, trigger: {poll: 1m}}
    target: {connection: erp, object: SalesOrder, write: upsert, key: PoNumber}
    map:
      PoNumber: source.OrderNumber
      Customer: xref.customer(source.Region, by="Region")
"""
#: the same project, a mapping that now reads one field more
MORE = PROJECT.replace(
    "      Name: source.Name\n", "      Name: source.Name\n      Note: source.Note\n"
)


@pytest.fixture
def harness(store_url: str, tmp_path: Path) -> Iterator[Harness]:
    yield from make_harness(PROJECT, store_url, tmp_path)


def _snapshots(harness: Harness, flow: str) -> list[dict[str, object]]:
    rows = harness.rows(f"select source_snapshot from jobs where flow = '{flow}' order by id")
    return [json.loads(r[0]) if isinstance(r[0], str) else r[0] for r in rows]  # type: ignore[misc]


def _worker(harness: Harness, text: str, tmp_path: Path) -> Worker:
    registry = ConnectorRegistry(builtin={}, use_entry_points=False)
    registry.register(memory_spec())
    project = load_project_text(text, path=tmp_path / "p.yaml", registry=registry, environ={})
    return Worker(
        harness.store,
        harness.runtime,
        build_plans(project),
        clock=harness.clock,
        rng=random.Random(7),
    )


def test_a_flow_asks_for_what_its_mapping_when_aliases_and_key_lookups_read(
    harness: Harness,
) -> None:
    plans = build_plans(harness.project)
    assert plans["accounts"].source_fields == {
        "Active",
        "客户编号",
        "AccountNumber",
        "Name",
        "Region",
    }
    assert plans["orders"].source_fields == {"OrderNumber", "Region"}
    assert harness.runtime.source_fields("accounts") == plans["accounts"].source_fields


async def test_a_poll_reads_and_keeps_only_the_flows_fields(harness: Harness) -> None:
    harness.crm.put(
        "Account", "A1", {"AccountNumber": "C-1", "Name": "Acme", "Active": True, "Note": "x"}
    )
    await poll_flow(harness.store, harness.runtime, "accounts", harness.clock)
    [snapshot] = _snapshots(harness, "accounts")
    asked = ("AccountNumber", "Active", "Name", "Region", "客户编号")
    assert harness.crm.asked == [("read_changes", "Account", asked)]
    assert snapshot["fields"] == {"AccountNumber": "C-1", "Name": "Acme", "Active": True}
    assert snapshot["asked"] == list(asked)


async def test_sync_by_ids_asks_get_for_the_flows_fields(harness: Harness) -> None:
    harness.crm.put("Order", "O1", {"OrderNumber": "PO-1", "Region": "R1", "Note": "x"})
    await sync_flow(harness.store, harness.runtime, "orders", harness.clock, ids=["O1"])
    [snapshot] = _snapshots(harness, "orders")
    assert harness.crm.asked == [("get", "Order", ("OrderNumber", "Region"))]
    assert snapshot["fields"] == {"OrderNumber": "PO-1", "Region": "R1"}


async def test_a_mapping_that_now_reads_more_reads_old_jobs_again(
    harness: Harness, tmp_path: Path
) -> None:
    harness.crm.put(
        "Account", "A1", {"AccountNumber": "C-1", "Name": "Acme", "Active": True, "Note": "n1"}
    )
    await poll_flow(harness.store, harness.runtime, "accounts", harness.clock)
    worker = _worker(harness, MORE, tmp_path)
    await harness.drain(worker)
    [written] = harness.erp.all("Customer")
    assert written.fields == {"Code": "C-1", "Name": "Acme", "Note": "n1"}
    assert harness.crm.asked[-1] == (
        "get",
        "Account",
        ("AccountNumber", "Active", "Name", "Note", "Region", "客户编号"),
    )


async def test_a_snapshot_that_covers_the_flow_is_mapped_without_a_read(
    harness: Harness,
) -> None:
    harness.crm.put("Account", "A1", {"AccountNumber": "C-1", "Name": "Acme", "Active": True})
    await poll_flow(harness.store, harness.runtime, "accounts", harness.clock)
    await harness.drain()
    assert [a[0] for a in harness.crm.asked] == ["read_changes"]
    assert [r.fields["Code"] for r in harness.erp.all("Customer")] == ["C-1"]


class _OldConnector:
    """A connector written before field lists: its methods have no ``fields``."""

    async def get(self, object: str, ids: Sequence[str]) -> list[Record]:
        return []

    async def read_changes(
        self, object: str, cursor: Cursor | None, page_size: int
    ) -> AsyncIterator[ChangePage]:
        yield ChangePage([], None, False)


class _KeywordConnector:
    async def get(self, object: str, ids: Sequence[str], **options: object) -> list[Record]:
        return []


def test_the_list_goes_only_to_methods_that_take_it() -> None:
    old, keyword = _OldConnector(), _KeywordConnector()
    assert fields_kwargs(old.get, {"A"}) == {}
    assert fields_kwargs(old.read_changes, {"A"}) == {}
    assert fields_kwargs(keyword.get, {"A"}) == {"fields": {"A"}}
    assert fields_kwargs(keyword.get, None) == {}


async def _replay_with_more(harness: Harness, edited: Record, tmp_path: Path) -> None:
    """Replay ``edited`` (a snapshot read without Note) and work it with MORE's mapping."""
    with harness.store.begin() as conn:
        enqueue_changes(
            conn,
            "accounts",
            [Change.of(edited)],
            Trigger.REPLAY.value,
            harness.clock.now(),
            ["AccountNumber", "Active", "Name"],
        )
    await harness.drain(_worker(harness, MORE, tmp_path))


async def test_a_replay_fills_in_only_the_fields_its_snapshot_lacks(
    harness: Harness, tmp_path: Path
) -> None:
    """Fix the mapping (it now reads Note), then replay: the person's edited Name stays,
    the Note the snapshot was not read with comes from the source."""
    record = harness.crm.put(
        "Account", "A1", {"AccountNumber": "C-1", "Name": "Acme", "Active": True, "Note": "n1"}
    )
    edited = Record(
        "Account",
        "A1",
        {"AccountNumber": "C-1", "Name": "Acme (fixed)", "Active": True},
        record.version,
        record.stamp,
    )
    await _replay_with_more(harness, edited, tmp_path)
    [customer] = harness.erp.all("Customer")
    assert (customer.fields["Name"], customer.fields["Note"]) == ("Acme (fixed)", "n1")
    assert harness.rows("select count(*) from dead_letters") == [(0,)]


async def test_a_replay_of_a_record_the_source_no_longer_has_names_the_missing_field(
    harness: Harness, tmp_path: Path
) -> None:
    edited = Record("Account", "A9", {"AccountNumber": "C-9", "Name": "Gone", "Active": True})
    await _replay_with_more(harness, edited, tmp_path)
    assert harness.erp.all("Customer") == []
    [(message,)] = harness.rows("select error_message from dead_letters")
    assert "source.Note" in str(message)
