"""SAP's own answers for injected faults (used with the shared ``FaultMiddleware``).

What an S/4HANA system behind the SAP Web Dispatcher / ICM sends when things go wrong:
HTML error pages (not OData JSON) for server errors, gateway timeouts and a failing proxy,
and **503** with ``Retry-After`` when it throttles (SAP Gateway and API Management answer
503 rather than 429; reference §5).
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import Response

from erpbridge.sims._common.faults import FaultResponses

__all__ = ["SAP_FAULTS"]

_ICM_PAGE = (
    "<html><head><title>{title}</title></head><body><h1>{title}</h1>"
    "<p>SAP Web Dispatcher / ICM ({detail})</p></body></html>"
)


def _html(
    status: int, title: str, detail: str, headers: Mapping[str, str] | None = None
) -> Response:
    body = _ICM_PAGE.format(title=title, detail=detail)
    return Response(body, status_code=status, media_type="text/html", headers=dict(headers or {}))


#: SAP's own fault answers: ICM HTML pages, and 503 (not 429) when throttled.
SAP_FAULTS = FaultResponses(
    error=lambda: _html(500, "500 Internal Server Error", "simulated server error"),
    throttle=lambda retry_after_s: _html(
        503,
        "503 Service Unavailable",
        "simulated throttling",
        {"Retry-After": f"{retry_after_s:g}"},
    ),
    hang=lambda: _html(504, "504 Gateway Time-out", "simulated timeout"),
    lost_reply=lambda: _html(502, "502 Bad Gateway", "simulated: the request was handled"),
)
