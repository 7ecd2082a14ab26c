"""Profile a simulator's request handling on demand (for benchmarks, never in tests).

With ``ERPBRIDGE_SIM_PROFILE_DIR`` set, :func:`~erpbridge.sims._common.server.run_simulator`
wraps the simulator's app in :class:`ProfiledApp`, which answers two control requests
before the app sees them:

- ``POST /_sim/profile/start``: cProfile the server's thread (every request, the event
  loop and the HTTP server) from now on;
- ``POST /_sim/profile/stop``: stop and write ``<dir>/<name>.prof`` (``pstats`` format).

A benchmark starts the profile after its (untimed) setup and stops it after the timed
part, so the file holds only what the timed part cost the simulator. Without the
variable nothing is wrapped and the paths do not exist.
"""

from __future__ import annotations

import cProfile
import os
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["PROFILE_DIR_ENV", "ProfiledApp", "profile_path"]

#: the environment variable naming the folder profiles are written to.
PROFILE_DIR_ENV = "ERPBRIDGE_SIM_PROFILE_DIR"

_START = "/_sim/profile/start"
_STOP = "/_sim/profile/stop"


def profile_path(name: str) -> Path | None:
    """``<ERPBRIDGE_SIM_PROFILE_DIR>/<name>.prof``, or None when the variable is not set."""
    folder = os.environ.get(PROFILE_DIR_ENV)
    return Path(folder) / f"{name}.prof" if folder else None


class ProfiledApp:
    """An ASGI app with the two profile control paths in front of it.

    Args:
        app: the simulator's app.
        path: where ``stop`` writes the stats.
    """

    def __init__(self, app: ASGIApp, path: Path) -> None:
        self.app = app
        self.path = path
        self._profile: cProfile.Profile | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a control request, or pass the call on."""
        path = scope.get("path") if scope["type"] == "http" else None
        if path not in (_START, _STOP) or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        if path == _START:
            if self._profile is None:
                # enable() runs here, on the server's own thread: that thread is profiled.
                self._profile = cProfile.Profile()
                self._profile.enable()
            text = "profiling\n"
        else:
            if self._profile is not None:
                self._profile.disable()
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._profile.dump_stats(self.path)
                self._profile = None
            text = f"written {self.path}\n"
        body = text.encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
