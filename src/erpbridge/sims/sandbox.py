"""Start simulators together and write the ports file (``erpbridge sandbox``).

The ports file is JSON keyed by each system's short name; each entry holds exactly the
settings a connection to that simulator needs (docs/sandbox.md)::

    {"salesforce": {"base_url": "https://127.0.0.1:50123", "username": ..., ...}}

It is written atomically once every simulator serves, and removed on a clean stop, so
its presence means "the sandbox is up".
"""

from __future__ import annotations

import difflib
import importlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from erpbridge.sims._common.faults import FaultConfig
from erpbridge.sims._common.server import RunningSimulator, run_simulator
from erpbridge.sims._common.spec import SimulatorSpec
from erpbridge.spi.errors import ConfigError

__all__ = ["SIMULATORS", "load_simulator", "parse_faults", "run_sandbox", "write_ports_file"]

#: every simulator: short name -> "module:attribute" holding its SimulatorSpec.
SIMULATORS: dict[str, str] = {
    "salesforce": "erpbridge.sims.salesforce:SIMULATOR",
    "kingdee": "erpbridge.sims.kingdee:SIMULATOR",
    "sap": "erpbridge.sims.sap:SIMULATOR",
    "jiandaoyun": "erpbridge.sims.jiandaoyun:SIMULATOR",
    "oracle": "erpbridge.sims.oracle:SIMULATOR",
    "yonbip": "erpbridge.sims.yonbip:SIMULATOR",
    "yonyou": "erpbridge.sims.yonyou:SIMULATOR",
}


def load_simulator(name: str, registry: Mapping[str, str] | None = None) -> SimulatorSpec:
    """The spec of simulator ``name``.

    Raises:
        ConfigError: unknown name (with a did-you-mean) or a simulator that fails to load.
    """
    table = SIMULATORS if registry is None else registry
    if name not in table:
        hint = difflib.get_close_matches(name, list(table), n=1)
        extra = f"; did you mean {hint[0]!r}?" if hint else f" (known: {', '.join(sorted(table))})"
        raise ConfigError(f"unknown simulator {name!r}{extra}", field="only")
    module_name, _, attr = table[name].partition(":")
    try:
        spec = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"simulator {name!r} failed to load: {exc}") from exc
    if not isinstance(spec, SimulatorSpec):
        raise ConfigError(f"simulator {name!r} does not export a SimulatorSpec")
    return spec


def parse_faults(items: Iterable[str], names: Iterable[str]) -> dict[str, FaultConfig]:
    """Per-simulator faults from ``--fault`` items.

    ``key=value`` applies to every simulator; ``name:key=value`` only to simulator
    ``name`` (and wins over the general item for that key).

    Raises:
        ValueError: a bad item, or a prefix that names no simulator of this run.
    """
    chosen = list(names)
    general: list[str] = []
    targeted: dict[str, list[str]] = {name: [] for name in chosen}
    for item in items:
        head, sep, _ = item.partition("=")
        prefix, colon, _ = head.partition(":")
        if sep and colon:
            if prefix.strip() not in targeted:
                raise ValueError(
                    f"fault {item!r}: {prefix.strip()!r} is not a simulator of this run "
                    f"(running: {', '.join(chosen)})"
                )
            targeted[prefix.strip()].append(item.split(":", 1)[1])
        else:
            general.append(item)
    return {name: FaultConfig.parse([*general, *targeted[name]]) for name in chosen}


def write_ports_file(path: Path, running: Mapping[str, RunningSimulator]) -> None:
    """Write ``{name: entry}`` as JSON, atomically (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    body = {name: dict(sim.entry) for name, sim in sorted(running.items())}
    tmp.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


@contextmanager
def run_sandbox(
    data_dir: Path,
    *,
    only: Sequence[str] | None = None,
    seed: int = 0,
    faults: FaultConfig | Mapping[str, FaultConfig] | None = None,
    ports_file: Path | None = None,
    registry: Mapping[str, str] | None = None,
) -> Iterator[dict[str, RunningSimulator]]:
    """Serve the chosen simulators until the block ends.

    Args:
        data_dir: each simulator gets ``data_dir/<name>`` (its data survives a restart).
        only: short names to start. Default: every simulator in the registry.
        seed: data and fault seed for every simulator. Default 0.
        faults: injected into every simulator, or per simulator name (see
            :func:`parse_faults`). Default none.
        ports_file: where to write the ports file; removed again on exit. Default: none.
        registry: name -> "module:attribute" table. Default :data:`SIMULATORS`.

    Raises:
        ConfigError: an unknown simulator name.
    """
    table = SIMULATORS if registry is None else registry
    names = list(dict.fromkeys(only)) if only else sorted(table)
    specs = [load_simulator(name, table) for name in names]
    with ExitStack() as stack:
        running: dict[str, RunningSimulator] = {}
        for spec in specs:
            running[spec.name] = stack.enter_context(
                run_simulator(
                    spec,
                    data_dir / spec.name,
                    seed=seed,
                    faults=faults.get(spec.name) if isinstance(faults, Mapping) else faults,
                )
            )
        if ports_file is not None:
            write_ports_file(ports_file, running)
            stack.callback(ports_file.unlink, missing_ok=True)
        yield running
