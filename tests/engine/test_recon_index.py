from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from erpbridge.engine import recon_index
from erpbridge.engine.recon_compare import PartitionJoin
from erpbridge.engine.recon_index import SOURCE, TARGET, SideSpill, partition_pairs


def _spill(folder: Path, side: str, keys: list[str], changed: str | None = None) -> None:
    spill = SideSpill(folder, side)
    spill.add_page(
        [(k, f"{side}-{k}", pickle.dumps(("x" if k != changed else "y",), 5), None) for k in keys]
    )
    spill.close()


@pytest.mark.parametrize("split_bytes", [8 * 1024 * 1024, 200], ids=["no-split", "split"])
@pytest.mark.parametrize("share", [[(0, 1)], [(0, 2), (1, 2)]], ids=["one", "two-halves"])
def test_partitions_join_every_key_once_whether_split_or_shared(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    split_bytes: int,
    share: list[tuple[int, int]],
) -> None:
    monkeypatch.setattr(recon_index, "_SPLIT_BYTES", split_bytes)
    keys = [f"K{n:05d}" for n in range(3000)]
    _spill(tmp_path, SOURCE, [*keys[:-1], "K00007"], changed="K00042")  # K02999 only in target
    _spill(tmp_path, TARGET, keys)
    join = PartitionJoin(["A"], {"A": "source.A"}, {}, None, since_filtered=False)
    for part in share:
        for source, target in partition_pairs(tmp_path, part):
            join.join(source, target)
    found = sorted((d.kind.value, d.key, d.field) for d in join.differences)
    assert found == [
        ("duplicate_source", "K00007", None),
        ("field", "K00042", "A"),
        ("missing_in_source", "K02999", None),
    ]
    assert join.matches == 3000 - 3
    assert list(tmp_path.iterdir()) == []  # every partition file is removed once joined
