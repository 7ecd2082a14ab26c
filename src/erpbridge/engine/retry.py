"""Retry policy as data (Temporal habit): exponential backoff with full jitter, bounded."""

from __future__ import annotations

import random
from dataclasses import dataclass

from erpbridge.config.model import RetrySpec

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a failed job is retried.

    Attributes:
        initial_s: first backoff ceiling in seconds. Default 1.
        coefficient: growth per attempt. Default 2.
        max_interval_s: ceiling of any one backoff. Default 600.
        max_attempts: attempts in all, the first included; then dead letter. Default 8.
        jitter: full jitter (uniform in [0, ceiling]) so retries of many jobs spread out.
            Default True.
        dependency_timeout_s: how long a job may wait for a referenced record. Default 3600.
    """

    initial_s: float = 1.0
    coefficient: float = 2.0
    max_interval_s: float = 600.0
    max_attempts: int = 8
    jitter: bool = True
    dependency_timeout_s: float = 3600.0

    @classmethod
    def from_spec(cls, spec: RetrySpec) -> RetryPolicy:
        """The policy a flow's ``retry:`` block describes."""
        return cls(
            initial_s=spec.initial.total_seconds(),
            coefficient=spec.coefficient,
            max_interval_s=spec.max_interval.total_seconds(),
            max_attempts=spec.max_attempts,
            dependency_timeout_s=spec.dependency_timeout.total_seconds(),
        )

    def is_exhausted(self, attempts: int) -> bool:
        """True when ``attempts`` made so far leave no retry."""
        return attempts >= self.max_attempts

    def delay_s(
        self, attempts: int, retry_after_s: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before the next attempt, after ``attempts`` failed ones.

        The system's own Retry-After wins when it asks for longer than the backoff.
        """
        ceiling = min(
            self.max_interval_s, self.initial_s * self.coefficient ** max(0, attempts - 1)
        )
        delay = (rng or random).uniform(0, ceiling) if self.jitter else ceiling
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, self.max_interval_s))
        return delay
