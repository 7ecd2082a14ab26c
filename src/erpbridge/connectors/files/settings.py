"""The settings of a ``files`` connection (pydantic, validated at load)."""

from __future__ import annotations

import codecs
import string
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator

from erpbridge.spi.secrets import Secret
from erpbridge.spi.settings import ConnectionSettings, Limits

__all__ = ["FileFormat", "FileSet", "FilesSettings", "ValueType"]

FileFormat = Literal["csv", "xlsx", "jsonl"]
ValueType = Literal["string", "integer", "decimal", "boolean", "date", "datetime"]

#: the placeholders a target ``pattern`` may use.
PATTERN_KEYS = frozenset({"object", "date", "time", "batch", "part"})


class FileSet(BaseModel):
    """One object of a files connection: a folder, a glob and a format.

    As a source, every file in ``folder`` that matches ``glob`` is read once, then moved
    to ``done_dir`` (or ``failed_dir`` with ``<name>.errors.csv`` beside it). As a target,
    records are written into ``folder`` as files named by ``pattern``.

    Attributes:
        folder: relative to the connection's ``root`` (POSIX separators). Default ``.``.
        glob: which names are read (``*.csv``); names starting with ``.`` never are.
        format: ``csv`` (default), ``xlsx`` or ``jsonl``.
        encoding: ``auto`` (default: a BOM, else UTF-8 if the whole file is valid
            UTF-8, else GB18030, a superset of GBK), or any Python codec (``gbk``,
            ``gb18030``, ``utf-8-sig``). Targets: ``auto`` writes UTF-8 without a BOM.
        delimiter: CSV field separator. Default ``,`` (``\\t``, ``;``, ``|`` work).
        quotechar: CSV quote character. Default ``"``.
        header_row: the row (1-based) holding the column names; rows above it are
            skipped (titles). Default 1.
        sheet: xlsx sheet name; default the first sheet.
        key: the column whose value is a record's id; default none (id = file hash + row).
        types: column -> type (``integer``, ``decimal``, ``boolean``, ``date``,
            ``datetime``, ``string``); a value that does not convert is a row error.
            Columns not listed stay as read (text for CSV, cell values for xlsx).
        ready: when a source file may be read. ``stable`` (default): its size and
            mtime have not changed for ``stable_s`` across two polls; ``marker``: a file
            ``<name><marker_suffix>`` exists beside it; ``immediate``: at once (the
            producer renames complete files into the folder).
        stable_s: seconds a file must stay unchanged under ``ready: stable``. Default 5.
        marker_suffix: the marker's suffix under ``ready: marker``. Default ``.ok``.
        after_read: ``move`` (default): a read file goes to ``done_dir`` or
            ``failed_dir`` once its records are committed; ``keep``: files stay where
            they are (a read-only drop), the stored cursor lists those read (by size,
            mtime and content hash), and row errors become dead letters (keep.py).
        done_dir / failed_dir: where read files go, relative to ``folder``.
            Defaults ``done`` and ``failed``.
        pattern: target file names; placeholders ``{object}``, ``{date}`` (UTC
            YYYYMMDD), ``{time}`` (HHMMSS), ``{batch}`` (digest of the write call's
            job keys), ``{part}`` (001, 002 … within one write). Default
            ``{object}-{date}-{time}-{batch}-{part}`` plus the format's extension.
        roll_records: at most this many records per target file. Default 100 000.
        roll_bytes: start a new target file past this size (csv, jsonl). Default none.
        columns: the columns in order. Targets write these (default: the fields of the
            records in order of first appearance); sources refuse a file whose header
            lacks one (extra columns are fine); describe() reports them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    folder: str = "."
    glob: str = "*"
    format: FileFormat = "csv"
    encoding: str = "auto"
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    quotechar: str = Field(default='"', min_length=1, max_length=1)
    header_row: PositiveInt = 1
    sheet: str | None = None
    key: str | None = None
    types: dict[str, ValueType] = Field(default_factory=dict)
    ready: Literal["stable", "marker", "immediate"] = "stable"
    stable_s: float = Field(default=5.0, ge=0)
    marker_suffix: str = Field(default=".ok", min_length=1)
    after_read: Literal["move", "keep"] = "move"
    done_dir: str = "done"
    failed_dir: str = "failed"
    pattern: str | None = None
    roll_records: PositiveInt = 100_000
    roll_bytes: PositiveInt | None = None
    columns: tuple[str, ...] = ()

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        if value != "auto":
            try:
                codecs.lookup(value)
            except LookupError as exc:
                raise ValueError(f"unknown encoding {value!r} (try gb18030, utf-8-sig)") from exc
        return value

    @field_validator("folder", "done_dir", "failed_dir")
    @classmethod
    def _relative(cls, value: str) -> str:
        parts = value.replace("\\", "/").split("/")
        if value.startswith("/") or ".." in parts:
            raise ValueError("must be a path inside the connection's root (no '/' or '..')")
        return "/".join(p for p in parts if p not in ("", ".")) or "."

    @field_validator("pattern")
    @classmethod
    def _pattern_keys(cls, value: str | None) -> str | None:
        if value is None:
            return None
        names = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
        unknown = names - PATTERN_KEYS
        if unknown:
            raise ValueError(
                f"unknown placeholder {sorted(unknown)} (known: {sorted(PATTERN_KEYS)})"
            )
        if "/" in value or "\\" in value:
            raise ValueError("a pattern names a file, not a path")
        return value

    @model_validator(mode="after")
    def _format_options(self) -> FileSet:
        if self.roll_bytes is not None and self.format == "xlsx":
            raise ValueError("roll_bytes applies to csv and jsonl; use roll_records for xlsx")
        if self.format == "xlsx" and self.encoding != "auto":
            raise ValueError("xlsx files carry their own encoding; leave encoding unset")
        return self

    def file_pattern(self) -> str:
        """The target name pattern, with the default when none is set."""
        return self.pattern or "{object}-{date}-{time}-{batch}-{part}." + self.format


class FilesSettings(ConnectionSettings):
    """A local folder or an SFTP server, and the file sets (objects) inside it.

    Attributes:
        location: ``local`` (default) or ``sftp``.
        root: the base folder (local path, or remote path on the SFTP server).
        objects: object name -> :class:`FileSet`.
        host / port / username: the SFTP server (port default 22).
        password: SFTP password, by reference (``${env:SFTP_PASSWORD}``).
        private_key: SFTP private key text (OpenSSH/PEM), by reference
            (``${file:/etc/erpbridge/sftp_key}``); ``private_key_passphrase`` if encrypted.
        host_key: the server's public host key (``ssh-ed25519 AAAA…``), pinned; or
        known_hosts: a known_hosts file. One of the two is required for SFTP: the
            server is never trusted blindly.
    """

    location: Literal["local", "sftp"] = "local"
    root: str = Field(min_length=1)
    objects: dict[str, FileSet] = Field(min_length=1)
    host: str | None = None
    port: int = Field(default=22, ge=1, le=65535)
    username: str | None = None
    password: Secret | None = None
    private_key: Secret | None = None
    private_key_passphrase: Secret | None = None
    host_key: str | None = None
    known_hosts: str | None = None
    limits: Limits = Field(default_factory=lambda: Limits(batch_size=1000, concurrency=1))

    @model_validator(mode="after")
    def _sftp_needs(self) -> FilesSettings:
        if self.location == "sftp":
            if not self.host or not self.username:
                raise ValueError("location 'sftp' needs host and username")
            if self.password is None and self.private_key is None:
                raise ValueError("location 'sftp' needs password or private_key")
            if not self.host_key and not self.known_hosts:
                raise ValueError("location 'sftp' needs host_key or known_hosts (never unverified)")
        return self
