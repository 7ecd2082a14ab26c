"""Layer rules (DESIGN.md §4): simulators never import connectors (nor engine, api, flows, cli)."""

from __future__ import annotations

import ast
from pathlib import Path

import erpbridge

SRC = Path(erpbridge.__file__).parent
FORBIDDEN = (
    "erpbridge.connectors",
    "erpbridge.engine",
    "erpbridge.api",
    "erpbridge.flows",
    "erpbridge.cli",
)


def test_salesforce_simulator_and_shared_infra_import_no_connector() -> None:
    files = [
        *SRC.joinpath("sims", "salesforce").glob("*.py"),
        *SRC.joinpath("sims", "_common").glob("*.py"),
    ]
    files.append(SRC / "sims" / "sandbox.py")
    bad = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            modules = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            bad.update(f"{path.name}: {m}" for m in modules if m.startswith(FORBIDDEN))
    assert bad == set()
