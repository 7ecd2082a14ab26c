"""Both sides of a recon on disk: hash partitions joined one at a time.

Each side writes one small entry per record into one of :data:`PARTITIONS` files chosen
by a hash of its key: ``(key, record id, values, amount)``, where ``values`` is the pickle
of the compared values as read (not normalised). The join then loads one partition of
each side at a time (a few megabytes at a million records a side), so memory does not
grow with the run. A partition that is still too large to hold is split again by a second
hash before it is joined (a grace hash join).

Equal ``values`` bytes mean equal values, so such a pair is a match without decoding
anything; only the few pairs whose bytes differ are decoded and compared field by field
with normalisation and tolerances (see :mod:`erpbridge.engine.recon_compare`). Unequal
bytes never decide a difference on their own.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = [
    "PARTITIONS",
    "SOURCE",
    "TARGET",
    "Entry",
    "SideSpill",
    "partition_pairs",
]

SOURCE = "source"
TARGET = "target"

#: partitions per side: 128 files with 32 KB write buffers (4 MB a side); a partition at
#: a million records a side holds about 8,000 entries (about 2.3 MB on disk), so runs up
#: to about 3.5 million records a side need no second split.
PARTITIONS = 128
#: entries buffered per partition before one pickled block is written.
_BLOCK = 128
#: a partition file larger than this is split again before it is joined, so the join never
#: holds more than about this much of each side (x3 as Python objects), whatever the size.
#: At a million records of 20 fields a side a partition file is about 2.3 MB.
_SPLIT_BYTES = 8 * 1024 * 1024
_SUBPARTITIONS = 16

#: (key, record id or None, pickled compared values, amount as read or None)
Entry = tuple[str, str | None, bytes, object]


def _subpartition(key: str, level: int) -> int:
    digest = hashlib.blake2b(
        key.encode("utf-8", "surrogatepass"), digest_size=4, salt=level.to_bytes(8, "little")
    ).digest()
    return int.from_bytes(digest, "little") % _SUBPARTITIONS


class SideSpill:
    """Writes one side's entries into its partition files under ``folder``.

    Args:
        folder: the run's private work folder.
        side: :data:`SOURCE` or :data:`TARGET`.
    """

    def __init__(self, folder: Path, side: str) -> None:
        self.folder = folder
        self.side = side
        self._files: list[IO[bytes]] = [
            (folder / f"{side}-{n:03d}.part").open("wb", buffering=32 * 1024)
            for n in range(PARTITIONS)
        ]
        self._blocks: list[list[Entry]] = [[] for _ in range(PARTITIONS)]
        self.count = 0

    def add_page(self, entries: list[Entry]) -> None:
        """Append the entries of one page (each to the partition of its key)."""
        blocks, crc = self._blocks, zlib.crc32
        for entry in entries:
            blocks[crc(entry[0].encode("utf-8", "surrogatepass")) % PARTITIONS].append(entry)
        self.count += len(entries)
        for block, handle in zip(blocks, self._files, strict=True):
            if len(block) >= _BLOCK:
                handle.write(pickle.dumps(block, protocol=5))
                block.clear()

    def close(self) -> None:
        """Write what is buffered and close every file."""
        for block, handle in zip(self._blocks, self._files, strict=True):
            if block:
                handle.write(pickle.dumps(block, protocol=5))
                block.clear()
            handle.close()


def _read(path: Path) -> Iterator[Entry]:
    """Every entry of one partition file, in the order written."""
    if not path.exists():
        return
    with path.open("rb") as handle:
        while True:
            try:
                block: list[Entry] = pickle.load(handle)  # noqa: S301 - our own private file
            except EOFError:
                return
            yield from block


def _split(path: Path, level: int) -> list[Path]:
    """Split one partition file into sub-partitions by a second hash; removes ``path``."""
    outs = [path.with_name(f"{path.name}.{level}.{n:02d}") for n in range(_SUBPARTITIONS)]
    blocks: list[list[Entry]] = [[] for _ in outs]
    handles = [p.open("wb") for p in outs]
    try:
        for entry in _read(path):
            n = _subpartition(entry[0], level)
            blocks[n].append(entry)
            if len(blocks[n]) >= _BLOCK:
                handles[n].write(pickle.dumps(blocks[n], protocol=5))
                blocks[n].clear()
        for block, handle in zip(blocks, handles, strict=True):
            if block:
                handle.write(pickle.dumps(block, protocol=5))
    finally:
        for handle in handles:
            handle.close()
    path.unlink(missing_ok=True)
    return outs


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def partition_pairs(
    folder: Path, share: tuple[int, int] = (0, 1)
) -> Iterator[tuple[Iterator[Entry], Iterator[Entry]]]:
    """(source entries, target entries) of each partition, split further when too large.

    Args:
        folder: the run's work folder.
        share: (i, n): only the partitions whose number is i modulo n (two processes
            joining at once take (0, 2) and (1, 2)). Default: all.

    Files are removed once joined, so the work folder shrinks as the join proceeds.
    """
    index, count = share
    pending = [
        (folder / f"{SOURCE}-{n:03d}.part", folder / f"{TARGET}-{n:03d}.part", 1)
        for n in range(PARTITIONS)
        if n % count == index
    ]
    while pending:
        source, target, level = pending.pop()
        if max(_size(source), _size(target)) > _SPLIT_BYTES and level <= 3:
            pending.extend(
                (s, t, level + 1)
                for s, t in zip(_split(source, level), _split(target, level), strict=True)
            )
            continue
        yield _read(source), _read(target)
        for path in (source, target):
            if path.exists():
                os.unlink(path)
