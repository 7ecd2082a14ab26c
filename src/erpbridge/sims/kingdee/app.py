"""The Kingdee K/3 Cloud simulator as an ASGI app: ``POST /k3cloud/<service>.common.kdsvc``.

Services (reference §2): ``Kingdee.BOS.WebApi.ServicesStub.AuthService.<Method>``
(ValidateUser, ValidateUser2, LoginByAppSecret, LoginByAppSecret2, Logout) and
``Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.<Op>`` (Save, BatchSave, Draft,
View, ExecuteBillQuery, BillQuery, Submit, Audit, UnAudit, CancelAssign, Delete,
QueryBusinessInfo,
ExcuteOperation Forbid/Enable, Cancel, YLMRPClose/YLUnMRPClose). Simulator control (not
Kingdee): ``POST /sim/stock-out`` books an outbound quantity on a sales order row.
Every answer of a known service is HTTP 200, business errors included
(``IsSuccess: false``); an unknown data centre is the one non-200 (``Fail to verify
thirty passport``), as observed. Bodies are accepted in the three shapes clients send:
``{"formid", "data": {...}}``, ``data`` as a JSON string, and ``{"parameters": [...]}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import structlog
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from erpbridge.sims.kingdee.auth import AuthRefusedError, Session, SessionBook
from erpbridge.sims.kingdee.describe import business_info
from erpbridge.sims.kingdee.entries import close_rows, stock_out
from erpbridge.sims.kingdee.forms import FORMS, FormDef, find_form
from erpbridge.sims.kingdee.login import login
from erpbridge.sims.kingdee.query import BillQuery, view_of
from erpbridge.sims.kingdee.rules import Rules, SaveOptions, StatusOp
from erpbridge.sims.kingdee.state import KingdeeState
from erpbridge.sims.kingdee.wire import (
    BusinessError,
    ErrorItem,
    MsgCode,
    SuccessItem,
    json_response,
    lower_keys,
    response_status,
    session_lost,
)

__all__ = ["AUTH_SERVICE", "FORM_SERVICE", "SESSION_COOKIE", "KingdeeSimApp"]

_log = structlog.get_logger(__name__)

BASE_PATH = "/k3cloud/"
SUFFIX = ".common.kdsvc"
FORM_SERVICE = "kingdee.bos.webapi.servicesstub.dynamicformservice."
AUTH_SERVICE = "kingdee.bos.webapi.servicesstub.authservice."
SESSION_COOKIE = "kdservice-sessionid"
#: simulator control: book an outbound quantity on a sales order row (not a Kingdee API).
STOCK_OUT_PATH = "/sim/stock-out"
MAX_BODY_BYTES = 16 * 1024 * 1024


@dataclass(slots=True)
class _Call:
    """One parsed DynamicFormService call."""

    op: str
    form_id: object
    data: object
    body: Mapping[str, object]
    session: Session


class KingdeeSimApp:
    """The ASGI app (wrap it in the shared ``FaultMiddleware`` to inject faults).

    Args:
        state: the records.
        sessions: the session book (credentials, idle expiry).
    """

    def __init__(self, state: KingdeeState, sessions: SessionBook) -> None:
        self.state = state
        self.sessions = sessions
        self.rules = Rules(state)
        self.on_shutdown: list[object] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry: lifespan events, then one HTTP request."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response = await self._handle(request)
        await response(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for hook in self.on_shutdown:
                    if callable(hook):
                        hook()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _handle(self, request: Request) -> Response:
        path = request.url.path
        if path == STOCK_OUT_PATH:
            return await self._stock_out(request)
        if not (path.startswith(BASE_PATH) and path.endswith(SUFFIX)):
            return PlainTextResponse("The resource cannot be found.", status_code=404)
        if request.method != "POST":
            return PlainTextResponse("The HTTP verb used is not allowed.", status_code=405)
        service = path[len(BASE_PATH) : -len(SUFFIX)].lower()
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return PlainTextResponse("Request Entity Too Large", status_code=413)
        try:
            body = _parse_body(raw)
            if service.startswith(AUTH_SERVICE):
                return self._auth(service[len(AUTH_SERVICE) :], body, request)
            if service.startswith(FORM_SERVICE):
                return self._form_service(service[len(FORM_SERVICE) :], body, request)
        except BusinessError as exc:
            return json_response(
                {"Result": {"ResponseStatus": response_status(exc.items(), msg_code=exc.msg_code)}}
            )
        except Exception:  # noqa: BLE001 - process edge: never a traceback or a bare 500
            _log.exception("kingdee_sim.unexpected_error", service=service)
            item = ErrorItem("服务器内部错误，请查看服务器日志", "")
            return json_response(
                {
                    "Result": {
                        "ResponseStatus": response_status([item], msg_code=MsgCode.BAD_REQUEST)
                    }
                }
            )
        return PlainTextResponse("The resource cannot be found.", status_code=404)

    async def _stock_out(self, request: Request) -> Response:
        """Simulator control (not a Kingdee API): ``POST /sim/stock-out`` with
        ``{"BillNo", "EntryId", "Qty"}`` books an outbound quantity on a sales order row,
        as an audited 销售出库单 would (entries.py). Needs a live session or signed headers."""
        if request.method != "POST":
            return PlainTextResponse("The HTTP verb used is not allowed.", status_code=405)
        try:
            session, new_id = self._session_of(request)
        except AuthRefusedError:
            session, new_id = None, None
        if session is None:
            return json_response(session_lost())
        headers = {"Set-Cookie": f"{SESSION_COOKIE}={new_id}; path=/"} if new_id else None
        try:
            body = _parse_body(await request.body())
            form = FORMS["sal_saleorder"]
            row = stock_out(self.state, form, body)
        except BusinessError as exc:
            return json_response(self._error_answer("stockout", exc), headers)
        success = SuccessItem(row[form.pk], str(row.get(form.number_key)))
        return json_response(
            {"Result": {"ResponseStatus": response_status(successes=[success])}}, headers
        )

    # --- authentication ------------------------------------------------------------

    def _session_of(self, request: Request) -> tuple[Session | None, str | None]:
        """The caller's session, opening one from signed headers; (None, None) if neither."""
        session_id = request.headers.get(SESSION_COOKIE) or request.cookies.get(SESSION_COOKIE)
        session = self.sessions.lookup(session_id)
        if session is not None:
            return session, None
        if "x-kd-appkey" not in request.headers:
            return None, None
        acct, user, lcid, org = self.sessions.verify_signed(request.headers, request.url.path)
        new_id = self.sessions.open(acct, user, lcid, org)
        return self.sessions.lookup(new_id), new_id

    def _auth(self, method: str, body: Mapping[str, object], request: Request) -> Response:
        if method == "logout":
            self.sessions.close(
                request.headers.get(SESSION_COOKIE) or request.cookies.get(SESSION_COOKIE)
            )
            return json_response(True)
        return login(self.sessions, method, body)

    # --- DynamicFormService ---------------------------------------------------------

    def _form_service(self, op: str, body: Mapping[str, object], request: Request) -> Response:
        try:
            session, new_id = self._session_of(request)
        except AuthRefusedError as exc:
            if exc.http_status is not None:
                return PlainTextResponse(exc.message, status_code=exc.http_status)
            return json_response(session_lost())
        if session is None:
            return json_response(session_lost())
        headers = {"Set-Cookie": f"{SESSION_COOKIE}={new_id}; path=/"} if new_id else None
        handler = {
            "save": self._save,
            "batchsave": self._batch_save,
            "draft": self._draft,
            "view": self._view,
            "executebillquery": self._execute_bill_query,
            "billquery": self._bill_query,
            "submit": self._status,
            "audit": self._status,
            "unaudit": self._status,
            "cancelassign": self._status,
            "delete": self._status,
            "querybusinessinfo": self._business_info,
            "excuteoperation": self._operation,  # sic: the SDK and the server spell it so
        }.get(op)
        if handler is None:
            return PlainTextResponse("The resource cannot be found.", status_code=404)
        try:
            form_id, data = _form_and_data(op, body)
            answer = handler(_Call(op, form_id, data, body, session))
        except BusinessError as exc:
            answer = self._error_answer(op, exc)
        return json_response(answer, headers)

    def _error_answer(self, op: str, exc: BusinessError) -> object:
        status = response_status(exc.items(), msg_code=exc.msg_code)
        if op == "executebillquery":
            return [[{"Result": {"ResponseStatus": status}}]]
        if op == "save":
            return {
                "Result": {"ResponseStatus": status, "Id": "", "Number": "", "NeedReturnData": []}
            }
        return {"Result": {"ResponseStatus": status}}

    def _form(self, call: _Call) -> FormDef:
        form = find_form(call.form_id)
        if form is None:
            raise BusinessError(f"业务对象“{call.form_id}”不存在", "FormId", MsgCode.BAD_REQUEST)
        return form

    def _data(self, call: _Call) -> dict[str, object]:
        if not isinstance(call.data, dict):
            raise BusinessError("data 应为JSON对象", "data", MsgCode.BAD_REQUEST)
        return lower_keys(call.data)

    def _save(self, call: _Call, *, draft: bool = False) -> object:
        form, data = self._form(call), self._data(call)
        if "model" not in data:
            raise BusinessError("Model 不能为空", "Model", MsgCode.BAD_REQUEST)
        options = SaveOptions.parse(data)
        row, _ = self.rules.save(form, data["model"], options, draft=draft)
        number = str(row.get(form.number_key) or "")
        return {
            "Result": {
                "ResponseStatus": response_status(successes=[SuccessItem(row[form.pk], number)]),
                "Id": row[form.pk],
                "Number": number,
                "NeedReturnData": [self._return_data(form, row, options)],
            }
        }

    def _draft(self, call: _Call) -> object:
        return self._save(call, draft=True)

    def _return_data(self, form: FormDef, row: dict[str, object], options: SaveOptions) -> object:
        out: dict[str, object] = {}
        for key in options.need_return_fields:
            loc = form.locate(key.split(".")[-1])
            if loc is not None and loc.entry is None:
                out[key] = row.get(loc.field.key)
        return out

    def _batch_save(self, call: _Call) -> object:
        form, data = self._form(call), self._data(call)
        models = data.get("model")
        if not isinstance(models, list) or not models:
            raise BusinessError("BatchSave 的 Model 应为非空数组", "Model", MsgCode.BAD_REQUEST)
        options = SaveOptions.parse(data)
        done: list[SuccessItem] = []
        failed: list[ErrorItem] = []
        returned: list[object] = []
        code = MsgCode.OK  # one MsgCode per answer: the first failure's
        with self.state.batch():
            for dindex, model in enumerate(models):
                try:
                    row, _ = self.rules.save(form, model, options)
                except BusinessError as exc:
                    failed += exc.items(dindex)
                    code = code or exc.msg_code
                    continue
                number = str(row.get(form.number_key) or "")
                done.append(SuccessItem(row[form.pk], number, dindex))
                returned.append(self._return_data(form, row, options))
        answer = {
            "Result": {
                "ResponseStatus": response_status(failed, done, code),
                "NeedReturnData": returned,
            }
        }
        if "beginmethod" in lower_keys(call.body):
            # The SDK's BatchSaveQuery: an async task; it is complete at once (reference §2.4).
            return {"Status": 2, "TaskId": f"sim-{len(done)}-{len(failed)}", "Result": answer}
        return answer

    def _view(self, call: _Call) -> object:
        form, data = self._form(call), self._data(call)
        pk, number = data.get("id"), data.get("number")
        if pk not in (None, "", 0, "0"):
            row = self.state.get(form, _as_id(pk))
            asked = f"内码为“{pk}”"
        elif number not in (None, ""):
            row = self.state.by_number(form, str(number))
            asked = f"编码为“{number}”"
        else:
            raise BusinessError("请指定 Number 或 Id", "Number", MsgCode.BAD_REQUEST)
        if row is None:
            raise BusinessError(
                f"{asked}的{form.label}不存在或没有查看权限！", "", MsgCode.BAD_REQUEST
            )
        return {
            "Result": {
                "ResponseStatus": None,
                "Result": view_of(self.state, form, row, call.session.lcid),
            }
        }

    def _execute_bill_query(self, call: _Call) -> object:
        _, rows = BillQuery(self.state).run(call.data)
        return rows

    def _bill_query(self, call: _Call) -> object:
        names, rows = BillQuery(self.state).run(call.data)
        return [dict(zip(names, row, strict=True)) for row in rows]

    def _status(self, call: _Call) -> object:
        form, data = self._form(call), self._data(call)
        op = {
            "submit": StatusOp.SUBMIT,
            "audit": StatusOp.AUDIT,
            "unaudit": StatusOp.UNAUDIT,
            "cancelassign": StatusOp.CANCEL_ASSIGN,
        }
        operation = op.get(call.op, StatusOp.DELETE)
        targets = self.rules.targets(form, data)
        done, failed, code = self.rules.change_status(form, operation, targets)
        return {"Result": {"ResponseStatus": response_status(failed, done, code)}}

    def _operation(self, call: _Call) -> object:
        """ExcuteOperation: Forbid/Enable of base data, Cancel (作废) of sales orders, and
        YLMRPClose/YLUnMRPClose (行关闭 of sales order rows, UNSURE; entries.py)."""
        form, data = self._form(call), self._data(call)
        op_number = str(lower_keys(call.body).get("opnumber") or "").strip().lower()
        if op_number not in ("forbid", "enable", "cancel", "ylmrpclose", "ylunmrpclose"):
            message = (
                f"操作“{op_number or '(空)'}”不存在或模拟器不支持"
                "（支持 Forbid、Enable、Cancel、YLMRPClose、YLUnMRPClose）"
            )
            raise BusinessError(message, "opNumber", MsgCode.BAD_REQUEST)
        if op_number in ("ylmrpclose", "ylunmrpclose"):  # 行关闭 / 行反关闭 (entries.py)
            done, failed, code = close_rows(self.state, form, data, close=op_number == "ylmrpclose")
            return {"Result": {"ResponseStatus": response_status(failed, done, code)}}
        targets = self.rules.targets(form, data)
        if op_number == "cancel":
            done, failed, code = self.rules.cancel(form, targets)
        else:
            done, failed, code = self.rules.forbid(form, op_number, targets)
        return {"Result": {"ResponseStatus": response_status(failed, done, code)}}

    def _business_info(self, call: _Call) -> object:
        data = call.data
        form_id = lower_keys(data).get("formid") if isinstance(data, dict) else call.form_id
        form = find_form(form_id)
        if form is None:
            raise BusinessError(f"业务对象“{form_id}”不存在", "FormId", MsgCode.BAD_REQUEST)
        return {
            "Result": {
                "ResponseStatus": response_status(),
                "NeedReturnData": business_info(form, call.session.lcid),
            }
        }


def _as_id(value: object) -> object:
    text = str(value).strip()
    return int(text) if text.isdigit() else text


def _parse_body(raw: bytes) -> Mapping[str, object]:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BusinessError(
            f"数据包格式错误，无法解析JSON：{exc.__class__.__name__}", "", MsgCode.BAD_REQUEST
        ) from None
    if not isinstance(body, dict):
        raise BusinessError("数据包格式错误：应为JSON对象", "", MsgCode.BAD_REQUEST)
    return body


def _json_arg(value: object, name: str) -> object:
    """``data`` may come as an object or as a JSON string (C# SDK, older callers)."""
    if isinstance(value, str):
        try:
            return json.loads(value) if value.strip() else {}
        except json.JSONDecodeError:
            raise BusinessError(f"{name} 不是有效的JSON", name, MsgCode.BAD_REQUEST) from None
    return value


def _form_and_data(op: str, body: Mapping[str, object]) -> tuple[object, object]:
    args = lower_keys(body)
    params = args.get("parameters")
    if isinstance(params, list):
        if op in ("executebillquery", "billquery", "querybusinessinfo") and len(params) == 1:
            return None, _json_arg(params[0], "parameters[0]")
        if len(params) >= 2:
            return params[0], _json_arg(params[1], "parameters[1]")
        raise BusinessError("parameters 参数个数不正确", "parameters", MsgCode.BAD_REQUEST)
    data = _json_arg(args.get("data"), "data")
    form_id = args.get("formid")
    if form_id is None and isinstance(data, dict):
        form_id = lower_keys(data).get("formid")
    return form_id, data
