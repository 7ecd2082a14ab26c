"""Where files live: one small async interface, a local folder behind it (SFTP in sftp.py).

The cut is at whole-file operations (list, fetch a local copy, publish a local file,
rename, append a line) so the readers and writers only ever see local files: a remote
file is spooled to a temporary local copy first, and a target file is built locally and
published atomically. Paths are POSIX strings relative to the connection's root.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Protocol

__all__ = ["Entry", "LocalFolder", "Storage", "join", "temp_name"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One file in a folder: its name, size in bytes and modification time (UTC)."""

    name: str
    size: int
    mtime: datetime


def join(*parts: str) -> str:
    """POSIX join that drops ``.`` parts (``join(".", "done")`` is ``done``)."""
    return "/".join(p.strip("/") for p in parts if p not in ("", ".")) or "."


def temp_name(name: str) -> str:
    """A hidden temporary name beside ``name`` (never matched by a source glob)."""
    return f".{name}.{secrets.token_hex(4)}.tmp"


class Storage(Protocol):
    """The file operations the connector needs, on a local folder or a server."""

    #: ``local`` or ``sftp`` (for messages and check()).
    kind: str

    async def list_files(self, folder: str, glob: str) -> list[Entry]:
        """Regular files in ``folder`` matching ``glob``, hidden names left out."""
        ...

    async def exists(self, path: str) -> bool:
        """True when ``path`` exists."""
        ...

    async def fetch(self, path: str, spool: Path) -> Path:
        """A local path holding ``path``'s bytes (a copy in ``spool`` when remote)."""
        ...

    async def publish(self, local: Path, path: str) -> None:
        """Make ``path`` appear with ``local``'s bytes at once: temp name, then rename."""
        ...

    async def move(self, path: str, to: str) -> None:
        """Rename ``path`` to ``to`` (``to`` must not exist; its folder is made)."""
        ...

    async def remove(self, path: str) -> None:
        """Delete ``path`` if it exists."""
        ...

    async def read_text(self, path: str) -> str | None:
        """A small UTF-8 text file's content, or None when it does not exist."""
        ...

    async def append_line(self, path: str, line: str) -> None:
        """Append one line to a small UTF-8 text file (made if missing)."""
        ...

    async def makedirs(self, folder: str) -> None:
        """Make ``folder`` and its parents if missing."""
        ...

    async def aclose(self) -> None:
        """Release the session, if any."""
        ...


class LocalFolder:
    """A folder on this machine; every call runs in a thread (the event loop stays free)."""

    kind = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, path: str) -> Path:
        return self.root if path == "." else self.root / path

    async def list_files(self, folder: str, glob: str) -> list[Entry]:
        """Regular files in ``folder`` matching ``glob``."""
        return await asyncio.to_thread(self._list_files, folder, glob)

    def _list_files(self, folder: str, glob: str) -> list[Entry]:
        out = []
        with os.scandir(self._path(folder)) as it:
            for entry in it:
                if entry.name.startswith(".") or not fnmatchcase(entry.name, glob):
                    continue
                if not entry.is_file(follow_symlinks=False):
                    continue
                st = entry.stat(follow_symlinks=False)
                stamp = datetime.fromtimestamp(st.st_mtime_ns / 1e9, UTC)
                out.append(Entry(entry.name, st.st_size, stamp))
        return out

    async def exists(self, path: str) -> bool:
        """True when ``path`` exists."""
        return await asyncio.to_thread(self._path(path).exists)

    async def fetch(self, path: str, spool: Path) -> Path:
        """The file itself: nothing to copy."""
        return self._path(path)

    async def publish(self, local: Path, path: str) -> None:
        """Copy (or rename, same disk) ``local`` to a temp name beside ``path``, fsync, rename."""
        await asyncio.to_thread(self._publish, local, path)

    def _publish(self, local: Path, path: str) -> None:
        final = self._path(path)
        final.parent.mkdir(parents=True, exist_ok=True)
        temp = final.parent / temp_name(final.name)
        try:
            shutil.copyfile(local, temp)
            with temp.open("rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(temp, final)
        finally:
            temp.unlink(missing_ok=True)
        _fsync_dir(final.parent)

    async def move(self, path: str, to: str) -> None:
        """Rename within the root; refuses to overwrite."""
        await asyncio.to_thread(self._move, path, to)

    def _move(self, path: str, to: str) -> None:
        target = self._path(to)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            raise FileExistsError(str(target))
        os.rename(self._path(path), target)
        _fsync_dir(target.parent)

    async def remove(self, path: str) -> None:
        """Delete ``path`` if it exists."""
        await asyncio.to_thread(self._path(path).unlink, True)

    async def read_text(self, path: str) -> str | None:
        """The file's text, or None."""
        return await asyncio.to_thread(self._read_text, path)

    def _read_text(self, path: str) -> str | None:
        try:
            return self._path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    async def append_line(self, path: str, line: str) -> None:
        """Append and fsync one line."""
        await asyncio.to_thread(self._append_line, path, line)

    def _append_line(self, path: str, line: str) -> None:
        target = self._path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a", encoding="utf-8") as fh:
            fh.write(line.rstrip("\n") + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    async def makedirs(self, folder: str) -> None:
        """Make ``folder`` if missing."""
        await asyncio.to_thread(self._path(folder).mkdir, parents=True, exist_ok=True)

    async def aclose(self) -> None:
        """Nothing to release."""


def _fsync_dir(folder: Path) -> None:
    # A rename is durable only once the directory entry is on disk (POSIX).
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
