"""DocumentStore: a reopened store gives back what was written."""

from __future__ import annotations

from pathlib import Path

import pytest

from erpbridge.sims._common.persist import Document, DocumentStore


def test_reopened_store_keeps_documents_and_meta(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path / "sim.sqlite")
    store.put_many(
        [
            Document("Account", "001A", {"Name": "华为技术"}, "2024-05-01T00:00:00Z"),
            Document("Account", "001B", {"Name": "Acme"}, "2024-05-02T00:00:00Z", deleted=True),
        ]
    )
    store.set_meta("seeded", "1")
    store.close()
    reopened = DocumentStore(tmp_path / "sim.sqlite")
    docs = list(reopened.load("Account"))
    assert [(d.id, d.body["Name"], d.deleted) for d in docs] == [
        ("001A", "华为技术", False),
        ("001B", "Acme", True),
    ]
    assert reopened.get_meta("seeded") == "1"


def test_failed_transaction_writes_nothing(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path / "sim.sqlite")
    with pytest.raises(RuntimeError), store.transaction():
        store.put(Document("Account", "001A", {"Name": "x"}, "2024-05-01T00:00:00Z"))
        raise RuntimeError("boom")
    assert list(store.load()) == []
