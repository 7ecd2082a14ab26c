"""End to end: Salesforce orders → hub → SAP sales orders → status back, simulators in
their own process (``erpbridge sandbox``), the hub in this one.

    python bench/e2e.py [--store sqlite|postgresql]

Syncs the seeded CRM master data first (customers, products; not timed), then times
``orders-to-sap`` for every activated seeded order (with their lines) and
``orders-from-sap`` (SAP's number and status back onto the CRM order), and reports orders/s
for each, the CPU split between the hub and the simulator process, and peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from erpbridge.cli.demo import dotenv_lines  # noqa: E402
from erpbridge.config import load_project  # noqa: E402
from erpbridge.engine.clock import SystemClock  # noqa: E402
from erpbridge.engine.intake import sync_flow  # noqa: E402
from erpbridge.engine.plans import build_plans  # noqa: E402
from erpbridge.engine.runtime import Runtime  # noqa: E402
from erpbridge.engine.worker import Worker  # noqa: E402
from erpbridge.flows.templates import template_files  # noqa: E402
from erpbridge.log import configure_logging  # noqa: E402
from erpbridge.store import open_store  # noqa: E402
from erpbridge.store.schema import jobs  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _flow(
    store: sa.Engine, runtime: Runtime, plans: dict, flow: str, clock: SystemClock
) -> tuple[float, int]:  # type: ignore[type-arg]
    started = time.perf_counter()
    await sync_flow(store, runtime, flow, clock)
    worker = Worker(store, runtime, plans, clock=clock, claim_size=500)
    while await worker.run_once():
        pass
    with store.connect() as conn:
        written = int(
            conn.execute(
                sa.select(sa.func.count()).where(
                    jobs.c.flow == flow, jobs.c.outcome.in_(("created", "updated"))
                )
            ).scalar_one()
        )
    return time.perf_counter() - started, written


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", default="sqlite", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    configure_logging(0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, text in template_files("sf-sap").items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text, encoding="utf-8")
        ports = folder / "sandbox.json"
        sim = subprocess.Popen(  # noqa: S603 - our own CLI
            [
                sys.executable,
                "-m",
                "erpbridge.cli.main",
                "sandbox",
                "--only",
                "salesforce,sap",
                "--ports-file",
                str(ports),
                "--data-dir",
                str(folder / "sandbox"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        admin = name = None
        try:
            for _ in range(200):
                if ports.exists():
                    break
                time.sleep(0.1)
            entries = json.loads(ports.read_text())
            (folder / ".env").write_text("\n".join(dotenv_lines(entries)) + "\n", encoding="utf-8")
            url = f"sqlite:///{folder / 'store.db'}"
            if args.store == "postgresql":
                admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
                name = f"erpbridge_e2e_{uuid.uuid4().hex[:8]}"
                with admin.connect() as conn:
                    conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
                url = sa.make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
            os.environ["ERPBRIDGE_DB_URL"] = url
            project = load_project(folder / "erpbridge.yaml")
            store = open_store(url)
            runtime = Runtime(project)
            plans = build_plans(project)
            clock = SystemClock()

            async def go() -> dict[str, object]:
                try:
                    for flow in ("customers-to-sap", "products-to-sap"):
                        await _flow(store, runtime, plans, flow, clock)
                    hub_cpu, sim_cpu = time.process_time(), _cpu_of(sim.pid)
                    to_s, orders = await _flow(store, runtime, plans, "orders-to-sap", clock)
                    hub_to, sim_to = time.process_time() - hub_cpu, _cpu_of(sim.pid) - sim_cpu
                    back_s, statuses = await _flow(store, runtime, plans, "orders-from-sap", clock)
                    return {
                        "store": args.store,
                        "orders": orders,
                        "orders_to_sap_s": round(to_s, 2),
                        "orders_per_s": round(orders / to_s, 1),
                        "statuses_back": statuses,
                        "statuses_per_s": round(statuses / back_s, 1),
                        "cpu_share_hub": round(hub_to / (hub_to + sim_to), 2),
                        "cpu_share_simulators": round(sim_to / (hub_to + sim_to), 2),
                        "hub_peak_rss_mb": round(
                            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
                        ),
                    }
                finally:
                    await runtime.aclose()

            print(asyncio.run(go()), flush=True)
            store.dispose()
        finally:
            sim.terminate()
            sim.wait(timeout=30)
            if admin is not None and name is not None:
                with admin.connect() as conn:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return 0


if __name__ == "__main__":
    sys.exit(main())
