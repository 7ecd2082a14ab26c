"""Request-rate limits per API key: per endpoint and global, counted per second.

Documented (reference §5, hc.jiandaoyun.com/open/11261): 50 requests/s per company in all;
30/s for list, get and widget calls; 20/s for single create, update and delete; 10/s for
the batch endpoints. Over the limit the product answers
``400 {"code":8303,"msg":"超出请求频率限制"}``.
The simulator counts in whole-second windows of an injected clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from erpbridge.sims.jiandaoyun.errors import RATE_LIMITED, JdyError

__all__ = ["ENDPOINT_QPS", "GLOBAL_QPS", "RateLimiter"]

GLOBAL_QPS = 50
ENDPOINT_QPS: Mapping[str, int] = {
    "app/list": 30,
    "app/entry/list": 30,
    "app/entry/widget/list": 30,
    "app/entry/data/get": 30,
    "app/entry/data/list": 30,
    "app/entry/data/create": 20,
    "app/entry/data/update": 20,
    "app/entry/data/delete": 20,
    "app/entry/data/batch_create": 10,
    "app/entry/data/batch_update": 10,
    "app/entry/data/batch_delete": 10,
}


class RateLimiter:
    """Counts calls per (key, endpoint) and per key in the current second.

    Args:
        clock: seconds (monotonic); injected so tests need not wait. Default time.monotonic.
        enabled: False turns every check into a no-op (benchmarks). Default True.
    """

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, *, enabled: bool = True
    ) -> None:
        self.clock = clock
        self.enabled = enabled
        self._window = -1
        self._counts: dict[tuple[str, str], int] = {}

    def check(self, key_id: str, endpoint: str) -> None:
        """Count one call; raise the product's 8303 answer when over a limit.

        Raises:
            JdyError: code 8303 (超出请求频率限制).
        """
        if not self.enabled:
            return
        window = int(self.clock())
        if window != self._window:
            self._window = window
            self._counts.clear()
        total = self._counts.get((key_id, ""), 0)
        mine = self._counts.get((key_id, endpoint), 0)
        if total >= GLOBAL_QPS or mine >= ENDPOINT_QPS.get(endpoint, GLOBAL_QPS):
            raise JdyError(RATE_LIMITED, "超出请求频率限制")
        self._counts[(key_id, "")] = total + 1
        self._counts[(key_id, endpoint)] = mine + 1
