"""How the simulated org answers injected faults (shapes a Salesforce client really sees).

- error: 503 with an HTML maintenance page (what Salesforce's edge serves during an
  incident; a client must cope with a non-JSON body).
- throttle: 403 ``REQUEST_LIMIT_EXCEEDED`` in the REST error shape. Salesforce does not
  use 429 for API limits (reference §5) and sends no Retry-After, so none is sent.
- hang: after ``hang_s``, 504 with an HTML page.
- lost reply: the write is done, then 502 with an HTML page.
"""

from __future__ import annotations

from starlette.responses import HTMLResponse, JSONResponse, Response

from erpbridge.sims._common.faults import FaultResponses

__all__ = ["SALESFORCE_FAULTS"]


def _page(status: int, title: str) -> Response:
    body = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
    return HTMLResponse(body, status_code=status)


def _throttle(retry_after_s: float) -> Response:
    return JSONResponse(
        [
            {
                "message": "ConcurrentPerOrgLongTxn Limit exceeded.",
                "errorCode": "REQUEST_LIMIT_EXCEEDED",
            }
        ],
        status_code=403,
    )


SALESFORCE_FAULTS = FaultResponses(
    error=lambda: _page(503, "Service Unavailable"),
    throttle=_throttle,
    hang=lambda: _page(504, "Gateway Timeout"),
    lost_reply=lambda: _page(502, "Bad Gateway"),
)
