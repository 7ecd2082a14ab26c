"""The demo's webhook receiver: the hub's HTTP app served as ``erpbridge serve`` serves it
(``create_app`` under uvicorn, cli/engine.py), on 127.0.0.1 and a free port, for the
demo's duration only."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import uvicorn

from erpbridge.api.app import create_app
from erpbridge.engine.hub import Hub

__all__ = ["serving_hooks"]

#: how long to wait for the server to listen (it normally takes milliseconds).
_START_TIMEOUT_S = 10.0


@contextlib.asynccontextmanager
async def serving_hooks(hub: Hub) -> AsyncIterator[str | None]:
    """Serve ``hub``'s app (``/hooks/<connection>``, ``/healthz``, ``/metrics``) in this
    event loop until the block ends; yields its base URL (``http://127.0.0.1:<port>``), or
    None when it could not listen."""
    config = uvicorn.Config(
        create_app(hub), host="127.0.0.1", port=0, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    # The demo owns Ctrl-C; uvicorn must not take the signals (as in cli/engine.py).
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(int(_START_TIMEOUT_S / 0.05)):
            if server.started or task.done():
                break
            await asyncio.sleep(0.05)
        ports = [s.getsockname()[1] for srv in server.servers for s in srv.sockets]
        yield f"http://127.0.0.1:{ports[0]}" if server.started and ports else None
    finally:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)
