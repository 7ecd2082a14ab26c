"""Fixtures: a manual clock, local folder connections and an in-process SFTP server."""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from erpbridge.connectors.files import FilesConnector, FilesSettings
from erpbridge.spi.records import ChangePage, Cursor, Record
from erpbridge.spi.secrets import Secret

SFTP_USER = "erp"
SFTP_PASSWORD = "s3cret-pass"


class ManualClock:
    """Stands still until moved (so ``ready: stable`` needs no sleeps)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def make_local(tmp_path: Path, clock: ManualClock) -> Callable[..., FilesConnector]:
    """Build a local-folder connector over ``tmp_path/drop`` with one object ``orders``."""

    def make(**fileset: Any) -> FilesConnector:
        root = tmp_path / "drop"
        root.mkdir(exist_ok=True)
        options = {"glob": "*.csv", "ready": "immediate", **fileset}
        settings = FilesSettings(root=str(root), objects={"orders": options})
        return FilesConnector(settings, clock=clock)

    return make


#: the cursor "the engine" stored per connector, as poll_flow keeps it in the store.
_STORED: weakref.WeakKeyDictionary[FilesConnector, Cursor | None] = weakref.WeakKeyDictionary()


async def poll(conn: FilesConnector, obj: str = "orders", page_size: int = 100) -> list[ChangePage]:
    """One poll as the engine makes it: each page committed, its cursor stored, handed back."""
    cursor = _STORED.get(conn)
    pages = []
    async for page in conn.read_changes(obj, cursor, page_size):
        pages.append(page)
        if page.cursor is not None:
            cursor = page.cursor
    _STORED[conn] = cursor
    return pages


async def drain(
    conn: FilesConnector, obj: str = "orders", page_size: int = 100
) -> list[ChangePage]:
    """Two polls: the second finishes (moves) the files the first committed."""
    return await poll(conn, obj, page_size) + await poll(conn, obj, page_size)


def records_of(pages: list[ChangePage]) -> list[Record]:
    return [r for p in pages for r in p.records]


@dataclass
class SftpServer:
    port: int
    root: Path
    host_key: str
    client_key: str


class _Server(asyncssh.SSHServer):
    def __init__(self, authorized: asyncssh.SSHKey) -> None:
        self._authorized = authorized

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == SFTP_USER and password == SFTP_PASSWORD

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return username == SFTP_USER and key.public_data == self._authorized.public_data


class ReadOnlySftp(asyncssh.SFTPServer):
    """An SFTP server that refuses every change (a partner's read-only drop folder)."""

    _WRITE = asyncssh.FXF_WRITE | asyncssh.FXF_APPEND | asyncssh.FXF_CREAT | asyncssh.FXF_TRUNC

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        if pflags & self._WRITE:
            raise asyncssh.SFTPPermissionDenied("read-only folder")
        return super().open(path, pflags, attrs)

    def _refuse(self, *args: object) -> None:
        raise asyncssh.SFTPPermissionDenied("read-only folder")

    rename = posix_rename = remove = mkdir = rmdir = setstat = _refuse  # type: ignore[assignment]


@pytest.fixture
async def sftp_server(tmp_path: Path) -> AsyncIterator[SftpServer]:
    """A real SFTP server on 127.0.0.1 (asyncssh), chrooted to ``tmp_path/remote``."""
    async for server in _serve_sftp(tmp_path, asyncssh.SFTPServer):
        yield server


@pytest.fixture
async def readonly_sftp_server(tmp_path: Path) -> AsyncIterator[SftpServer]:
    """Like ``sftp_server``, but every write, rename and delete is refused."""
    async for server in _serve_sftp(tmp_path, ReadOnlySftp):
        yield server


async def _serve_sftp(tmp_path: Path, kind: type[asyncssh.SFTPServer]) -> AsyncIterator[SftpServer]:
    root = tmp_path / "remote"
    root.mkdir()
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    user_key = asyncssh.generate_private_key("ssh-ed25519")
    public = user_key.convert_to_public()
    server = await asyncssh.listen(
        "127.0.0.1",
        0,
        server_host_keys=[host_key],
        server_factory=lambda: _Server(public),
        sftp_factory=lambda chan: kind(chan, chroot=str(root)),
    )
    port = server.sockets[0].getsockname()[1]
    try:
        yield SftpServer(
            port=port,
            root=root,
            host_key=host_key.export_public_key().decode().strip(),
            client_key=user_key.export_private_key().decode(),
        )
    finally:
        server.close()
        await server.wait_closed()


def sftp_settings(server: SftpServer, *, use_key: bool = False, **fileset: Any) -> FilesSettings:
    options = {"glob": "*.csv", "ready": "immediate", **fileset}
    auth: dict[str, Any] = (
        {"private_key": Secret.literal(server.client_key)}
        if use_key
        else {"password": Secret.literal(SFTP_PASSWORD)}
    )
    return FilesSettings(
        location="sftp",
        root="/inbox",
        host="127.0.0.1",
        port=server.port,
        username=SFTP_USER,
        host_key=server.host_key,
        objects={"orders": options},
        **auth,
    )
