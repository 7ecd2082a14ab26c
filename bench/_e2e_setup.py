"""What bench/e2e.py sets up before it times anything: simulators, project, store, orders.

Not a benchmark itself (``run_all.py`` skips files starting with ``_``).
"""

from __future__ import annotations

import io
import json
import os
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from ruamel.yaml import YAML

from erpbridge.cli.demo import dotenv_lines
from erpbridge.flows.templates import template_files
from erpbridge.spi import WriteMode, WriteOp, WriteOutcome
from erpbridge.spi.connector import Connector
from erpbridge.store.schema import xref

__all__ = [
    "PG_ADMIN",
    "activate_orders",
    "draft_orders",
    "profile_sims",
    "project_folder",
    "simulators",
    "store_url",
]

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@contextmanager
def simulators(
    folder: Path, names: Sequence[str], *, profile_dir: Path | None = None
) -> Iterator[tuple[dict[str, Any], list[int]]]:
    """Each simulator in its own ``erpbridge sandbox`` process; yields (ports entries, pids).

    With ``profile_dir``, each simulator can be profiled (``ERPBRIDGE_SIM_PROFILE_DIR``):
    :func:`profile_sims` starts and stops it, and the stop writes ``<name>.prof`` there.
    """
    procs = []
    entries: dict[str, Any] = {}
    env = dict(os.environ)
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)
        env["ERPBRIDGE_SIM_PROFILE_DIR"] = str(profile_dir.resolve())
    try:
        for name in names:
            ports = folder / f"sandbox-{name}.json"
            procs.append(
                subprocess.Popen(  # noqa: S603 - our own CLI
                    [
                        sys.executable,
                        "-m",
                        "erpbridge.cli.main",
                        "sandbox",
                        "--only",
                        name,
                        "--ports-file",
                        str(ports),
                        "--data-dir",
                        str(folder / "sandbox"),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    env=env,
                )
            )
            for _ in range(300):
                if ports.exists():
                    break
                time.sleep(0.1)
            entries.update(json.loads(ports.read_text()))
        yield entries, [p.pid for p in procs]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


async def profile_sims(entries: dict[str, Any], action: str) -> None:
    """``start`` or ``stop`` the profile of every simulator in ``entries`` (see
    ``erpbridge.sims._common.profile``; the simulators must run with a profile dir)."""
    for entry in entries.values():
        url = httpx.URL(str(entry["base_url"]))
        ca_file = entry.get("ca_file")
        verify: Any = ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
        async with httpx.AsyncClient(verify=verify, timeout=60) as http:
            answer = await http.post(f"{url.scheme}://{url.host}:{url.port}/_sim/profile/{action}")
            answer.raise_for_status()


def project_folder(
    folder: Path,
    entries: dict[str, Any],
    *,
    limits: dict[str, dict[str, int]],
    flows: Sequence[str] | None = None,
    polls: dict[str, dict[str, str]] | None = None,
) -> Path:
    """The sf-sap template in ``folder`` with its .env, the bench's limits, and (when
    ``flows`` is given) only those flows enabled and no poll triggers (webhooks only).
    ``polls`` sets trigger keys of flows (``{"orders-from-sap": {"poll": "2s"}}``)."""
    yaml = YAML()
    for name, text in template_files("sf-sap").items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name == "erpbridge.yaml":
            data = yaml.load(text)
            for connection, values in limits.items():
                data["connections"][connection]["limits"].update(values)
            if flows is not None:
                for flow_name, flow in data["flows"].items():
                    flow["enabled"] = flow_name in flows
                    flow["source"]["trigger"].pop("poll", None)
                    flow["source"]["trigger"].pop("schedule", None)
            for flow_name, values in (polls or {}).items():
                data["flows"][flow_name]["source"]["trigger"].update(values)
            out = io.StringIO()
            yaml.dump(data, out)
            text = out.getvalue()
        path.write_text(text, encoding="utf-8")
    (folder / ".env").write_text("\n".join(dotenv_lines(entries)) + "\n", encoding="utf-8")
    return folder / "erpbridge.yaml"


def store_url(kind: str, folder: Path) -> tuple[str, sa.Engine | None, str | None]:
    """(url, admin engine, database name): a file on SQLite, a fresh database on PostgreSQL."""
    if kind == "sqlite":
        return f"sqlite:///{folder / 'store.db'}", None, None
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"erpbridge_e2e_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return (
        sa.make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False),
        admin,
        name,
    )


async def _check(results: Sequence[Any], what: str) -> list[str]:
    bad = [r for r in results if r.outcome is WriteOutcome.FAILED]
    if bad:
        raise SystemExit(f"bench setup: {len(bad)} {what} failed, first: {bad[0].error}")
    return [str(r.target_id) for r in results]


async def draft_orders(
    store: sa.Engine, salesforce: Connector, count: int, lines: int
) -> list[str]:
    """``count`` Draft orders of accounts and products already in SAP (xref), ``lines``
    items each, created through the Salesforce REST API (sObject Collections)."""
    with store.connect() as conn:
        accounts = sorted(
            str(r[0])
            for r in conn.execute(sa.select(xref.c.source_id).where(xref.c.entity == "customer"))
        )
        products = {
            str(r[0])
            for r in conn.execute(sa.select(xref.c.source_id).where(xref.c.entity == "product"))
        }
    [book] = await salesforce.find("Pricebook2", "IsStandard", [True])
    entries = [
        e
        for e in await salesforce.find("PricebookEntry", "Pricebook2Id", [book.id])
        if e.fields.get("Product2Id") in products
    ]
    if not accounts or len(entries) < lines:
        raise SystemExit("bench setup: too few synced accounts or products")
    orders = [
        WriteOp(
            mode=WriteMode.CREATE,
            fields={
                "AccountId": accounts[n % len(accounts)],
                "EffectiveDate": date.today().isoformat(),
                "Status": "Draft",
                "Pricebook2Id": book.id,
                "Region__c": "华东",
                "PoNumber": f"BENCH-{n}",
            },
            ref=str(n),
        )
        for n in range(count)
    ]
    ids: list[str] = []
    for start in range(0, count, 200):
        ids += await _check(await salesforce.write("Order", orders[start : start + 200]), "orders")
    items = [
        WriteOp(
            mode=WriteMode.CREATE,
            fields={
                "OrderId": order_id,
                "PricebookEntryId": entries[(n + k) % len(entries)].id,
                "Quantity": float(1 + (n + k) % 20),
                "UnitPrice": entries[(n + k) % len(entries)].fields.get("UnitPrice"),
                "Description": f"bench line {k + 1}",
            },
            ref=f"{n}.{k}",
        )
        for n, order_id in enumerate(ids)
        for k in range(lines)
    ]
    for start in range(0, len(items), 200):
        await _check(await salesforce.write("OrderItem", items[start : start + 200]), "items")
    return ids


async def activate_orders(salesforce: Connector, ids: Sequence[str]) -> None:
    """Set ``Status = Activated`` on these orders (sObject Collections, 200 per call)."""
    ops = [
        WriteOp(mode=WriteMode.UPDATE, fields={"Status": "Activated"}, target_id=i, ref=i)
        for i in ids
    ]
    for start in range(0, len(ops), 200):
        await _check(await salesforce.write("Order", ops[start : start + 200]), "activations")
