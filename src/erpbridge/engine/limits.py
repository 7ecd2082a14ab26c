"""Per-connection limits the engine keeps: rate (token bucket), concurrency, circuit breaker.

One dead ERP must not burn the retry budget of every job: after ``threshold`` transient
failures in a row the breaker opens and calls fail fast (as transient, so jobs are
rescheduled without an attempt against the system) until ``reset_s`` has passed; then
one probe call is let through (half-open) and its outcome closes or reopens the breaker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from erpbridge.engine.clock import Clock
from erpbridge.spi.errors import ConnectorError, TransientError
from erpbridge.spi.settings import Limits

__all__ = ["CircuitBreaker", "CircuitOpenError", "ConnectionGuard", "TokenBucket"]

T = TypeVar("T")


class CircuitOpenError(TransientError):
    """The connection's circuit breaker is open; the call was not made."""


class TokenBucket:
    """``rate`` tokens per second, bursts up to ``burst``; ``acquire`` waits for a token."""

    def __init__(self, rate: float, clock: Clock, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._tokens = self.burst
        self._clock = clock
        self._last = clock.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Take one token, waiting as long as needed."""
        async with self._lock:
            while True:
                now = self._clock.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                # At least 1 ms: float rounding can leave a wait of 1e-16 s, which a clock
                # cannot advance by (a manual clock would then spin forever).
                await self._clock.sleep(max((1 - self._tokens) / self.rate, 0.001))


class CircuitBreaker:
    """Closed → open after ``threshold`` consecutive transient failures → half-open after
    ``reset_s`` → closed on a successful probe, open again on a failed one."""

    def __init__(self, clock: Clock, threshold: int = 5, reset_s: float = 30.0) -> None:
        self.threshold = threshold
        self.reset_s = reset_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half-open``."""
        if self._opened_at is None:
            return "closed"
        if self._clock.monotonic() - self._opened_at >= self.reset_s:
            return "half-open"
        return "open"

    def before_call(self) -> None:
        """Raise :class:`CircuitOpenError` unless a call may go through now."""
        state = self.state
        if state == "open" or (state == "half-open" and self._probing):
            raise CircuitOpenError("circuit open after repeated failures; call not made")
        if state == "half-open":
            self._probing = True

    def record(self, ok: bool) -> None:
        """Count the outcome of a call that was made (only transient failures count)."""
        self._probing = False
        if ok:
            self._failures = 0
            self._opened_at = None
            return
        self._failures += 1
        if self._failures >= self.threshold or self._opened_at is not None:
            self._opened_at = self._clock.monotonic()


class ConnectionGuard:
    """Wraps every call to one connection with its rate, concurrency and breaker."""

    def __init__(self, name: str, limits: Limits, clock: Clock) -> None:
        self.name = name
        self.limits = limits
        self.breaker = CircuitBreaker(clock)
        self._bucket = TokenBucket(limits.requests_per_s, clock) if limits.requests_per_s else None
        self._slots = asyncio.Semaphore(limits.concurrency)

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn`` within the limits; transient failures feed the breaker.

        Raises:
            CircuitOpenError: the breaker is open (the call was not made).
            ConnectorError: whatever ``fn`` raised.
        """
        self.breaker.before_call()
        if self._bucket is not None:
            await self._bucket.acquire()
        async with self._slots:
            try:
                result = await asyncio.wait_for(fn(), timeout=self.limits.timeout_s * 3)
            except TimeoutError as exc:
                self.breaker.record(ok=False)
                raise TransientError(
                    f"no answer within {self.limits.timeout_s * 3:g}s", system=self.name
                ) from exc
            except TransientError:
                self.breaker.record(ok=False)
                raise
            except ConnectorError:
                self.breaker.record(ok=True)  # the system answered; it is alive
                raise
        self.breaker.record(ok=True)
        return result
