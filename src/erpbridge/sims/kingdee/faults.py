"""Kingdee's own answers for injected faults (the shared ``FaultMiddleware`` injects them).

K/3 Cloud runs on IIS, so server errors, gateway timeouts and lost replies come back as
IIS-style HTML pages, which the SDK surfaces as ``RuntimeError(body)``. Throttling is 429
with ``Retry-After`` as Kingdee's public gateway answers [UNSURE: on-premise servers do
not throttle at all].
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import Response

from erpbridge.sims._common.faults import FaultResponses

__all__ = ["KINGDEE_FAULTS"]

_IIS_PAGE = (
    "<!DOCTYPE html><html><head><title>{title}</title></head>"
    "<body><h1>Server Error</h1><h2>{title}</h2><p>{detail}</p></body></html>"
)


def _iis(
    status: int, title: str, detail: str, headers: Mapping[str, str] | None = None
) -> Response:
    body = _IIS_PAGE.format(title=title, detail=detail)
    return Response(body, status_code=status, media_type="text/html", headers=dict(headers or {}))


#: the fault answers (see the module docstring).
KINGDEE_FAULTS = FaultResponses(
    error=lambda: _iis(500, "500 - Internal server error.", "simulated server error"),
    throttle=lambda retry_after_s: _iis(
        429,
        "429 - Too Many Requests",
        "simulated throttling",
        {"Retry-After": f"{retry_after_s:g}"},
    ),
    hang=lambda: _iis(504, "504 - Gateway Timeout", "simulated timeout"),
    lost_reply=lambda: _iis(502, "502 - Bad Gateway", "simulated: the request was handled"),
)
