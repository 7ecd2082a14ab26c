"""The layer rules of DESIGN.md §4, checked by walking every import in the package."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "erpbridge"

# layer -> packages it must never import
FORBIDDEN = {
    "spi": (
        "erpbridge.engine",
        "erpbridge.api",
        "erpbridge.flows",
        "erpbridge.cli",
        "erpbridge.connectors",
        "erpbridge.sims",
        "erpbridge.store",
    ),
    "connectors": (
        "erpbridge.engine",
        "erpbridge.api",
        "erpbridge.flows",
        "erpbridge.cli",
        "erpbridge.sims",
        "erpbridge.store",
    ),
    "sims": (
        "erpbridge.engine",
        "erpbridge.api",
        "erpbridge.flows",
        "erpbridge.cli",
        "erpbridge.connectors",
        "erpbridge.store",
    ),
    "mapping": (
        "erpbridge.engine",
        "erpbridge.api",
        "erpbridge.flows",
        "erpbridge.cli",
        "erpbridge.connectors",
        "erpbridge.sims",
    ),
    "store": (
        "erpbridge.engine",
        "erpbridge.api",
        "erpbridge.flows",
        "erpbridge.cli",
        "erpbridge.connectors",
        "erpbridge.sims",
    ),
    "config": (
        "erpbridge.engine",
        "erpbridge.api",
        "erpbridge.flows",
        "erpbridge.cli",
        "erpbridge.connectors",
        "erpbridge.sims",
    ),
    "engine": (
        "erpbridge.api",
        "erpbridge.flows",
        "erpbridge.cli",
        "erpbridge.connectors",
        "erpbridge.sims",
    ),
}
SYSTEMS = ("salesforce", "sap", "kingdee", "jiandaoyun", "yonyou", "oracle")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _violations(layer: str) -> list[str]:
    found = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for name in _imports(path):
            if name.startswith(FORBIDDEN[layer]):
                found.append(f"{path.relative_to(PACKAGE)} imports {name}")
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_layers_below(layer: str) -> None:
    assert _violations(layer) == []


def test_a_simulator_never_imports_a_connector_and_back() -> None:
    found = []
    for kind, other in (("sims", "connectors"), ("connectors", "sims")):
        for path in sorted((PACKAGE / kind).rglob("*.py")):
            found += [
                f"{path.relative_to(PACKAGE)} imports {n}"
                for n in _imports(path)
                if n.startswith(f"erpbridge.{other}")
            ]
    assert found == []


def test_engine_names_no_system() -> None:
    engine = PACKAGE / "engine"
    found = [
        f"{path.relative_to(PACKAGE)} mentions {system}"
        for path in sorted(engine.rglob("*.py"))
        for system in SYSTEMS
        if re.search(rf"\b{system}\b", path.read_text(encoding="utf-8"), re.IGNORECASE)
    ]
    assert found == []
