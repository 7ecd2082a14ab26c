"""Project templates shipped with erpbridge: each is a folder under ``flows/templates``."""

from __future__ import annotations

from pathlib import Path

from erpbridge.spi.errors import ConfigError

__all__ = ["TEMPLATES_DIR", "list_templates", "template_files"]

TEMPLATES_DIR = Path(__file__).parent / "templates"


def list_templates() -> list[str]:
    """Names of the shipped templates, sorted."""
    return sorted(p.name for p in TEMPLATES_DIR.iterdir() if (p / "erpbridge.yaml").is_file())


def template_files(name: str) -> dict[str, str]:
    """Relative path -> text of every file of template ``name``.

    Raises:
        ConfigError: no such template (the message lists the ones that exist).
    """
    folder = TEMPLATES_DIR / name
    if not (folder / "erpbridge.yaml").is_file():
        known = ", ".join(list_templates())
        raise ConfigError(f"unknown template {name!r} (available: {known})")
    return {
        str(p.relative_to(folder)): p.read_text(encoding="utf-8")
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "__init__.py" and "__pycache__" not in p.parts
    }
