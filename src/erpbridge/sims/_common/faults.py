"""Fault injection for simulators, as ASGI middleware (issue 6).

Each run gets a :class:`FaultConfig` (from ``erpbridge sandbox --fault name=value`` or a
test). Per request the middleware rolls one die from a seeded ``random.Random``, so a run
with the same seed and the same request order injects the same faults. Tests that need one
fault at one exact request call :meth:`FaultMiddleware.force` instead of using rates.

Faults:
    latency_ms: added to every request (before it is handled).
    error_rate: answer a server error instead of handling the request.
    throttle_rate: answer "slow down" (429 + Retry-After by default; each simulator can
        give its system's own shape, e.g. SAP answers 503).
    hang_rate: hold the request ``hang_s`` seconds (past the client's timeout), then
        answer 504. Bounded, so a server always shuts down.
    lost_reply_rate: handle the request (the write takes effect), then throw the answer
        away and answer 502 as a failing proxy would: the client cannot know it worked.
"""

from __future__ import annotations

import asyncio
import enum
import random
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace

from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["FaultConfig", "FaultKind", "FaultMiddleware", "FaultResponses"]

#: a hang never lasts longer than this, whatever the config says (clean shutdown).
MAX_HANG_S = 120.0


class FaultKind(enum.StrEnum):
    """A fault that replaces or spoils one answer."""

    ERROR = "error"
    THROTTLE = "throttle"
    HANG = "hang"
    LOST_REPLY = "lost_reply"


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Faults for one run. All rates are probabilities per request in [0, 1].

    Attributes:
        latency_ms: added delay per request. Default 0.
        error_rate: share of requests answered with a server error. Default 0.
        throttle_rate: share answered "slow down". Default 0.
        retry_after_s: the Retry-After hint on throttled answers. Default 1.
        hang_rate: share held for ``hang_s`` and then answered 504. Default 0.
        hang_s: how long a hang lasts (at most 120). Default 30.
        lost_reply_rate: share handled and then answered 502 (the effect stays). Default 0.
        path_prefix: only requests whose path starts with this are faulted; login
            endpoints can so stay healthy. Default "" (every path).
    """

    latency_ms: float = 0.0
    error_rate: float = 0.0
    throttle_rate: float = 0.0
    retry_after_s: float = 1.0
    hang_rate: float = 0.0
    hang_s: float = 30.0
    lost_reply_rate: float = 0.0
    path_prefix: str = ""

    def __post_init__(self) -> None:
        for name in ("error_rate", "throttle_rate", "hang_rate", "lost_reply_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"fault {name}={value}: a rate must be between 0 and 1")
        if self.error_rate + self.throttle_rate + self.hang_rate + self.lost_reply_rate > 1.0:
            raise ValueError("fault rates add up to more than 1")
        for name in ("latency_ms", "retry_after_s", "hang_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"fault {name} must not be negative")
        if self.hang_s > MAX_HANG_S:
            raise ValueError(f"fault hang_s={self.hang_s}: at most {MAX_HANG_S:g} seconds")

    @classmethod
    def parse(cls, items: Iterable[str]) -> FaultConfig:
        """Build from ``name=value`` strings (``--fault error_rate=0.1``).

        Raises:
            ValueError: unknown name, missing ``=``, or a value of the wrong type/range;
                the message names the item and lists the known names.
        """
        known = {f.name: f for f in fields(cls)}
        values: dict[str, object] = {}
        for item in items:
            name, sep, raw = item.partition("=")
            name = name.strip().replace("-", "_")
            if not sep:
                raise ValueError(f"fault {item!r}: expected name=value")
            if name not in known:
                raise ValueError(f"fault {item!r}: unknown name (known: {', '.join(known)})")
            if name == "path_prefix":
                values[name] = raw.strip()
                continue
            try:
                values[name] = float(raw)
            except ValueError:
                raise ValueError(f"fault {item!r}: {raw!r} is not a number") from None
        return cls(**values)  # type: ignore[arg-type]  # names and types checked above

    @property
    def is_quiet(self) -> bool:
        """True when this config injects nothing."""
        return self == replace(FaultConfig(), path_prefix=self.path_prefix)


def _default_error() -> Response:
    return PlainTextResponse("Internal Server Error (simulated)", status_code=500)


def _default_throttle(retry_after_s: float) -> Response:
    return PlainTextResponse(
        "Too Many Requests (simulated)",
        status_code=429,
        headers={"Retry-After": f"{retry_after_s:g}"},
    )


def _default_hang() -> Response:
    return PlainTextResponse("Gateway Timeout (simulated)", status_code=504)


def _default_lost_reply() -> Response:
    return PlainTextResponse("Bad Gateway (simulated: the request was handled)", status_code=502)


@dataclass(frozen=True, slots=True)
class FaultResponses:
    """The answers a simulator gives for each fault; override to copy its system."""

    error: Callable[[], Response] = _default_error
    throttle: Callable[[float], Response] = _default_throttle
    hang: Callable[[], Response] = _default_hang
    lost_reply: Callable[[], Response] = _default_lost_reply


@dataclass(slots=True)
class _Dice:
    rng: random.Random
    forced: deque[FaultKind] = field(default_factory=deque)


class FaultMiddleware:
    """Injects faults into an ASGI app. Make it the outermost layer of a simulator app.

    Args:
        app: the simulator's app.
        config: the run's faults; replace later with :meth:`configure`.
        seed: seeds the dice. Default 0.
        responses: the simulator's own fault answers. Default: plain-text 500/429/504/502.
    """

    def __init__(
        self,
        app: ASGIApp,
        config: FaultConfig | None = None,
        *,
        seed: int = 0,
        responses: FaultResponses | None = None,
    ) -> None:
        self.app = app
        self.config = config or FaultConfig()
        self.responses = responses or FaultResponses()
        self._dice = _Dice(random.Random(seed))  # noqa: S311 - fault dice, not crypto

    def configure(self, config: FaultConfig) -> None:
        """Use ``config`` from the next request on."""
        self.config = config

    def force(self, kind: FaultKind, count: int = 1) -> None:
        """Inject ``kind`` into the next ``count`` faultable requests, whatever the rates."""
        self._dice.forced.extend([kind] * count)

    def _roll(self) -> FaultKind | None:
        if self._dice.forced:
            return self._dice.forced.popleft()
        c = self.config
        if c.error_rate + c.throttle_rate + c.hang_rate + c.lost_reply_rate == 0:
            return None
        roll = self._dice.rng.random()
        for kind, rate in (
            (FaultKind.ERROR, c.error_rate),
            (FaultKind.THROTTLE, c.throttle_rate),
            (FaultKind.HANG, c.hang_rate),
            (FaultKind.LOST_REPLY, c.lost_reply_rate),
        ):
            if roll < rate:
                return kind
            roll -= rate
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call, perhaps spoiling it."""
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(
            self.config.path_prefix
        ):
            await self.app(scope, receive, send)
            return
        config = self.config
        if config.latency_ms > 0:
            await asyncio.sleep(config.latency_ms / 1000)
        kind = self._roll()
        if kind is None:
            await self.app(scope, receive, send)
            return
        if kind is FaultKind.LOST_REPLY:
            await self.app(scope, receive, _discard)
            response = self.responses.lost_reply()
        elif kind is FaultKind.HANG:
            await asyncio.sleep(min(config.hang_s, MAX_HANG_S))
            response = self.responses.hang()
        elif kind is FaultKind.THROTTLE:
            response = self.responses.throttle(config.retry_after_s)
        else:
            response = self.responses.error()
        await response(scope, receive, send)


async def _discard(message: Message) -> None:
    """An ASGI ``send`` that throws the answer away (the lost reply)."""
