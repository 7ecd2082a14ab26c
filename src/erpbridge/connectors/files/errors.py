"""Turning file-system and SFTP failures into spi errors, in one place (a table).

A missing folder or a refused permission needs a person (not retried); a dropped SFTP
connection or a full disk may pass (transient).
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager

import asyncssh

from erpbridge.spi.errors import (
    AuthError,
    ConnectorError,
    NotFoundError,
    TransientError,
)

__all__ = ["SYSTEM", "classify_error", "map_errors"]

SYSTEM = "files"

#: errno -> spi class; anything else is transient (I/O hiccups, full disks, timeouts).
_ERRNO_TABLE: dict[int, type[ConnectorError]] = {
    errno.ENOENT: NotFoundError,
    errno.ENOTDIR: NotFoundError,
    errno.EACCES: AuthError,
    errno.EPERM: AuthError,
    errno.EROFS: AuthError,
}

#: SFTP status codes (draft-ietf-secsh-filexfer) -> spi class.
_SFTP_TABLE: dict[int, type[ConnectorError]] = {
    asyncssh.FX_NO_SUCH_FILE: NotFoundError,
    asyncssh.FX_NO_SUCH_PATH: NotFoundError,
    asyncssh.FX_PERMISSION_DENIED: AuthError,
    asyncssh.FX_WRITE_PROTECT: AuthError,
}


def classify_error(exc: BaseException, *, object: str | None = None) -> ConnectorError:
    """The spi error for a failure of a file or SFTP operation."""
    if isinstance(exc, ConnectorError):
        return exc
    kind: type[ConnectorError] = TransientError
    if isinstance(exc, asyncssh.PermissionDenied | asyncssh.HostKeyNotVerifiable):
        kind = AuthError
    elif isinstance(exc, asyncssh.SFTPError):
        kind = _SFTP_TABLE.get(exc.code, TransientError)
    elif isinstance(exc, OSError) and exc.errno is not None:
        kind = _ERRNO_TABLE.get(exc.errno, TransientError)
    message = str(exc) or type(exc).__name__
    return kind(message, system=SYSTEM, object=object, raw=message)


@contextmanager
def map_errors(object: str | None = None) -> Iterator[None]:
    """Re-raise OS and SFTP errors as spi errors (httpx's ``map_exceptions`` habit)."""
    try:
        yield
    except (OSError, asyncssh.Error) as exc:
        raise classify_error(exc, object=object) from exc
