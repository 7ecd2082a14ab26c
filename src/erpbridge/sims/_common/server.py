"""Run an ASGI app with uvicorn on 127.0.0.1 in a background thread.

:func:`serve_app` binds the socket itself before the app starts, so with ``port=0`` the
real port is known at once; :func:`run_simulator` uses that to tell a simulator its own
base URL before its app is built. Both are context managers that stop the server cleanly
(the app's ASGI lifespan shutdown runs; requests still hanging are cut after 1 s).
With ``ERPBRIDGE_SIM_PROFILE_DIR`` set, a simulator can be profiled (profile.py).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from erpbridge.sims._common.faults import FaultConfig
from erpbridge.sims._common.profile import ProfiledApp, profile_path
from erpbridge.sims._common.spec import SimulatorContext, SimulatorSpec
from erpbridge.sims._common.tls import TlsMaterial, make_tls_material

__all__ = ["RunningServer", "RunningSimulator", "bind_socket", "run_simulator", "serve_app"]

#: how long to wait for uvicorn to start or stop before giving up.
_START_TIMEOUT_S = 15.0


@dataclass(frozen=True, slots=True)
class RunningServer:
    """A server that is accepting connections."""

    host: str
    port: int
    base_url: str
    tls: TlsMaterial | None


@dataclass(frozen=True, slots=True)
class RunningSimulator:
    """A simulator that is serving, with its ports-file entry."""

    name: str
    base_url: str
    ca_file: Path | None
    entry: Mapping[str, object]
    app: ASGIApp


def bind_socket(port: int = 0, host: str = "127.0.0.1") -> socket.socket:
    """A listening-ready TCP socket bound to ``host:port`` (port 0 = any free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit TCP_NODELAY. Without it a response's headers and body
    # (separate writes) wait for the client's delayed ACK: ~40 ms per request on Linux.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


@contextmanager
def serve_app(
    app: ASGIApp,
    *,
    sock: socket.socket | None = None,
    port: int = 0,
    tls: TlsMaterial | None = None,
    log_level: str = "warning",
) -> Iterator[RunningServer]:
    """Serve ``app`` on 127.0.0.1 until the block ends.

    Args:
        app: any ASGI app.
        sock: an already bound socket (see :func:`bind_socket`); else one is bound to ``port``.
        port: used when ``sock`` is None. Default 0 (any free port).
        tls: serve HTTPS with this certificate. Default None (plain HTTP).
        log_level: uvicorn's log level. Default "warning".

    Raises:
        RuntimeError: uvicorn did not start within 15 s (the reason is in its log).
    """
    sock = sock or bind_socket(port)
    host, real_port = sock.getsockname()[:2]
    config = uvicorn.Config(
        app,
        log_level=log_level,
        lifespan="auto",
        timeout_graceful_shutdown=1,
        ssl_certfile=str(tls.cert_file) if tls else None,
        ssl_keyfile=str(tls.key_file) if tls else None,
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn:{real_port}", daemon=True
    )
    thread.start()
    tick = threading.Event()  # never set: used as an interruptible 10 ms wait
    deadline = time.monotonic() + _START_TIMEOUT_S
    while thread.is_alive() and not server.started and time.monotonic() < deadline:
        tick.wait(0.01)
    if not server.started:
        server.should_exit = True
        thread.join(_START_TIMEOUT_S)
        sock.close()
        raise RuntimeError(f"server on {host}:{real_port} did not start")
    scheme = "https" if tls else "http"
    try:
        yield RunningServer(host, real_port, f"{scheme}://{host}:{real_port}", tls)
    finally:
        server.should_exit = True
        thread.join(_START_TIMEOUT_S)
        sock.close()


@contextmanager
def run_simulator(
    spec: SimulatorSpec,
    data_dir: Path,
    *,
    seed: int = 0,
    faults: FaultConfig | None = None,
    port: int = 0,
    log_level: str = "warning",
) -> Iterator[RunningSimulator]:
    """Build and serve one simulator until the block ends.

    Args:
        spec: the simulator's ``SIMULATOR``.
        data_dir: its own directory (created); holds its SQLite file and TLS material.
        seed: data and fault seed. Default 0.
        faults: faults to inject. Default none.
        port: 0 = any free port.
        log_level: uvicorn's log level.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    sock = bind_socket(port)
    real_port = sock.getsockname()[1]
    tls = make_tls_material(data_dir / "tls") if spec.needs_tls else None
    base_url = f"{'https' if tls else 'http'}://127.0.0.1:{real_port}"
    context = SimulatorContext(
        data_dir=data_dir, seed=seed, faults=faults or FaultConfig(), base_url=base_url
    )
    try:
        app = spec.create_app(context)
    except BaseException:
        sock.close()
        raise
    ca_file = tls.ca_file if tls else None
    profile_to = profile_path(spec.name)
    served: ASGIApp = ProfiledApp(app, profile_to) if profile_to is not None else app
    with serve_app(served, sock=sock, tls=tls, log_level=log_level):
        yield RunningSimulator(
            name=spec.name,
            base_url=base_url,
            ca_file=ca_file,
            entry=dict(spec.connection_entry(base_url, ca_file)),
            app=app,
        )
