"""PostgreSQL's CPU for job snapshots: compressed with pglz (its default) or lz4; stored
as JSONB or as JSON.

    python bench/pg_compression.py [--types] [--rows 10000] [--batch 200] [--rounds 2]

Makes a fresh database, a table with two JSON columns shaped as ``jobs.source_snapshot``
and ``jobs.mapped_payload`` (an order of 5 lines: about 3.6 kB of JSON, as the
round-trip bench's Salesforce orders), and inserts ``--rows`` rows in batches of
``--batch`` through ``json(b)_to_recordset``, as the intake does; ``--rounds`` times,
the variants alternated. Reports the CPU seconds of the server's backend (``/proc``)
and the stored size.

- By default: JSONB compressed with pglz, then with lz4. Migration 0008 chose lz4.
- ``--types``: JSONB against JSON, both lz4; then each batch of rows is claimed back as
  the worker claims jobs (an ``UPDATE … RETURNING`` of both documents), which is timed
  too, in the server and in this process (psycopg parsing the text it gets). Migration
  0009 chose JSON (docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

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


class _Figures(NamedTuple):
    insert_cpu: float  # server CPU seconds for the inserts
    size: int  # bytes stored
    claim_cpu: float  # server CPU seconds for the claims (0 when not asked)
    claim_client_cpu: float  # this process's CPU seconds for the claims


def _round(
    engine: sa.Engine, method: str, kind: str, rows: int, batch: int, *, claim: bool = False
) -> _Figures:
    """One variant: ``method`` (pglz | lz4), ``kind`` (jsonb | json)."""
    assert kind in ("jsonb", "json") and method in ("pglz", "lz4")
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS bench_snapshots"))
        conn.execute(
            sa.text(
                "CREATE TABLE bench_snapshots (id bigserial PRIMARY KEY, source_id varchar, "
                f"state varchar, snapshot {kind}, payload {kind})"
            )
        )
        for column in ("snapshot", "payload"):
            conn.execute(
                sa.text(
                    f"ALTER TABLE bench_snapshots ALTER COLUMN {column} SET COMPRESSION {method}"
                )
            )
    insert = sa.text(
        "INSERT INTO bench_snapshots (source_id, state, snapshot, payload) "  # noqa: S608 - jsonb | json
        "SELECT v.source_id, 'queued', v.snapshot, v.payload "
        f"FROM {kind}_to_recordset(CAST(:rows AS {kind})) "
        f"AS v(source_id varchar, snapshot {kind}, payload {kind})"
    )
    take = sa.text(
        "UPDATE bench_snapshots SET state = 'running' WHERE id > :after AND id <= :until "
        "RETURNING id, snapshot, payload"
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
        cpu0 = proc_cpu_s(pid)
        for page in pages:
            conn.execute(insert, {"rows": page})
            conn.commit()
        cpu = proc_cpu_s(pid) - cpu0
        size = int(
            conn.execute(sa.text("SELECT pg_total_relation_size('bench_snapshots')")).scalar_one()
        )
        claim_cpu = claim_client = 0.0
        if claim:
            cpu0, own0 = proc_cpu_s(pid), time.process_time()
            for start in range(0, rows, batch):
                conn.execute(take, {"after": start, "until": start + batch}).all()
                conn.commit()
            claim_cpu, claim_client = proc_cpu_s(pid) - cpu0, time.process_time() - own0
    engine.dispose()  # its statements were prepared for this round's table
    return _Figures(cpu, size, claim_cpu, claim_client)


def _report(name: str, runs: list[_Figures], rows: int, *, claim: bool) -> None:
    def us(values: list[float]) -> str:
        return ", ".join(f"{1e6 * v / rows:.0f}" for v in values)

    line = (
        f"{name}: server CPU µs per row inserted: {us([r.insert_cpu for r in runs])}; "
        f"stored: {runs[-1].size / 1e6:.1f} MB"
    )
    if claim:
        line += (
            f"; claimed back, server: {us([r.claim_cpu for r in runs])}, "
            f"this process: {us([r.claim_client_cpu for r in runs])}"
        )
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--types", action="store_true", help="JSONB against JSON (both lz4)")
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    variants = (
        {"jsonb": ("lz4", "jsonb"), "json": ("lz4", "json")}
        if args.types
        else {"pglz": ("pglz", "jsonb"), "lz4": ("lz4", "jsonb")}
    )
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
            figures: dict[str, list[_Figures]] = {name: [] for name in variants}
            for _ in range(args.rounds):
                for label, (method, kind) in variants.items():
                    figures[label].append(
                        _round(engine, method, kind, args.rows, args.batch, claim=args.types)
                    )
            for label, runs in figures.items():
                _report(label, runs, args.rows, claim=args.types)
        finally:
            engine.dispose()
            if admin is not None:
                with admin.connect() as conn:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()


if __name__ == "__main__":
    main()
