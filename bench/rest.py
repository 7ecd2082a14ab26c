"""Generic REST connector writes: one call per record against a batch endpoint.

Serves a small JSON API (Starlette under uvicorn, loopback HTTP) in a child process:
``POST /customers`` creates one record, ``POST /customers/batch`` takes ``{"records":
[...]}`` and answers ``{"results": [{"id": …, "error": null}, …]}``. In this process the
rest connector writes N new records through ``write()`` in calls of 500 ops (the engine's
chunks): once without ``batch`` (one POST per record, ``limits.concurrency`` at once),
once with ``batch: {path: /customers/batch, max_records: 100}``.

Reports records per second and where the CPU went (the API's process against this one).

Run: ``.venv/bin/python bench/rest.py [--records 5000]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import subprocess
import sys
import time

import httpx
import structlog
from _measure import measure

from erpbridge.connectors.rest import RestConnector, RestSettings
from erpbridge.spi.records import WriteMode, WriteOp, WriteOutcome

CALL = 500

_SERVE = """
import json, sys
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

state = {"next": 0, "records": {}}

def _create(body):
    state["next"] += 1
    new_id = f"N{state['next']}"
    state["records"][new_id] = {**body, "id": new_id}
    return new_id

async def one(request: Request):
    return JSONResponse({"id": _create(json.loads(await request.body()))}, 201)

async def batch(request: Request):
    records = json.loads(await request.body())["records"]
    return JSONResponse({"results": [{"id": _create(r), "error": None} for r in records]})

app = Starlette(routes=[Route("/customers", one, methods=["POST"]),
                        Route("/customers/batch", batch, methods=["POST"])])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            access_log=False)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_api(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", _SERVE, str(port)], stdout=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the API did not start")


def _ops(start: int, count: int) -> list[WriteOp]:
    return [
        WriteOp(
            WriteMode.CREATE,
            {"name": f"华北机械有限公司{n}", "email": f"c{n}@example.com", "credit": "1200.50"},
            idempotency_key=f"bench:{n}:1",
            ref=str(n),
        )
        for n in range(start, start + count)
    ]


async def _write(port: int, records: int, batch: bool) -> int:
    obj: dict[str, object] = {"path": "/customers"}
    if batch:
        obj["batch"] = {"path": "/customers/batch", "max_records": 100}
    settings = RestSettings.model_validate(
        {
            "base_url": f"http://127.0.0.1:{port}",
            "objects": {"Customer": obj},
            "limits": {"concurrency": 4, "timeout_s": 30},
        }
    )
    created = 0
    async with httpx.AsyncClient(timeout=30) as http:
        connector = RestConnector(settings, http)
        for start in range(0, records, CALL):
            results = await connector.write("Customer", _ops(start, min(CALL, records - start)))
            created += sum(r.outcome is WriteOutcome.CREATED for r in results)
    if created != records:
        raise RuntimeError(f"{created} of {records} created")
    return created


async def _run(records: int) -> None:
    print(
        f"# {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{records:,} records, calls of {CALL} ops"
    )
    print("| step | records | wall s | records/s | API CPU s | client CPU s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, batch in (("one POST per record (4 at once)", False), ("batch of 100", True)):
        port = _free_port()
        proc = _start_api(port)
        try:
            figure = await measure(name, proc.pid, lambda p=port, b=batch: _write(p, records, b))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        print(figure.line(), flush=True)


def main() -> int:
    """Parse arguments and print a Markdown table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=5000)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    asyncio.run(_run(args.records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
