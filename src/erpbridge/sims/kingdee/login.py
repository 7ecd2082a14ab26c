"""The legacy login services of ``AuthService`` (reference §1.3), for non-SDK clients.

``ValidateUser [acctId, userName, password, lcid]`` and ``LoginByAppSecret [acctId,
userName, appId, appSecret, lcid]`` (the ``…2`` variants add ``isKickOff`` before
``lcid``), sent as ``{"parameters": [...]}`` or as a named object
(``{"acctID", "username", "password", "lcid"}``). Success is ``LoginResultType: 1`` with
``KDSVCSessionId`` and a ``kdservice-sessionid`` cookie; a refusal is HTTP 200 with
``LoginResultType: 0`` and Kingdee's message (the failure code value is [UNSURE]).
``LoginBySign`` is not offered: its formula is unconfirmed.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import Response

from erpbridge.sims.kingdee.auth import AuthRefusedError, SessionBook
from erpbridge.sims.kingdee.wire import json_response

__all__ = ["LOGIN_METHODS", "login"]

#: method -> positional parameter names (lcid last).
LOGIN_METHODS: dict[str, tuple[str, ...]] = {
    "validateuser": ("acctid", "username", "password", "lcid"),
    "validateuser2": ("acctid", "username", "password", "iskickoff", "lcid"),
    "loginbyappsecret": ("acctid", "username", "appid", "appsecret", "lcid"),
    "loginbyappsecret2": ("acctid", "username", "appid", "appsecret", "iskickoff", "lcid"),
}


def _answer(
    result_type: int, message: str | None, session_id: str | None = None, **context: object
) -> dict[str, object]:
    return {
        "Message": message,
        "MessageCode": "CheckPasswordPolicy" if result_type == 1 else None,
        "LoginResultType": result_type,
        "Context": ({"SessionId": session_id, **context} if session_id else None),
        "KDSVCSessionId": session_id,
        "FormId": None,
        "RedirectFormParam": None,
        "FormInputObject": None,
        "ErrorStackTrace": None,
        "Lcid": context.get("UserLCID", 0),
        "AccessToken": None,
        "CustomParam": {},
        "KdAccessResult": None,
        "IsSuccessByAPI": result_type == 1,
    }


def _arguments(names: tuple[str, ...], body: Mapping[str, object]) -> dict[str, object] | None:
    params = body.get("parameters", body.get("Parameters"))
    if isinstance(params, list):
        if len(params) != len(names):
            return None
        return dict(zip(names, params, strict=True))
    lowered = {str(k).lower(): v for k, v in body.items()}
    if not all(n in lowered for n in names if n != "iskickoff"):
        return None
    return {n: lowered.get(n) for n in names}


def login(sessions: SessionBook, method: str, body: Mapping[str, object]) -> Response:
    """Answer one AuthService login call."""
    names = LOGIN_METHODS.get(method)
    if names is None:
        return Response("The resource cannot be found.", status_code=404, media_type="text/plain")
    args = _arguments(names, body)
    if args is None:
        expected = ", ".join(names)
        return json_response(_answer(0, f"登录参数不正确，应为 [{expected}]"))
    acct, user = str(args["acctid"] or ""), str(args["username"] or "")
    try:
        lcid = int(str(args["lcid"]))
    except ValueError:
        return json_response(_answer(0, f"语言代码“{args['lcid']}”不正确"))
    try:
        if "password" in args:
            sessions.verify_password(acct, user, str(args["password"] or ""), lcid)
        else:
            sessions.verify_app_secret(
                acct, user, str(args["appid"] or ""), str(args["appsecret"] or ""), lcid
            )
    except AuthRefusedError as exc:
        return json_response(_answer(0, exc.message))
    session_id = sessions.open(acct, user, lcid)
    answer = _answer(
        1, None, session_id, DBid=acct, UserName=user, UserLCID=lcid, DisplayVersion="8.2.0"
    )
    return json_response(answer, {"Set-Cookie": f"kdservice-sessionid={session_id}; path=/"})
