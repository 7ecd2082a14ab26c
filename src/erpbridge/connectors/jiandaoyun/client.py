"""Wire calls: one POST per call to ``/api/v5/<endpoint>`` with the Bearer key.

The cut is here so the connector speaks in endpoints and bodies and never sees status
codes: every answer is either a JSON object or a classified spi error (errors.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import httpx
import structlog

from erpbridge.connectors._http import body_excerpt
from erpbridge.connectors.jiandaoyun.errors import (
    SYSTEM,
    classify_error,
    classify_response,
    map_errors,
)
from erpbridge.spi.errors import TransientError
from erpbridge.spi.secrets import Secret

__all__ = ["JdyClient"]

_log = structlog.get_logger(__name__)


class JdyClient:
    """Calls the v5 API of one tenant.

    Args:
        http: the caller's client (its transport may be a simulator's ASGI app).
        base_url: scheme and host, without ``/api``.
        api_key: the key; revealed only into the Authorization header.
        timeout_s: per call.
    """

    def __init__(
        self, http: httpx.AsyncClient, base_url: str, api_key: Secret, timeout_s: float
    ) -> None:
        self.http = http
        self._root = f"{base_url}/api/v5/"
        self._api_key = api_key
        self._timeout = httpx.Timeout(timeout_s)

    def __repr__(self) -> str:
        return f"JdyClient({self._root!r})"

    async def call(
        self, endpoint: str, body: Mapping[str, object], *, object: str | None = None
    ) -> dict[str, object]:
        """POST ``body`` to ``endpoint`` (``app/entry/data/list``) and return the answer.

        Raises:
            ConnectorError: the classified error (errors.py), or TransientError for a
                2xx answer that is not a JSON object.
        """
        headers = {
            "Authorization": f"Bearer {self._api_key.reveal()}",
            "Content-Type": "application/json;charset=utf-8",
        }
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        with map_errors(object):
            response = await self.http.post(
                self._root + endpoint, content=content, headers=headers, timeout=self._timeout
            )
        _log.debug("jdy.call", endpoint=endpoint, status=response.status_code)
        if not response.is_success:
            raise classify_response(response, object=object)
        try:
            answer = json.loads(response.content)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TransientError(
                f"HTTP {response.status_code} with a body that is not JSON: "
                f"{body_excerpt(response)}",
                system=SYSTEM,
                object=object,
                raw=body_excerpt(response),
                status=response.status_code,
            ) from exc
        if not isinstance(answer, dict):
            raise TransientError(
                f"HTTP {response.status_code} with JSON that is not an object",
                system=SYSTEM,
                object=object,
                raw=body_excerpt(response),
                status=response.status_code,
            )
        if isinstance(answer.get("code"), int) and isinstance(answer.get("msg"), str):
            # An error body under a 2xx status: not documented, but never take it as success.
            raise classify_error(
                response.status_code,
                answer["code"],
                answer["msg"],
                object=object,
                raw=body_excerpt(response),
            )
        return answer
