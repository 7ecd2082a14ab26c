"""Intake of changes already queued: a stock table read whole each poll, a poll's overlap.

    python bench/intake_dups.py [--records 20000] [--page 500] [--backend sqlite|postgresql]

Takes ``--records`` changes with a record of 12 fields each in (pages of ``--page``), then
the very same changes again, and reports the CPU and wall seconds of both passes: the
second pass is all duplicates (docs/performance.md, "Engine"). On PostgreSQL the bench
makes a fresh database and drops it after (bench/_e2e_setup.py ``store_url``), and
``ANALYZE``s the jobs table between the passes, as autovacuum would have on a store in
use (on a table filled a moment ago, without statistics, the planner walks every job of
the flow for each lookup).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from _e2e_setup import store_url

from erpbridge.engine.clock import ManualClock
from erpbridge.engine.intake import intake_changes
from erpbridge.engine.jobs import Trigger
from erpbridge.spi.records import Change, Record
from erpbridge.store import open_store

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _changes(count: int) -> list[Change]:
    out = []
    for n in range(count):
        fields: dict[str, object] = {
            "Material": f"M-{n:06d}",
            "Plant": "1710",
            "StorageLocation": "171A",
            "Batch": "",
            "InventoryStockType": "01",
            "InventorySpecialStockType": "",
            "MatlWrhsStkQtyInMatlBaseUnit": Decimal(n % 997),
            "MaterialBaseUnit": "PC",
            "Supplier": "",
            "Customer": "",
            "WBSElementInternalID": "",
            "SDDocument": "",
        }
        record = Record("A_MatlStkInAcctMod", f"S{n}", fields, f"sha256:{n:024x}", None)
        out.append(Change.of(record))
    return out


def _pass(store: sa.Engine, changes: list[Change], page: int, clock: ManualClock) -> tuple:
    cpu, wall = time.process_time(), time.perf_counter()
    queued = duplicates = 0
    for start in range(0, len(changes), page):
        result = intake_changes(
            store, ["stock"], changes[start : start + page], Trigger.POLL, clock
        )
        queued += result.queued
        duplicates += result.duplicates
    return time.process_time() - cpu, time.perf_counter() - wall, queued, duplicates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--page", type=int, default=500)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    changes = _changes(args.records)
    clock = ManualClock(T0 + timedelta(days=1))
    with tempfile.TemporaryDirectory() as tmp:
        url, admin, name = store_url(args.backend, Path(tmp))
        store = open_store(url)
        try:
            first = _pass(store, changes, args.page, clock)
            if admin is not None:  # as autovacuum would, before the next poll's read
                with store.begin() as conn:
                    conn.execute(sa.text("ANALYZE jobs"))
            again = _pass(store, changes, args.page, clock)
        finally:
            store.dispose()
            if admin is not None and name is not None:
                with admin.connect() as conn:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    for name, (cpu, wall, queued, dups) in (("first", first), ("again", again)):
        print(
            f"{args.backend} {name}: {args.records} changes, queued {queued}, duplicates "
            f"{dups}: {cpu:.2f} s CPU, {wall:.2f} s wall, "
            f"{args.records / max(wall, 1e-9):,.0f} changes/s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
