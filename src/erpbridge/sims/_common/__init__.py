"""Shared simulator infrastructure (see README.md in this folder).

- :mod:`.spec`: ``SimulatorSpec``, what a simulator package exports as ``SIMULATOR``.
- :mod:`.faults`: ``FaultConfig`` and ``FaultMiddleware`` (latency, 5xx, throttling,
  hangs, lost replies), deterministic with a seed.
- :mod:`.persist`: ``DocumentStore``, SQLite persistence of records (WAL).
- :mod:`.tls`: ``make_tls_material``, a throw-away CA and server certificate.
- :mod:`.server`: ``serve_app`` / ``run_simulator``, uvicorn on 127.0.0.1 in a thread.
- :mod:`.profile`: ``ProfiledApp``, cProfile on demand (``ERPBRIDGE_SIM_PROFILE_DIR``).
- :mod:`.ranges`: ``RangeIndex``, a sorted index of one field for reads from a stamp on.
"""

from erpbridge.sims._common.faults import FaultConfig, FaultKind, FaultMiddleware
from erpbridge.sims._common.persist import DocumentStore
from erpbridge.sims._common.server import RunningServer, RunningSimulator, run_simulator, serve_app
from erpbridge.sims._common.spec import SimulatorContext, SimulatorSpec
from erpbridge.sims._common.tls import TlsMaterial, make_tls_material

__all__ = [
    "DocumentStore",
    "FaultConfig",
    "FaultKind",
    "FaultMiddleware",
    "RunningServer",
    "RunningSimulator",
    "SimulatorContext",
    "SimulatorSpec",
    "TlsMaterial",
    "make_tls_material",
    "run_simulator",
    "serve_app",
]
