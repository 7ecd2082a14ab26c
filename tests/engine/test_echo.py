"""The echo check when several flows write one record (each its own fields)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from erpbridge.engine.echo import echo_of, is_echo
from erpbridge.engine.intake import poll_flow
from erpbridge.engine.snapshot import fields_hash
from erpbridge.engine.xref import EchoHash, load_echo_hashes, save_echo_hashes
from erpbridge.store.db import downgrade, upgrade
from tests.engine.conftest import Harness, make_harness

# The CRM owns the account's number and name; the ERP owns its customer number and,
# through a second flow, the credit limit. Both ERP -> CRM flows write the same account
# and share the field they find it by (ERP_Number__c), as sf-sap's customers-from-sap and
# credit-from-sap do.
PROJECT = """\
connections:
  crm: {type: memory}
  erp: {type: memory}
flows:
  customers:
    entity: customer
    source: {connection: crm, object: Account, trigger: {poll: 1m}}
    target: {connection: erp, object: Customer, write: upsert, key: Code}
    map:
      Code: source.AccountNumber
      Name: source.Name
  customers-back:
    entity: customer
    source: {connection: erp, object: Customer, trigger: {poll: 1m}}
    target: {connection: crm, object: Account, write: update}
    map:
      ERP_Number__c: source.Number
  credit-back:
    source: {connection: erp, object: Credit, trigger: {poll: 1m}}
    target: {connection: crm, object: Account, write: update, key: ERP_Number__c}
    map:
      ERP_Number__c: source.Customer
      Credit_Limit__c: source.Limit
"""


@pytest.fixture
def two_writers(store_url: str, tmp_path: Path) -> Iterator[Harness]:
    yield from make_harness(PROJECT, store_url, tmp_path)


def _writes(system: object) -> int:
    return len([c for c in system.calls if c[0] == "write"])  # type: ignore[attr-defined]


async def _poll(harness: Harness, *flows: str) -> None:
    for flow in flows:
        await poll_flow(harness.store, harness.runtime, flow, harness.clock)
        await harness.drain()


async def _accounts_with_erp_numbers_and_credit(harness: Harness, n: int) -> None:
    """n CRM accounts synced to the ERP, which numbers them and gives each a credit
    limit; both ERP -> CRM flows have written onto every account."""
    for i in range(n):
        harness.crm.put("Account", f"A{i}", {"AccountNumber": f"C{i}", "Name": f"客户{i}"})
    await _poll(harness, "customers")
    for i, customer in enumerate(sorted(harness.erp.all("Customer"), key=lambda r: r.id)):
        harness.erp.put("Customer", customer.id, {**customer.fields, "Number": f"1000{i}"})
        harness.erp.put("Credit", f"K{i}", {"Customer": f"1000{i}", "Limit": "5000.00"})
    await _poll(harness, "customers-back", "credit-back")
    accounts = harness.crm.all("Account")
    assert {(a.fields["ERP_Number__c"], a.fields["Credit_Limit__c"]) for a in accounts} == {
        (f"1000{i}", "5000.00") for i in range(n)
    }


async def test_two_flows_writing_one_record_cause_no_write_back_and_no_redundant_write(
    two_writers: Harness,
) -> None:
    harness = two_writers
    await _accounts_with_erp_numbers_and_credit(harness, 3)
    crm_writes, erp_writes = _writes(harness.crm), _writes(harness.erp)
    # The accounts' change events (our two writes) are read back by the CRM -> ERP flow,
    # and the ERP records change in fields no flow maps (a new version each): every flow
    # sees its source again, twice over.
    for round_ in range(2):
        await _poll(harness, "customers")
        for record in [*harness.erp.all("Customer"), *harness.erp.all("Credit")]:
            harness.erp.put(record.object, record.id, {**record.fields, "Remark": round_})
        await _poll(harness, "customers-back", "credit-back")
    assert (_writes(harness.crm), _writes(harness.erp)) == (crm_writes, erp_writes)
    outcomes = harness.rows(
        "select flow, outcome, count(*) from jobs group by flow, outcome order by flow, outcome"
    )
    # customers reads each account once more (its latest version), then nothing new
    assert outcomes == [
        ("credit-back", "unchanged", 6),
        ("credit-back", "updated", 3),
        ("customers", "created", 3),
        ("customers", "unchanged", 3),
        ("customers-back", "unchanged", 6),
        ("customers-back", "updated", 3),
    ]


async def test_a_field_another_flow_changed_since_is_written_again(two_writers: Harness) -> None:
    harness = two_writers
    await _accounts_with_erp_numbers_and_credit(harness, 1)
    # credit-back now finds the account by a new number and writes it (a shared field):
    # customers-back's own last write (the old number) is no longer what the account holds.
    harness.clock.advance(1)
    [credit] = harness.erp.all("Credit")
    harness.erp.put("Credit", credit.id, {**credit.fields, "Customer": "2000"})
    await _poll(harness, "credit-back")
    harness.clock.advance(1)
    [customer] = harness.erp.all("Customer")
    harness.erp.put("Customer", customer.id, {**customer.fields, "Remark": "x"})
    await _poll(harness, "customers-back")
    [account] = harness.crm.all("Account")
    assert account.fields["ERP_Number__c"] == "10000"
    assert harness.rows("select outcome from jobs where flow = 'customers-back' order by id desc")[
        0
    ] == ("updated",)


async def test_a_record_written_by_one_flow_only_keeps_the_plain_echo_check(
    two_writers: Harness,
) -> None:
    harness = two_writers
    harness.crm.put("Account", "A1", {"AccountNumber": "C1", "Name": "客户"})
    await _poll(harness, "customers")
    harness.crm.put("Account", "A1", {"AccountNumber": "C1", "Name": "客户", "Other": 1})
    await _poll(harness, "customers")
    harness.crm.put("Account", "A1", {"AccountNumber": "C1", "Name": "新名字", "Other": 1})
    await _poll(harness, "customers")
    assert harness.rows("select outcome from jobs order by id") == [
        ("created",),
        ("unchanged",),
        ("updated",),
    ]
    assert harness.rows("select flow, object from echo_hashes") == [("customers", "Customer")]


# --- the rule, on rows as the store gives them -------------------------------------------

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _row(flow: str, payload: dict[str, object], at_s: int) -> EchoHash:
    echo = echo_of(payload, None)
    return EchoHash(echo.hash, echo.fields, None, flow, T0 + timedelta(seconds=at_s))


def test_a_field_counts_as_held_by_its_last_write_whoever_wrote_it() -> None:
    rows = [
        _row("customers-back", {"Number": "1"}, 0),
        _row("credit-back", {"Number": "2", "Limit": "5"}, 1),
    ]
    assert not is_echo("customers-back", {"Number": "1"}, rows)  # overwritten since
    assert is_echo("customers-back", {"Number": "2"}, rows)  # the record holds it
    assert is_echo("credit-back", {"Number": "2", "Limit": "5"}, rows)
    assert not is_echo("credit-back", {"Number": "2", "Limit": "6"}, rows)
    assert not is_echo("other", {"Number": "2", "Name": "x"}, rows)  # Name: never written


def test_writes_committed_at_the_same_instant_must_agree() -> None:
    agree = [_row("a", {"Number": "1"}, 0), _row("b", {"Number": "1", "Limit": "5"}, 0)]
    differ = [_row("a", {"Number": "1"}, 0), _row("b", {"Number": "2", "Limit": "5"}, 0)]
    assert is_echo("a", {"Number": "1"}, agree)
    assert not is_echo("a", {"Number": "1"}, differ)


async def test_rows_from_before_0005_still_recognise_the_payload_they_describe(
    harness: Harness,
) -> None:
    payload = {"Code": "C1", "Name": "上海精密"}
    downgrade(harness.store, "0004")
    with harness.store.begin() as conn:
        conn.execute(
            sa.text(
                "insert into echo_hashes (connection, object, record_id, hash, fields, "
                "written_at) values ('erp', 'Customer', 'E1', :hash, :fields, :at)"
            ),
            {"hash": fields_hash(payload, payload), "fields": '["Code", "Name"]', "at": T0},
        )
    upgrade(harness.store)
    with harness.store.connect() as conn:
        [row] = load_echo_hashes(conn, "erp", "Customer", ["E1"])["E1"]
    assert (row.flow, dict(row.fields)) == ("", {"Code": None, "Name": None})
    assert is_echo("customers", payload, [row])
    assert not is_echo("customers", {**payload, "Name": "改名"}, [row])
    # written again by a flow since: that flow's row is the newer one for its fields
    newer = _row("customers", {**payload, "Name": "改名"}, 10**9)
    assert is_echo("customers", {**payload, "Name": "改名"}, [row, newer])
    assert not is_echo("customers-2", payload, [row, newer])


async def test_downgrade_keeps_the_newest_row_of_each_record(harness: Harness) -> None:
    with harness.store.begin() as conn:
        save_echo_hashes(conn, "erp", "Customer", "a", {"E1": echo_of({"N": 1}, None)}, T0)
        later = T0 + timedelta(seconds=1)
        save_echo_hashes(conn, "erp", "Customer", "b", {"E1": echo_of({"M": 2}, "v2")}, later)
    downgrade(harness.store, "0004")
    assert harness.rows("select record_id, hash, version from echo_hashes") == [
        ("E1", echo_of({"M": 2}, None).hash, "v2")
    ]
    [(fields,)] = harness.rows("select fields from echo_hashes")
    assert (json.loads(fields) if isinstance(fields, str) else fields) == ["M"]
    upgrade(harness.store)
