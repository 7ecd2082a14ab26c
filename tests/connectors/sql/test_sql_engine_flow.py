"""End to end: the engine polls U8 customers through the SQL connector into another table."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from erpbridge.config import load_project_text
from erpbridge.engine.clock import ManualClock
from erpbridge.engine.intake import poll_flow
from erpbridge.engine.plans import build_plans
from erpbridge.engine.runtime import Runtime
from erpbridge.engine.worker import Worker
from erpbridge.spi.registry import ConnectorRegistry
from erpbridge.store import open_store
from tests.connectors.sql.test_sql_connector import rows
from tests.connectors.sql.u8schema import create_u8

PROJECT = """\
connections:
  u8: {{type: sql, url: "{url}", objects: {{Customer: {{stamp_column: dModifyDate}}}}}}
  crm: {{type: sql, url: "{url}", objects: {{crm_account: {{}}}}}}
flows:
  customers:
    entity: customer
    source: {{connection: u8, object: Customer, trigger: {{poll: 1m}}}}
    target: {{connection: crm, object: crm_account, write: upsert, key: code}}
    map:
      code: source.cCusCode
      name: source.cCusName
      credit: source.iCusCreLine
"""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield engine
    engine.dispose()


async def test_engine_syncs_u8_customers_into_a_table_and_then_only_the_edit(
    db_url: str, db: sa.Engine, store: sa.Engine, tmp_path: Path
) -> None:
    create_u8(db)
    md = sa.MetaData()
    sa.Table(
        "crm_account",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(20), nullable=False, unique=True),
        sa.Column("name", sa.String(100)),
        sa.Column("credit", sa.Numeric(18, 2)),
    )
    md.create_all(db)
    registry = ConnectorRegistry(use_entry_points=False)
    project = load_project_text(
        PROJECT.format(url=db_url), path=tmp_path / "erpbridge.yaml", registry=registry
    )
    clock = ManualClock()
    runtime = Runtime(project, registry, clock)
    worker = Worker(
        store, runtime, build_plans(project), clock=clock, worker_id="w1", rng=random.Random(7)
    )

    async def sync() -> int:
        queued = (await poll_flow(store, runtime, "customers", clock)).queued
        while await worker.run_once():
            pass
        return queued

    try:
        assert await sync() == 5
        customer = sa.Table("Customer", sa.MetaData(), autoload_with=db)
        with db.begin() as conn:
            conn.execute(
                customer.update()
                .where(customer.c.cCusCode == "C0003")
                .values(cCusName="客户三", dModifyDate=dt.datetime(2026, 11, 3, 9, 0))
            )
        assert await sync() == 1  # the overlap re-reads nothing new but the edit
        accounts = {r["code"]: r for r in rows(db, "crm_account")}
        assert len(accounts) == 5
        assert accounts["C0003"]["name"] == "客户三"
        assert accounts["C0002"]["credit"] == Decimal("20000.00")
    finally:
        for name in ("u8", "crm"):
            await runtime.connector(name).aclose()
