"""What a lookup by natural key costs a batch, against a lookup by id (engine/lookups.py).

Command: ``.venv/bin/python bench/xref_keys.py [--batch 100,1000] [--rounds 20]``.
A batch of orders, each naming a different customer; the store (SQLite, durable commits)
already has every customer's xref. Three ways, timed per batch:

- ``by id``: ``xref.customer(source.AccountId)`` — one xref query;
- ``by key, stored``: ``xref.customer(source.Code, by="Code")`` with the keys in
  ``xref_keys`` — one key query, then the xref query;
- ``by key, cold``: the same with an empty ``xref_keys`` — one ``find()`` in the source (an
  in-process connector that answers at once, so this is the engine's own cost), saving
  the keys, then the xref query.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from erpbridge.config import load_project_text
from erpbridge.engine.clock import SystemClock
from erpbridge.engine.lookups import resolve_lookups
from erpbridge.engine.plans import build_plans
from erpbridge.engine.runtime import Runtime
from erpbridge.engine.xref import save_xrefs
from erpbridge.spi import ConnectionSettings, ConnectorRegistry, ConnectorSpec, Limits
from erpbridge.spi.records import Record, WriteOp, WriteResult
from erpbridge.store import open_store
from erpbridge.store.schema import xref_keys

PROJECT = """\
connections:
  crm: {type: dict}
  erp: {type: dict}
flows:
  customers:
    entity: customer
    source: {connection: crm, object: Account}
    target: {connection: erp, object: Customer, write: upsert, key: Code}
    map: {Code: source.Code}
  orders:
    source: {connection: crm, object: Order}
    target: {connection: erp, object: SalesOrder, write: upsert, key: No}
    map:
      No: source.No
      ById: xref.customer(source.AccountId)
      ByKey: xref.customer(source.Code, by="Code")
"""


class DictSource:
    """Customers in memory; ``find`` answers at once."""

    system = "dict"

    def __init__(self, count: int) -> None:
        self.limits = Limits(concurrency=8)
        self.records = {
            f"C{n:06d}": Record("Account", f"A{n:06d}", {"Code": f"C{n:06d}"}, "1")
            for n in range(count)
        }

    async def find(self, object: str, key_field: str, values: Sequence[object]) -> list[Record]:
        return [self.records[str(v)] for v in values if str(v) in self.records]

    async def get(self, object: str, ids: Sequence[str]) -> list[Record]:
        return []

    async def write(self, object: str, ops: Sequence[WriteOp]) -> list[WriteResult]:
        raise NotImplementedError

    async def check(self):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


async def run(batch: int, rounds: int, tmp: Path) -> dict[str, float]:
    source = DictSource(batch)
    registry = ConnectorRegistry(builtin={}, use_entry_points=False)
    registry.register(
        ConnectorSpec(name="dict", settings=ConnectionSettings, create=lambda s, h: source)  # type: ignore[arg-type,return-value]
    )
    project = load_project_text(PROJECT, path=tmp / "erpbridge.yaml", registry=registry, environ={})
    plan = build_plans(project)["orders"]
    store = open_store(f"sqlite:///{tmp / f'bench-{batch}.db'}")
    runtime = Runtime(project, registry, SystemClock())
    clock = SystemClock()
    with store.begin() as conn:
        pairs = {r.id: f"T{r.id}" for r in source.records.values()}
        save_xrefs(conn, ("customer", "crm", "erp"), pairs, datetime.now(UTC))
    by_id = {("customer", r.id) for r in source.records.values()}
    by_key = {("customer@Code", code) for code in source.records}
    out: dict[str, list[float]] = {"by id": [], "by key, stored": [], "by key, cold": []}
    for _ in range(rounds):
        for name, requests in (("by id", by_id), ("by key, stored", by_key)):
            t0 = time.perf_counter()
            found = await resolve_lookups(store, runtime, plan, requests, clock)
            out[name].append(time.perf_counter() - t0)
            assert all(found.xrefs.values()), name
        with store.begin() as conn:
            conn.execute(xref_keys.delete())
        t0 = time.perf_counter()
        found = await resolve_lookups(store, runtime, plan, by_key, clock)
        out["by key, cold"].append(time.perf_counter() - t0)
        assert all(found.xrefs.values())
    store.dispose()
    return {name: statistics.median(times) * 1000 for name, times in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", default="100,1000")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    print("| batch | by id | by key, stored | by key, cold |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="erpbridge-bench-") as folder:
        for batch in (int(b) for b in args.batch.split(",")):
            ms = asyncio.run(run(batch, args.rounds, Path(folder)))
            cells = " | ".join(
                f"{ms[k]:.1f} ms" for k in ("by id", "by key, stored", "by key, cold")
            )
            print(f"| {batch} | {cells} |")


if __name__ == "__main__":
    main()
