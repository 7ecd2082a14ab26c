"""Shared write rules: resubmitCheckKey idempotency, multi-language names, references.

MDD idempotency (reference §B7): ``resubmitCheckKey`` (at most 32 characters) inside
``data``. A repeat within one hour answers the original success; later, the duplicate
code ``10004`` with ``data: {"id": …}``. Only successes are remembered, so a refused
save can be corrected and sent again with the same key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from erpbridge.sims.yonbip.state import BipState, Idempotent, Row
from erpbridge.sims.yonbip.wire import ApiError, Code

__all__ = [
    "ORGS",
    "RESULT_TTL_S",
    "idempotent_save",
    "lang_text",
    "require_text",
    "voucher_detail",
]

#: organisations of the sandbox tenant: code -> name.
ORGS = {"991": "蓝海机械集团", "992": "蓝海机械华东公司"}
#: how long the gateway caches a successful MDD answer.
RESULT_TTL_S = 3600
_MAX_KEY = 32


def lang_text(value: object) -> str | None:
    """A multi-language text (``{"zh_CN": …}``) or a plain string, as its Chinese text."""
    if isinstance(value, dict):
        text = value.get("zh_CN") or value.get("simplifiedName") or value.get("en_US")
        return str(text).strip() if text not in (None, "") else None
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def require_text(data: Mapping[str, object], name: str, label: str) -> str:
    """A required text field.

    Raises:
        ApiError: 999 naming the field when it is missing or empty.
    """
    value = data.get(name)
    if isinstance(value, bool) or value in (None, "") or isinstance(value, dict | list):
        raise ApiError(Code.BUSINESS, f"{label}[{name}]不能为空")
    return str(value).strip()


def idempotent_save(
    state: BipState,
    api: str,
    data: Mapping[str, object],
    save: Callable[[], tuple[int, object]],
    *,
    required: bool,
) -> tuple[str, str, object]:
    """Run ``save`` once per resubmitCheckKey; answer (code, message, data).

    Raises:
        ApiError: a missing key where ``required``, or one longer than 32 characters;
            whatever ``save`` raises.
    """
    key = data.get("resubmitCheckKey")
    if key in (None, ""):
        if required:
            raise ApiError(Code.BUSINESS, "幂等接口的 resubmitCheckKey 不能为空")
        _, answer = save()
        return Code.OK, "操作成功", answer
    text = str(key)
    if len(text) > _MAX_KEY:
        raise ApiError(Code.PARAM_ERROR, f"resubmitCheckKey 长度不能超过{_MAX_KEY}")
    book_key = f"{api}:{text}"
    seen = state.idempotent.get(book_key)
    if seen is not None:
        if state.age_s(seen.saved_at) < RESULT_TTL_S:
            return Code.OK, "操作成功", seen.data
        return Code.DUPLICATE_SUBMIT, "请勿重复提交", {"id": seen.record_id}
    record_id, answer = save()
    state.remember(book_key, Idempotent(state.now_text(), record_id, answer))
    return Code.OK, "操作成功", answer


def voucher_detail(state: BipState, table: str, params: Mapping[str, str]) -> Row:
    """The voucher ``params["id"]`` of ``table`` (a ``…/detail?id=`` answer's data).

    Raises:
        ApiError: 999 for a missing or unknown id.
    """
    ref = params.get("id", "")
    if not ref.strip().isdigit():
        raise ApiError(Code.BUSINESS, "参数[id]不能为空且应为数字")
    row = state.get(table, int(ref))
    if row is None:
        raise ApiError(Code.BUSINESS, f"单据[{ref}]不存在或已被删除")
    return row
