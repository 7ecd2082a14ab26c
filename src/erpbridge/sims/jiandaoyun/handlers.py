"""The v5 endpoints: each takes the JSON body and returns the JSON answer, or raises JdyError.

Paths and bodies follow the help centre (reference §2): every call is a POST with
``app_id`` and ``entry_id`` in the body; answers carry no ``code: 0`` envelope.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from erpbridge.sims.jiandaoyun.errors import (
    APP_NOT_FOUND,
    DATA_NOT_FOUND,
    ENTRY_NOT_FOUND,
    INVALID_REQUEST,
    INVALID_VALUE,
    KEY_NOT_ALLOWED,
    JdyError,
)
from erpbridge.sims.jiandaoyun.filters import compile_filter
from erpbridge.sims.jiandaoyun.state import JdyState, Record
from erpbridge.sims.jiandaoyun.values import read_data
from erpbridge.sims.jiandaoyun.widgets import MEMBERS, SYSTEM_FIELDS, Entry, find_entry

__all__ = ["HANDLERS", "Call", "Handler"]

MAX_BATCH = 100
_DEFAULT_CREATOR = "integration"


@dataclass(frozen=True, slots=True)
class Call:
    """One request: the state, the body and the apps the key may use (None = all)."""

    state: JdyState
    body: Mapping[str, object]
    allowed_apps: frozenset[str] | None


Handler = Callable[[Call], dict[str, object]]


def _str(call: Call, key: str, *, required: bool = True) -> str:
    value = call.body.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise JdyError(INVALID_REQUEST, f"参数 {key} 缺失或不是字符串")
    return value


def _int(call: Call, key: str, default: int, low: int, high: int) -> int:
    value = call.body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise JdyError(INVALID_REQUEST, f"参数 {key} 必须是 {low} 到 {high} 之间的整数")
    return value


def _bool(call: Call, key: str) -> bool:
    value = call.body.get(key, False)
    if not isinstance(value, bool):
        raise JdyError(INVALID_REQUEST, f"参数 {key} 必须是布尔值")
    return value


def _ids(call: Call, key: str) -> list[str]:
    value = call.body.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise JdyError(INVALID_REQUEST, f"参数 {key} 必须是字符串数组")
    if not 1 <= len(value) <= MAX_BATCH:
        raise JdyError(INVALID_REQUEST, f"参数 {key} 须含 1 到 {MAX_BATCH} 个 id")
    return list(value)


def _app_checked(call: Call) -> str:
    app_id = _str(call, "app_id")
    if app_id != call.state.app.app_id:
        raise JdyError(APP_NOT_FOUND, f"应用不存在: {app_id}")
    if call.allowed_apps is not None and app_id not in call.allowed_apps:
        raise JdyError(KEY_NOT_ALLOWED, "该 API Key 无权访问此应用")
    return app_id


def _entry(call: Call) -> Entry:
    _app_checked(call)
    entry_id = _str(call, "entry_id")
    entry = find_entry(call.state.app, entry_id)
    if entry is None:
        raise JdyError(ENTRY_NOT_FOUND, f"表单不存在: {entry_id}")
    return entry


def _creator(call: Call) -> str:
    creator = call.body.get("data_creator") or _DEFAULT_CREATOR
    if not isinstance(creator, str) or creator not in MEMBERS:
        raise JdyError(INVALID_VALUE, f"data_creator 成员不存在: {creator!r}")
    return creator


def _transaction_key(call: Call, op: str, entry: Entry) -> str | None:
    tid = _str(call, "transaction_id", required=False)
    return f"{op}:{entry.entry_id}:{tid}" if tid else None


def app_list(call: Call) -> dict[str, object]:
    """``/v5/app/list``: the apps this key can see."""
    skip = _int(call, "skip", 0, 0, 10_000_000)
    limit = _int(call, "limit", 100, 1, 100)
    app = call.state.app
    visible = call.allowed_apps is None or app.app_id in call.allowed_apps
    apps = [{"app_id": app.app_id, "name": app.name}] if visible else []
    return {"apps": apps[skip : skip + limit]}


def entry_list(call: Call) -> dict[str, object]:
    """``/v5/app/entry/list``: the forms of an app."""
    app_id = _app_checked(call)
    skip = _int(call, "skip", 0, 0, 10_000_000)
    limit = _int(call, "limit", 100, 1, 100)
    forms = [
        {"app_id": app_id, "entry_id": e.entry_id, "name": e.name} for e in call.state.app.entries
    ]
    return {"forms": forms[skip : skip + limit]}


def widget_list(call: Call) -> dict[str, object]:
    """``/v5/app/entry/widget/list``: widgets, system widgets and ``dataModifyTime``."""
    entry = _entry(call)
    system = [f for f in SYSTEM_FIELDS if f != "flowState" or entry.is_workflow]
    return {
        "widgets": [w.to_wire() for w in entry.widgets],
        "sysWidgets": [{"name": f} for f in system if f not in ("appId", "entryId")],
        "dataModifyTime": call.state.data_modify_time(entry),
    }


def data_get(call: Call) -> dict[str, object]:
    """``/v5/app/entry/data/get``: one record."""
    entry = _entry(call)
    data_id = _str(call, "data_id")
    record = call.state.get(entry, data_id)
    if record is None:
        raise JdyError(DATA_NOT_FOUND, f"数据不存在: {data_id}")
    return {"data": record}


def data_list(call: Call) -> dict[str, object]:
    """``/v5/app/entry/data/list``: a page in ``_id`` order after ``data_id``."""
    entry = _entry(call)
    after = _str(call, "data_id", required=False)
    limit = _int(call, "limit", 10, 1, 100)
    fields = call.body.get("fields")
    if fields is not None and (
        not isinstance(fields, list) or not all(isinstance(f, str) for f in fields)
    ):
        raise JdyError(INVALID_REQUEST, "参数 fields 必须是字符串数组")
    plan = compile_filter(entry, call.body.get("filter"))
    page: list[Record] = []
    for record in call.state.scan(entry, after, plan):
        page.append(record if fields is None else _project(record, fields))
        if len(page) >= limit:
            break
    return {"data": page}


def _project(record: Record, fields: list[str]) -> Record:
    out: Record = {"_id": record["_id"]}
    for name in fields:
        if name in record:
            out[name] = record[name]
    return out


def data_create(call: Call) -> dict[str, object]:
    """``/v5/app/entry/data/create``: one record; a known ``transaction_id`` is replayed."""
    entry = _entry(call)
    key = _transaction_key(call, "create", entry)
    if key and (earlier := call.state.recall(key)) is not None:
        return earlier
    start = _bool(call, "is_start_workflow")
    _bool(call, "is_start_trigger")
    fields = read_data(entry, call.body.get("data"), call.state.new_id)
    flow_state = 0 if start and entry.is_workflow else None
    [record] = call.state.create(entry, [fields], creator=_creator(call), flow_state=flow_state)
    answer: dict[str, object] = {"data": record}
    if key:
        call.state.remember(key, answer)
    return answer


def data_batch_create(call: Call) -> dict[str, object]:
    """``/v5/app/entry/data/batch_create``: up to 100 records, all or nothing."""
    entry = _entry(call)
    key = _transaction_key(call, "batch_create", entry)
    if key and (earlier := call.state.recall(key)) is not None:
        return earlier
    rows = call.body.get("data_list")
    if not isinstance(rows, list) or not 1 <= len(rows) <= MAX_BATCH:
        raise JdyError(INVALID_REQUEST, f"参数 data_list 必须是含 1 到 {MAX_BATCH} 条数据的数组")
    _bool(call, "is_start_workflow")
    creator = _creator(call)
    converted = []
    for index, row in enumerate(rows):
        try:
            converted.append(read_data(entry, row, call.state.new_id))
        except JdyError as exc:
            raise JdyError(exc.code, f"data_list[{index}]: {exc.msg}") from exc
    created = call.state.create(entry, converted, creator=creator, notify=False)
    answer: dict[str, object] = {
        "status": "success",
        "success_count": len(created),
        "success_ids": [r["_id"] for r in created],
    }
    if key:
        call.state.remember(key, answer)
    return answer


def data_update(call: Call) -> dict[str, object]:
    """``/v5/app/entry/data/update``: only the widgets in ``data`` change."""
    entry = _entry(call)
    data_id = _str(call, "data_id")
    _str(call, "transaction_id", required=False)
    _bool(call, "is_start_trigger")
    current = call.state.get(entry, data_id)
    if current is None:
        raise JdyError(DATA_NOT_FOUND, f"数据不存在: {data_id}")
    fields = read_data(entry, call.body.get("data"), call.state.new_id, current=current)
    [record] = call.state.update(entry, [data_id], fields, updater=_DEFAULT_CREATOR)
    return {"data": record}


def data_batch_update(call: Call) -> dict[str, object]:
    """``/v5/app/entry/data/batch_update``: the same ``data`` on every id (no subforms)."""
    entry = _entry(call)
    key = _transaction_key(call, "batch_update", entry)
    if key and (earlier := call.state.recall(key)) is not None:
        return earlier
    data_ids = _ids(call, "data_ids")
    fields = read_data(entry, call.body.get("data"), call.state.new_id, allow_subform=False)
    changed = call.state.update(entry, data_ids, fields, updater=_DEFAULT_CREATOR, notify=False)
    answer: dict[str, object] = {"status": "success", "success_count": len(changed)}
    if key:
        call.state.remember(key, answer)
    return answer


def data_delete(call: Call) -> dict[str, object]:
    """``/v5/app/entry/data/delete``: one record; a missing one is an error."""
    entry = _entry(call)
    data_id = _str(call, "data_id")
    _bool(call, "is_start_trigger")
    if not call.state.delete(entry, [data_id]):
        raise JdyError(DATA_NOT_FOUND, f"数据不存在: {data_id}")
    return {"status": "success"}


def data_batch_delete(call: Call) -> dict[str, object]:
    """``/v5/app/entry/data/batch_delete``: up to 100 ids; missing ids are not counted."""
    entry = _entry(call)
    removed = call.state.delete(entry, _ids(call, "data_ids"), notify=False)
    return {"status": "success", "success_count": len(removed)}


#: path after ``/api/v5/`` -> handler.
HANDLERS: Mapping[str, Handler] = {
    "app/list": app_list,
    "app/entry/list": entry_list,
    "app/entry/widget/list": widget_list,
    "app/entry/data/get": data_get,
    "app/entry/data/list": data_list,
    "app/entry/data/create": data_create,
    "app/entry/data/batch_create": data_batch_create,
    "app/entry/data/update": data_update,
    "app/entry/data/batch_update": data_batch_update,
    "app/entry/data/delete": data_delete,
    "app/entry/data/batch_delete": data_batch_delete,
}
