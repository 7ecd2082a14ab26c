"""PostgreSQL's CPU for writing job snapshots, compressed with pglz (its default) or lz4.

    python bench/pg_compression.py [--rows 10000] [--batch 200] [--rounds 2]

Makes a fresh database, a table with two JSONB columns shaped as ``jobs.source_snapshot``
and ``jobs.mapped_payload`` (an order of 5 lines: about 3.6 kB of JSON, as the
round-trip bench's Salesforce orders), and inserts ``--rows`` rows in batches of
``--batch`` through ``jsonb_to_recordset``, as the intake does; once with each
compression method, ``--rounds`` times alternated. Reports the CPU seconds of the
server's backend (``/proc``) and the stored size. Migration 0008 chose lz4 from it
(docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from _e2e_setup import store_url
from _measure import proc_cpu_s


def _snapshot(n: int) -> dict[str, object]:
    lines = [
        {
            "attributes": {"type": "OrderItem", "url": f"/services/data/v59.0/sobjects/{i}"},
            "Id": f"802Sm0000{n:05d}{i}AAA",
            "Product2Id": f"01tSm0000{i:05d}AAA",
            "ProductCode": f"P-{i:05d}",
            "Quantity": 3.0,
            "UnitPrice": "12.50",
            "TotalPrice": "37.50",
            "ListPrice": "13.00",
            "Description": "一些描述 some text",
            "ServiceDate": "2026-11-26",
        }
        for i in range(5)
    ]
    fields = {
        "Id": f"801Sm0000{n:06d}AAA",
        "AccountId": "001Sm000000abcdIAA",
        "OrderNumber": f"{n:08d}",
        "Status": "Activated",
        "EffectiveDate": "2026-11-26",
        "TotalAmount": "187.50",
        "CurrencyIsoCode": "CNY",
        "Description": None,
        "SAP_Order_Number__c": None,
        "SAP_Status__c": None,
        "Credit_Hold__c": False,
        "BillingAddress": {"city": "上海", "street": "世纪大道 100 号", "postalCode": "200120"},
        "OrderItems": {"totalSize": 5, "done": True, "records": lines},
    }
    return {"object": "Order", "id": fields["Id"], "version": "v1", "fields": fields}


def _round(engine: sa.Engine, method: str, rows: int, batch: int) -> tuple[float, float, int]:
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS bench_snapshots"))
        conn.execute(
            sa.text(
                "CREATE TABLE bench_snapshots "
                "(id bigserial PRIMARY KEY, source_id varchar, snapshot jsonb, payload jsonb)"
            )
        )
        for column in ("snapshot", "payload"):
            conn.execute(
                sa.text(
                    f"ALTER TABLE bench_snapshots ALTER COLUMN {column} SET COMPRESSION {method}"
                )
            )
    insert = sa.text(
        "INSERT INTO bench_snapshots (source_id, snapshot, payload) "
        "SELECT v.source_id, v.snapshot, v.payload "
        "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) "
        "AS v(source_id varchar, snapshot jsonb, payload jsonb)"
    )
    pages = [
        json.dumps(
            [
                {"source_id": str(n), "snapshot": _snapshot(n), "payload": _snapshot(n)["fields"]}
                for n in range(start, min(rows, start + batch))
            ]
        )
        for start in range(0, rows, batch)
    ]
    with engine.connect() as conn:
        pid = int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
        cpu0, wall0 = proc_cpu_s(pid), time.perf_counter()
        for page in pages:
            conn.execute(insert, {"rows": page})
            conn.commit()
        cpu, wall = proc_cpu_s(pid) - cpu0, time.perf_counter() - wall0
        size = int(
            conn.execute(sa.text("SELECT pg_total_relation_size('bench_snapshots')")).scalar_one()
        )
    return cpu, wall, size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url, admin, name = store_url("postgresql", Path(folder))
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                methods = conn.execute(
                    sa.text(
                        "SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'"
                    )
                ).scalar_one()
            if "lz4" not in methods:
                sys.exit("this PostgreSQL server was built without lz4")
            figures: dict[str, list[tuple[float, float, int]]] = {"pglz": [], "lz4": []}
            for _ in range(args.rounds):
                for method in figures:
                    figures[method].append(_round(engine, method, args.rows, args.batch))
            for method, runs in figures.items():
                cpus = ", ".join(f"{cpu:.2f}" for cpu, _, _ in runs)
                print(
                    f"{method}: server CPU s for {args.rows} rows: {cpus}; "
                    f"µs per row: {1e6 * min(c for c, _, _ in runs) / args.rows:.0f}; "
                    f"stored: {runs[-1][2] / 1e6:.1f} MB"
                )
        finally:
            engine.dispose()
            if admin is not None:
                with admin.connect() as conn:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()


if __name__ == "__main__":
    main()
