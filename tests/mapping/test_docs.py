"""docs/mapping.md documents every built-in (generated reference) and the public API."""

from __future__ import annotations

from pathlib import Path

import erpbridge.mapping
from erpbridge.mapping.reference import BEGIN, END, render_reference

DOCS = Path(__file__).resolve().parents[2] / "docs" / "mapping.md"


def test_function_reference_in_docs_is_up_to_date() -> None:
    text = DOCS.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)

    assert text[start:end] == render_reference(), (
        "regenerate: python -m erpbridge.mapping.reference"
    )


def test_every_public_name_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    undocumented = [
        name
        for name in erpbridge.mapping.__all__
        if name not in text and name not in ("Record", "XrefMap", "Severity", "LANGUAGE_VERSION",
                                             "FunctionSpec", "builtin_functions", "NO_DEFAULT",
                                             "kinds_compatible", "check_value", "jsonable")
    ]  # fmt: skip

    assert undocumented == []
