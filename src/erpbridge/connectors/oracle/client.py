"""Wire calls to a Fusion pod: Basic auth, framework version, JSON answers, batch requests.

Every call sends ``Authorization: Basic`` (reference §1.1) and ``REST-Framework-Version``
(§1.2). The Authorization value is built once and never logged or put in an error.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import cast

import httpx

from erpbridge.connectors._http import read_json
from erpbridge.connectors.oracle.errors import SYSTEM, classify_response, map_errors
from erpbridge.connectors.oracle.settings import OracleSettings
from erpbridge.spi.errors import ConnectorError

__all__ = ["BATCH_MEDIA_TYPE", "BatchAnswer", "OracleClient"]

BATCH_MEDIA_TYPE = "application/vnd.oracle.adf.batch+json"

JsonObject = dict[str, object]


class BatchAnswer:
    """A batch answer: every part (success) or only the failing parts (rolled back)."""

    def __init__(self, ok: bool, parts: list[JsonObject]) -> None:
        self.ok = ok
        self.parts = parts


class OracleClient:
    """HTTP calls to one pod.

    Args:
        settings: the connection.
        http: the caller's ``httpx.AsyncClient`` (its transport may be the simulator's app).
    """

    def __init__(self, settings: OracleSettings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http
        credentials = f"{settings.username}:{settings.password.reveal()}".encode()
        self._authorization = "Basic " + base64.b64encode(credentials).decode()

    def __repr__(self) -> str:
        return f"OracleClient({self.settings.base_url!r}, user={self.settings.username!r})"

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {
            "Authorization": self._authorization,
            "REST-Framework-Version": str(self.settings.framework_version),
            "Accept": "application/json",
        }
        headers.update(extra or {})
        return headers

    async def get(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        object: str | None = None,
        family: str = "fscmRestApi",
    ) -> JsonObject:
        """GET ``root + path`` (the root of ``family``) and return its JSON object.

        Raises:
            ConnectorError: the classified error answer, a transport failure, or an answer
                that is not a JSON object.
        """
        url = path if path.startswith("http") else f"{self.settings.root_of(family)}{path}"
        with map_errors(object):
            response = await self.http.get(url, params=params, headers=self._headers())
        if response.status_code >= 400:
            raise classify_response(response, object)
        body = read_json(response, system=SYSTEM, object=object)
        if not isinstance(body, dict):
            raise ConnectorError(
                f"HTTP {response.status_code}: expected a JSON object, got {type(body).__name__}",
                system=SYSTEM,
                object=object,
            )
        return body

    async def batch(
        self,
        parts: Sequence[JsonObject],
        *,
        upsert: bool,
        object: str | None = None,
        family: str = "fscmRestApi",
    ) -> BatchAnswer:
        """POST one batch request to the version root of ``family`` (reference §4).

        Returns:
            ``ok`` with every part, or not ``ok`` with the failing parts (nothing committed).

        Raises:
            ConnectorError: the whole call failed (auth, throttling, 5xx, transport, garbage).
        """
        headers = self._headers({"Content-Type": BATCH_MEDIA_TYPE})
        if upsert:
            headers["Upsert-Mode"] = "true"
        content = json.dumps({"parts": list(parts)}, ensure_ascii=False, default=str).encode()
        with map_errors(object):
            response = await self.http.post(
                f"{self.settings.root_of(family)}/", content=content, headers=headers
            )
        if response.status_code == 200:
            listed = _parts_of(read_json(response, system=SYSTEM, object=object))
            if listed is None:
                raise ConnectorError(
                    "HTTP 200 batch answer without a parts list", system=SYSTEM, object=object
                )
            return BatchAnswer(True, listed)
        if response.status_code == 400 and "json" in response.headers.get("content-type", ""):
            try:
                listed = _parts_of(json.loads(response.text))
            except json.JSONDecodeError:
                listed = None
            if listed:
                return BatchAnswer(False, listed)
        raise classify_response(response, object)


def _parts_of(body: object) -> list[JsonObject] | None:
    if not isinstance(body, dict) or not isinstance(body.get("parts"), list):
        return None
    parts = cast(list[object], body["parts"])
    if not all(isinstance(p, dict) for p in parts):
        return None
    return cast(list[JsonObject], parts)
