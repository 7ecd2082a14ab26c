"""Wire calls to K/3 Cloud's WebAPI: signing or session, one re-login, answer checks.

Every call is ``POST {base_url}<service>.common.kdsvc`` with a JSON body. Two ways in
(``settings.auth``):
- ``signature`` (default): the official SDK's signed headers on every request; the
  ``kdservice-sessionid`` the server hands back is sent along (as the SDK does) to spare
  it a re-authentication, and dropped when the server says the session is lost.
- ``password`` / ``app_secret``: ValidateUser or LoginByAppSecret once, then the session
  cookie; when the server answers "会话信息已丢失" (MsgCode 1) the client logs in again
  once and repeats the call (STYLE: nothing retries inline except a single re-login).
Session ids and secrets never reach logs or errors.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping

import httpx
import structlog

from erpbridge.connectors._http import body_excerpt, map_transport_errors
from erpbridge.connectors.kingdee.errors import (
    SYSTEM,
    classify_http,
    classify_items,
    is_session_lost,
)
from erpbridge.connectors.kingdee.settings import KingdeeSettings
from erpbridge.connectors.kingdee.signing import signed_headers
from erpbridge.spi.errors import AuthError, ConnectorError, TransientError

__all__ = ["AUTH_SERVICE", "FORM_SERVICE", "KingdeeClient", "response_status"]

FORM_SERVICE = "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService."
AUTH_SERVICE = "Kingdee.BOS.WebApi.ServicesStub.AuthService."
SESSION_COOKIE = "kdservice-sessionid"

_log = structlog.get_logger(__name__)


def response_status(answer: object) -> Mapping[str, object] | None:
    """The ``ResponseStatus`` inside an answer (also the ``[[{"Result": ...}]]`` query shape)."""
    if isinstance(answer, list) and answer and isinstance(answer[0], list) and answer[0]:
        answer = answer[0][0]
    if isinstance(answer, dict):
        result = answer.get("Result")
        if isinstance(result, dict):
            status = result.get("ResponseStatus")
            if isinstance(status, dict):
                return status
    return None


class KingdeeClient:
    """Calls services of one connection.

    Args:
        settings: the connection.
        http: the HTTP client (made by the caller; tests pass an ASGI transport).
        clock: Unix time in seconds, for the signature. Default: ``time.time``.
    """

    def __init__(
        self,
        settings: KingdeeSettings,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.http = http
        self.clock = clock
        self._session_id: str | None = None
        # Concurrent calls that all find the session lost log in once, not once each.
        self._login_lock = asyncio.Lock()
        self.logins = 0  # how many logins this client made (observable in tests and bench)

    # --- public ---------------------------------------------------------------------

    async def form_call(self, op: str, body: Mapping[str, object], *, form: str | None) -> object:
        """Call ``DynamicFormService.<op>``; returns the decoded answer.

        Raises:
            AuthError: refused credentials, or the session was lost again after re-login.
            TransientError / RateLimitedError: transport failures, 5xx, 429.
            ConnectorError: an answer that is not JSON.
        """
        if self.settings.auth != "signature" and self._session_id is None:
            await self._login_unless_renewed(None)
        used = self._session_id
        answer = await self._post(FORM_SERVICE + op, body, form=form)
        status = response_status(answer)
        if status is not None and is_session_lost(status):
            _log.info("kingdee.session_lost", op=op, object=form, auth=self.settings.auth)
            if self.settings.auth == "signature":
                self._session_id = None  # the next signed request opens a new session
            else:
                await self._login_unless_renewed(used)
            answer = await self._post(FORM_SERVICE + op, body, form=form)
            status = response_status(answer)
            if status is not None and is_session_lost(status):
                raise classify_items(_items(status), status.get("MsgCode"), form=form)
        return answer

    async def _login_unless_renewed(self, lost: str | None) -> None:
        """Log in, unless another call already replaced the session ``lost``."""
        async with self._login_lock:
            if self._session_id is None or self._session_id == lost:
                await self.login()

    async def login(self) -> None:
        """ValidateUser or LoginByAppSecret; keeps the session id.

        Raises:
            AuthError: LoginResultType is not 1 (with Kingdee's message).
        """
        s = self.settings
        if s.auth == "password" and s.password is not None:
            method = "ValidateUser"
            params: list[object] = [s.acct_id, s.username, s.password.reveal(), s.lcid]
        elif s.app_id is not None and s.app_secret is not None:
            method = "LoginByAppSecret"
            params = [s.acct_id, s.username, s.app_id, s.app_secret.reveal(), s.lcid]
        else:  # the settings model refuses this; keep a clear error anyway
            raise AuthError("登录需要 password 或 app_id/app_secret", system=SYSTEM)
        self._session_id = None
        answer = await self._post(AUTH_SERVICE + method, {"parameters": params}, form=None)
        self.logins += 1
        if not isinstance(answer, dict) or answer.get("LoginResultType") != 1:
            message = answer.get("Message") if isinstance(answer, dict) else None
            raise AuthError(
                f"{method} 登录失败：{message or '金蝶未给出原因'}",
                system=SYSTEM,
                raw=str(message or "")[:500],
                status=answer.get("LoginResultType") if isinstance(answer, dict) else None,
            )
        session_id = answer.get("KDSVCSessionId")
        if isinstance(session_id, str) and session_id:
            self._session_id = session_id
        _log.info("kingdee.logged_in", method=method)

    # --- wire -----------------------------------------------------------------------

    def _headers(self, url: str) -> dict[str, str]:
        s = self.settings
        headers = {"Content-Type": "application/json", "Accept-Charset": "utf-8"}
        if s.auth == "signature" and s.app_id is not None and s.app_secret is not None:
            headers.update(
                signed_headers(
                    url=url,
                    app_id=s.app_id,
                    app_secret=s.app_secret.reveal(),
                    acct_id=s.acct_id,
                    username=s.username,
                    lcid=s.lcid,
                    org_num=s.org_num,
                    now_s=int(self.clock()),
                )
            )
        if self._session_id:
            headers[SESSION_COOKIE] = self._session_id
            headers["Cookie"] = f"{SESSION_COOKIE}={self._session_id}"
        return headers

    async def _post(self, service: str, body: Mapping[str, object], *, form: str | None) -> object:
        url = f"{self.settings.base_url}{service}.common.kdsvc"
        content = json.dumps(body, ensure_ascii=False).encode("utf-8")
        started = time.perf_counter()
        with map_transport_errors(SYSTEM, form):
            response = await self.http.post(
                url,
                content=content,
                headers=self._headers(url),
                timeout=self.settings.limits.timeout_s,
            )
        _log.debug(
            "kingdee.call",
            service=service.rsplit(".", 1)[-1],
            object=form,
            http_status=response.status_code,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        if response.status_code not in (200, 206):
            raise classify_http(response, form=form)
        session_id = response.cookies.get(SESSION_COOKIE)
        if session_id:
            self._session_id = session_id
        text = response.text
        if text.startswith("response_error:"):
            # The SDK's ValidResult: the server threw; its text follows the marker.
            message = text.removeprefix("response_error:").strip() or "金蝶服务端异常"
            raise TransientError(message[:500], system=SYSTEM, object=form, raw=message[:2000])
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConnectorError(
                f"金蝶返回的不是JSON：{body_excerpt(response)}",
                system=SYSTEM,
                object=form,
                raw=body_excerpt(response),
                status=response.status_code,
            ) from exc


def _items(status: Mapping[str, object]) -> list[Mapping[str, object]]:
    errors = status.get("Errors")
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
