"""Layer rules (DESIGN.md §4): the connector imports only spi, mapping types, shared HTTP helpers."""

from __future__ import annotations

import ast
from pathlib import Path

import erpbridge

SRC = Path(erpbridge.__file__).parent
ALLOWED = (
    "erpbridge.spi",
    "erpbridge.mapping",
    "erpbridge.connectors._http",
    "erpbridge.connectors.salesforce",
)


def _erpbridge_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {n for n in names if n.startswith("erpbridge")}


def test_salesforce_connector_imports_only_allowed_layers() -> None:
    files = [
        *SRC.joinpath("connectors", "salesforce").glob("*.py"),
        SRC / "connectors" / "_http.py",
    ]
    bad = {
        f"{path.name}: {name}"
        for path in files
        for name in _erpbridge_imports(path)
        if not name.startswith(ALLOWED)
    }
    assert bad == set()
