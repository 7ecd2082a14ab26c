"""``xref.<entity>(id, missing="skip")``: a record whose lookup has no pair is skipped.

ERP stock of materials the CRM does not have: not written, not parked, no dependency sync
queued, not a dead letter; the job ends as a record the flow's ``when:`` filters out
(outcome ``filtered``) with the reason, and is mapped again the next time it is read.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from erpbridge.engine.intake import poll_flow, sync_flow
from erpbridge.engine.jobs import Trigger
from erpbridge.engine.metrics import Metrics
from erpbridge.engine.plans import build_plans
from erpbridge.engine.recon import ReconOptions, run_recon
from tests.engine.conftest import Harness, make_harness

PROJECT = """\
connections:
  crm: {type: memory}
  erp: {type: memory}
flows:
  products:
    entity: product
    source: {connection: crm, object: Product, trigger: {poll: 1m}}
    target: {connection: erp, object: Material, write: upsert, key: Code}
    map:
      Code: source.Code
  products-back:
    entity: product
    source: {connection: erp, object: Material, trigger: {poll: 1m}}
    target: {connection: crm, object: Product, write: update, key: Code}
    map:
      Code: source.Code
  plants:
    entity: plant
    source: {connection: erp, object: Plant, trigger: {poll: 1m}}
    target: {connection: crm, object: Plant, write: upsert, key: Code}
    map:
      Code: source.Code
  stock:
    entity: stock
    source: {connection: erp, object: Stock, trigger: {poll: 1m}}
    target: {connection: crm, object: ProductStock, write: upsert, key: Key}
    when: source.Type == "01"
    map:
      Key: concat(source.Material, source.Plant, sep="/")
      Product: xref.product(source.Material, missing="skip")
      Plant: xref.plant(source.Plant)
      Quantity: source.Quantity
    retry: {max_attempts: 3, initial: 1s, max_interval: 30s, dependency_timeout: 1m}
  stock-by-code:
    entity: stock
    source: {connection: erp, object: StockByCode, trigger: {poll: 1m}}
    target: {connection: crm, object: ProductStock, write: upsert, key: Key}
    map:
      Key: concat(source.Code, source.Plant, sep="/")
      Product: xref.product(source.Code, by="Code", missing="skip")
      Quantity: source.Quantity
  transfers:
    entity: transfer
    source: {connection: erp, object: Transfer, trigger: {poll: 1m}}
    target: {connection: crm, object: Transfer, write: upsert, key: No}
    map:
      No: source.No
      Plant: xref.plant(source.Plant)
      Lines: 'each(source.Lines, {Product: xref.product(.Material, missing="skip"), Qty: .Qty})'
    retry: {max_attempts: 3, initial: 1s, max_interval: 30s, dependency_timeout: 1m}
"""


@pytest.fixture
def skip(store_url: str, tmp_path: Path) -> Iterator[Harness]:
    yield from make_harness(PROJECT, store_url, tmp_path)


async def _material(h: Harness, product_id: str, code: str) -> str:
    """A CRM product sent to the ERP (products-to-erp's xref); the ERP material's id."""
    h.crm.put("Product", product_id, {"Code": code})
    await sync_flow(h.store, h.runtime, "products", h.clock, ids=[product_id])
    await h.drain()
    return next(m.id for m in h.erp.all("Material") if m.fields["Code"] == code)


async def _plant(h: Harness, code: str) -> None:
    h.erp.put("Plant", code, {"Code": code})
    await sync_flow(h.store, h.runtime, "plants", h.clock, ids=[code])
    await h.drain()


def _stock(h: Harness, stock_id: str, material: str, quantity: int, kind: str = "01") -> None:
    h.erp.put(
        "Stock",
        stock_id,
        {"Material": material, "Plant": "1710", "Quantity": quantity, "Type": kind},
    )


async def test_stock_of_a_material_the_crm_lacks_is_skipped_not_parked(skip: Harness) -> None:
    material = await _material(skip, "P1", "M-1")
    await _plant(skip, "1710")
    _stock(skip, "S1", material, 12)
    _stock(skip, "S2", "ERP-ONLY", 3)
    _stock(skip, "S3", "ERP-ONLY", 4, kind="02")  # when: false
    metrics = Metrics()

    # S3 is skipped as it is taken in (its when: is false), S2 by the worker (no pair)
    await poll_flow(skip.store, skip.runtime, "stock", skip.clock, metrics)
    await skip.drain(skip.worker(metrics=metrics))

    [written] = skip.crm.all("ProductStock")
    [plant] = skip.crm.all("Plant")
    assert written.fields == {
        "Key": f"{material}/1710",
        "Product": "P1",
        "Plant": plant.id,
        "Quantity": 12,
    }
    assert skip.rows(
        "select j.source_id, j.state, j.outcome, a.error_class, a.error_message from jobs j "
        "join attempts a on a.job_id = j.id where j.flow = 'stock' order by j.source_id"
    ) == [
        ("S1", "done", "created", None, None),
        ("S2", "done", "filtered", "xref",
         "stock › Product: xref.product('ERP-ONLY') has no target: skipped (missing=\"skip\")"),
        ("S3", "done", "filtered", "when", "when: is false"),
    ]  # fmt: skip
    # never parked, no sync of the material queued, no dead letter
    assert skip.rows("select count(*) from jobs where flow = 'products-back'") == [(0,)]
    assert skip.rows("select count(*) from attempts where outcome = 'parked'") == [(0,)]
    assert skip.rows("select count(*) from dead_letters") == [(0,)]
    text = generate_latest(metrics.registry).decode()
    assert 'erpbridge_jobs_skipped_total{by="xref",flow="stock"} 1.0' in text
    assert 'erpbridge_jobs_skipped_total{by="when",flow="stock"} 1.0' in text


async def test_a_record_that_also_waits_for_another_reference_is_skipped(
    skip: Harness,
) -> None:
    skip.erp.put("Plant", "1710", {"Code": "1710"})  # not synced: the stock would wait for it
    _stock(skip, "S2", "ERP-ONLY", 3)

    await poll_flow(skip.store, skip.runtime, "stock", skip.clock)
    await skip.drain()

    assert skip.rows("select flow, state, outcome from jobs") == [("stock", "done", "filtered")]
    assert skip.crm.all("ProductStock") == []


async def test_the_next_read_maps_a_skipped_record_again_once_the_pair_exists(
    skip: Harness,
) -> None:
    await _plant(skip, "1710")
    skip.erp.put("Material", "MAT-2", {"Code": "M-2"})  # SAP's own material
    _stock(skip, "S2", "MAT-2", 3)
    await sync_flow(skip.store, skip.runtime, "stock", skip.clock)
    await skip.drain()
    assert skip.crm.all("ProductStock") == []

    # A poll reading the same version again queues nothing (no job per skip and poll).
    await poll_flow(skip.store, skip.runtime, "stock", skip.clock)
    assert skip.rows("select count(*) from jobs where flow = 'stock'") == [(1,)]

    # The CRM takes the material on as a product: products finds it by its code.
    assert await _material(skip, "P2", "M-2") == "MAT-2"
    # The same version of the stock record, read again by a full read (a schedule).
    await sync_flow(skip.store, skip.runtime, "stock", skip.clock, trigger=Trigger.SCHEDULE)
    await skip.drain()

    [written] = skip.crm.all("ProductStock")
    assert (written.fields["Product"], written.fields["Quantity"]) == ("P2", 3)
    outcomes = skip.rows(
        "select source_version, outcome from jobs where flow = 'stock' order by id"
    )
    [(first_version, _), (version, _)] = outcomes
    assert str(first_version).startswith(f"{version}~skipped:")  # freed for the re-read
    assert [o for _, o in outcomes] == ["filtered", "created"]
    # a record written is deduplicated as before: the same version is not queued again
    await sync_flow(skip.store, skip.runtime, "stock", skip.clock)
    assert skip.rows("select count(*) from jobs where flow = 'stock'") == [(2,)]


async def test_a_record_written_before_keeps_its_target_when_its_lookup_misses_now(
    skip: Harness,
) -> None:
    material = await _material(skip, "P1", "M-1")
    await _plant(skip, "1710")
    _stock(skip, "S1", material, 12)
    await poll_flow(skip.store, skip.runtime, "stock", skip.clock)
    await skip.drain()
    with skip.store.begin() as conn:  # the product pair is gone (say, forgotten by a delete)
        conn.exec_driver_sql("delete from xref where entity = 'product'")
    skip.clock.advance(60)
    _stock(skip, "S1", material, 20)

    await poll_flow(skip.store, skip.runtime, "stock", skip.clock)
    await skip.drain()

    [kept] = skip.crm.all("ProductStock")
    assert (kept.fields["Product"], kept.fields["Quantity"]) == ("P1", 12)
    assert skip.rows("select outcome from jobs where flow = 'stock' order by id") == [
        ("created",),
        ("filtered",),
    ]


async def test_lookup_by_code_skips_a_code_no_record_holds_and_dead_letters_one_two_hold(
    skip: Harness,
) -> None:
    await _material(skip, "P1", "M-1")
    skip.erp.put("Material", "D1", {"Code": "DUP"})
    skip.erp.put("Material", "D2", {"Code": "DUP"})
    for stock_id, code in (("C1", "M-1"), ("C2", "NOPE"), ("C3", "DUP")):
        skip.erp.put("StockByCode", stock_id, {"Code": code, "Plant": "1710", "Quantity": 1})

    await poll_flow(skip.store, skip.runtime, "stock-by-code", skip.clock)
    await skip.drain()

    [written] = skip.crm.all("ProductStock")
    assert (written.fields["Key"], written.fields["Product"]) == ("M-1/1710", "P1")
    [(reason,)] = skip.rows(
        "select a.error_message from attempts a join jobs j on j.id = a.job_id "
        "where j.source_id = 'C2'"
    )
    assert reason == (
        "stock-by-code › Product: xref.product('NOPE', by='Code') has no target: "
        'no product record in erp has this key; skipped (missing="skip")'
    )
    [(source, error_class, message)] = skip.rows(
        "select source_id, error_class, error_message from dead_letters"
    )
    assert (source, error_class) == ("C3", "mapping")
    assert "2 product records in erp have this key (ids D1, D2)" in str(message)


async def test_inside_lines_only_the_line_is_left_out_and_only_waits_are_synced(
    skip: Harness,
) -> None:
    material = await _material(skip, "P1", "M-1")
    skip.erp.put("Plant", "1710", {"Code": "1710"})  # not synced yet: the transfer waits
    lines = [{"Material": material, "Qty": 2}, {"Material": "ERP-ONLY", "Qty": 5}]
    skip.erp.put("Transfer", "T1", {"No": "T-1", "Plant": "1710", "Lines": lines})

    await poll_flow(skip.store, skip.runtime, "transfers", skip.clock)
    await skip.worker().run_once()

    # parked for the plant; the plant is queued, the material the line skips is not
    assert skip.rows("select flow, source_id, state from jobs order by id")[-2:] == [
        ("transfers", "T1", "parked"),
        ("plants", "1710", "queued"),
    ]
    await skip.drain(rounds=10, step_s=6)
    [transfer] = skip.crm.all("Transfer")
    assert transfer.fields["Lines"] == [{"Product": "P1", "Qty": 2}]
    assert skip.rows("select count(*) from jobs where flow = 'products-back'") == [(0,)]


async def test_recon_expects_no_skipped_record_in_the_target(skip: Harness) -> None:
    material = await _material(skip, "P1", "M-1")
    await _plant(skip, "1710")
    _stock(skip, "S1", material, 12)
    _stock(skip, "S2", "ERP-ONLY", 3)
    await poll_flow(skip.store, skip.runtime, "stock", skip.clock)
    await skip.drain()
    plan = build_plans(skip.project)["stock"]

    result = await run_recon(skip.store, skip.runtime, plan, ReconOptions(), skip.clock)

    assert (result.state, result.matches, list(result.differences)) == ("done", 1, [])
