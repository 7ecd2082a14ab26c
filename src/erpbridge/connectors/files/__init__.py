"""Files connector: CSV, Excel .xlsx and JSON lines, in a local folder or on SFTP (README.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from erpbridge.connectors.files.connector import FilesConnector
from erpbridge.connectors.files.settings import FileSet, FilesSettings
from erpbridge.spi.registry import Capability, ConnectorSpec
from erpbridge.spi.settings import ConnectionSettings

if TYPE_CHECKING:
    import httpx

__all__ = ["SPEC", "FileSet", "FilesConnector", "FilesSettings", "create"]


def create(settings: ConnectionSettings, http: httpx.AsyncClient | None) -> FilesConnector:
    """Build a connector (files need no HTTP client; ``http`` is ignored)."""
    if not isinstance(settings, FilesSettings):
        raise TypeError("the files connector needs FilesSettings")
    return FilesConnector(settings)


SPEC = ConnectorSpec(
    name="files",
    settings=FilesSettings,
    create=create,
    summary="Files: CSV (GBK/GB18030/UTF-8), Excel .xlsx, JSON lines; local folder or SFTP",
    kind="generic",
    capabilities=frozenset({Capability.FILE_DROP}),
)
