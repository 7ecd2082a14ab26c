"""SQL connector throughput on the real MariaDB and PostgreSQL servers of this machine.

For each database, in a fresh database (MariaDB) or schema (PostgreSQL) dropped at the end,
with a U8-like schema (Customer, Inventory, SO_SOMain with SO_SODetails lines):

- write: N customers upserted by key (new), then the same N upserted with a change
  (batches of 500 in one transaction: one look-up query, one multi-row INSERT or one
  executemany UPDATE per batch, see connectors/sql/batch.py);
- write: the same N again with one record per batch that the database refuses (a CHECK
  constraint): the whole batch takes the op-by-op path, one savepoint per record;
- write: M sales orders with 3 lines each (upsert by cSOCode; lines replaced; op by op);
- write: N customers staged (U8 preset, staging table, idempotency key per record);
- read: ``read_changes`` over every customer (pages of 2000, keyset by stamp + id), and
  over every order with its lines (one extra query per page);
- get: N customers by id (500 ids per query).

Run: ``.venv/bin/python bench/sql.py [--records 20000] [--orders 3000]``
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import platform
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import make_url

from erpbridge.connectors.sql import SqlConnector, SqlSettings, install_staging_table
from erpbridge.spi.records import WriteMode, WriteOp, WriteOutcome

MARIADB = os.environ.get("ERPBRIDGE_BENCH_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/")
POSTGRES = os.environ.get(
    "ERPBRIDGE_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BATCH = 500
STAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=3), "mysql", "mariadb")


@dataclass
class Figure:
    """One measured step."""

    database: str
    name: str
    records: int
    wall_s: float
    cpu_s: float

    def line(self) -> str:
        """A table row."""
        rate = self.records / self.wall_s
        return (
            f"| {self.database} | {self.name} | {self.records} | {self.wall_s:.2f} | "
            f"{rate:,.0f} | {self.cpu_s:.2f} |"
        )


def schema() -> sa.MetaData:
    """The tables the benchmark writes and reads."""
    md = sa.MetaData()
    sa.Table(
        "Customer",
        md,
        sa.Column("cCusCode", sa.String(20), primary_key=True),
        sa.Column("cCusName", sa.String(98), nullable=False),
        sa.Column("cCusPhone", sa.String(100)),
        sa.Column("iCusCreLine", sa.Numeric(18, 2)),
        sa.Column("dModifyDate", STAMP),
    )
    customer = md.tables["Customer"]
    customer.append_constraint(sa.CheckConstraint(customer.c.iCusCreLine >= 0, name="ck_credit"))
    sa.Table(
        "Inventory",
        md,
        sa.Column("cInvCode", sa.String(60), primary_key=True),
        sa.Column("cInvName", sa.String(255), nullable=False),
    )
    sa.Table(
        "SO_SOMain",
        md,
        sa.Column("ID", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("cSOCode", sa.String(30), nullable=False, unique=True),
        sa.Column("dDate", sa.Date, nullable=False),
        sa.Column("cCusCode", sa.String(20), sa.ForeignKey("Customer.cCusCode"), nullable=False),
        sa.Column("dmodifysystime", STAMP),
    )
    sa.Table(
        "SO_SODetails",
        md,
        sa.Column("iSOsID", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ID", sa.Integer, sa.ForeignKey("SO_SOMain.ID"), nullable=False, index=True),
        sa.Column("iRowNo", sa.Integer, nullable=False),
        sa.Column("cInvCode", sa.String(60), sa.ForeignKey("Inventory.cInvCode"), nullable=False),
        sa.Column("iQuantity", sa.Numeric(18, 4), nullable=False),
        sa.Column("iSum", sa.Numeric(18, 2)),
    )
    return md


@contextmanager
def fresh_database(kind: str) -> Iterator[str]:
    """A URL of a new, empty database (MariaDB) or schema (PostgreSQL), dropped after."""
    name = f"erpbridge_bench_{uuid.uuid4().hex[:10]}"
    if kind == "mariadb":
        admin = sa.create_engine(MARIADB, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
        url = make_url(MARIADB).set(database=name)
        drop = f"DROP DATABASE `{name}`"
    else:
        admin = sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
        url = make_url(POSTGRES).update_query_dict({"options": f"-csearch_path={name}"})
        drop = f'DROP SCHEMA "{name}" CASCADE'
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(drop))
        admin.dispose()


async def measure(
    database: str, name: str, step: Callable[[], Awaitable[int]], out: list[Figure]
) -> None:
    """Run one step, keep its figure, print it."""
    wall, cpu = time.perf_counter(), time.process_time()
    records = await step()
    figure = Figure(database, name, records, time.perf_counter() - wall, time.process_time() - cpu)
    out.append(figure)
    print(figure.line(), flush=True)


async def write_all(
    connector: SqlConnector,
    object: str,
    ops: list[WriteOp],
    expect: WriteOutcome,
    failures: int = 0,
) -> int:
    """Write ``ops`` in batches; every result must be ``expect``, but ``failures`` failed."""
    failed = 0
    for start in range(0, len(ops), BATCH):
        results = await connector.write(object, ops[start : start + BATCH])
        failed += sum(r.outcome is WriteOutcome.FAILED for r in results)
        bad = [r for r in results if r.outcome not in (expect, WriteOutcome.FAILED)]
        if bad:
            raise SystemExit(f"{object}: unexpected result {bad[0]}")
    if failed != failures:
        raise SystemExit(f"{object}: {failed} failed, expected {failures}")
    return len(ops)


def refused_each_batch(n: int) -> list[WriteOp]:
    """N customer changes of which the first of every batch breaks the CHECK constraint."""
    ops = customers(n, "再")
    for start in range(0, n, BATCH):
        op = ops[start]
        fields = {**op.fields, "iCusCreLine": -1}
        ops[start] = WriteOp(op.mode, fields, key_field=op.key_field, key_value=op.key_value)
    return ops


async def read_all(connector: SqlConnector, object: str) -> int:
    """Read every record through read_changes; the count."""
    count = 0
    async for page in connector.read_changes(object, None, 2000):
        count += len(page.records)
    return count


def customers(n: int, suffix: str) -> list[WriteOp]:
    """N customer upserts keyed by code."""
    return [
        WriteOp(
            WriteMode.UPSERT,
            {"cCusCode": f"C{i:06d}", "cCusName": f"客户{i}{suffix}", "iCusCreLine": i * 10},
            key_field="cCusCode",
            key_value=f"C{i:06d}",
            idempotency_key=f"job-{i}{suffix}",
        )
        for i in range(n)
    ]


def orders(m: int, n: int) -> list[WriteOp]:
    """M order upserts with 3 lines each."""
    return [
        WriteOp(
            WriteMode.UPSERT,
            {
                "cSOCode": f"SO{i:07d}",
                "dDate": dt.date(2026, 11, 25),
                "cCusCode": f"C{i % n:06d}",
                "SO_SODetails": [
                    {"iRowNo": r, "cInvCode": f"I{r}", "iQuantity": r * 2, "iSum": r * 20}
                    for r in (1, 2, 3)
                ],
            },
            key_field="cSOCode",
            key_value=f"SO{i:07d}",
        )
        for i in range(m)
    ]


async def bench_database(kind: str, n: int, m: int, out: list[Figure]) -> None:
    """Every step on one database."""
    with fresh_database(kind) as url:
        engine = sa.create_engine(url)
        schema().create_all(engine)
        with engine.begin() as conn:
            inventory = sa.Table("Inventory", sa.MetaData(), autoload_with=conn)
            conn.execute(
                inventory.insert(),
                [{"cInvCode": f"I{r}", "cInvName": f"物料{r}"} for r in (1, 2, 3)],
            )
        engine.dispose()
        objects = {
            "Customer": {"stamp_column": "dModifyDate"},
            "SO_SOMain": {
                "stamp_column": "dmodifysystime",
                "lines": {"SO_SODetails": {"table": "SO_SODetails", "parent_column": "ID"}},
            },
        }
        direct = SqlConnector(SqlSettings.model_validate({"url": url, "objects": objects}))
        staged_settings = SqlSettings.model_validate({"url": url, "preset": "u8"})
        install_staging_table(staged_settings, apply=True)
        staged = SqlConnector(staged_settings)
        try:
            created, changed = customers(n, ""), customers(n, "改")
            await measure(
                kind,
                f"write Customer upsert (new) x{n}",
                lambda: write_all(direct, "Customer", created, WriteOutcome.CREATED),
                out,
            )
            await measure(
                kind,
                f"write Customer upsert (changed) x{n}",
                lambda: write_all(direct, "Customer", changed, WriteOutcome.UPDATED),
                out,
            )
            batches = (n + BATCH - 1) // BATCH
            await measure(
                kind,
                f"write Customer upsert (changed), 1 refused per batch x{n}",
                lambda: write_all(
                    direct, "Customer", refused_each_batch(n), WriteOutcome.UPDATED, batches
                ),
                out,
            )
            await measure(
                kind,
                f"write SO_SOMain upsert x{m}, 3 lines each",
                lambda: write_all(direct, "SO_SOMain", orders(m, n), WriteOutcome.CREATED),
                out,
            )
            await measure(
                kind,
                f"write Customer staged (U8 preset) x{n}",
                lambda: write_all(staged, "Customer", created, WriteOutcome.CREATED),
                out,
            )
            await measure(
                kind,
                "read_changes Customer (pages of 2000)",
                lambda: read_all(direct, "Customer"),
                out,
            )
            await measure(
                kind,
                "read_changes SO_SOMain with lines (pages of 2000)",
                lambda: read_all(direct, "SO_SOMain"),
                out,
            )
            ids = [f"C{i:06d}" for i in range(n)]

            async def get_all() -> int:
                count = 0
                for start in range(0, n, 500):
                    count += len(await direct.get("Customer", ids[start : start + 500]))
                return count

            await measure(kind, f"get Customer x{n} (500 ids per call)", get_all, out)
        finally:
            await direct.aclose()
            await staged.aclose()


async def main() -> None:
    """Parse arguments, run both databases, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--only", choices=["mariadb", "postgresql"])
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print("| database | step | records | wall s | records/s | CPU s (this process) |")
    print("|---|---|---|---|---|---|")
    out: list[Figure] = []
    for kind in ("mariadb", "postgresql"):
        if args.only in (None, kind):
            await bench_database(kind, args.records, args.orders, out)


if __name__ == "__main__":
    asyncio.run(main())
