"""What a connector sends: an event hook on its HTTP client, for tests that check calls."""

from __future__ import annotations

from collections.abc import Callable

import httpx

__all__ = ["sent"]


def _url(request: httpx.Request) -> str | None:
    return str(request.url)


def sent(http: httpx.AsyncClient, pick: Callable[[httpx.Request], str | None] = _url) -> list[str]:
    """What ``pick`` makes of every request ``http`` sends from now on, in order (None:
    left out). The list fills as the requests go; by default, their URLs."""
    seen: list[str] = []

    async def note(request: httpx.Request) -> None:
        value = pick(request)
        if value is not None:
            seen.append(value)

    http.event_hooks["request"].append(note)
    return seen
