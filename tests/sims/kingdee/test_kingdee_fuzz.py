"""Fuzzed requests: whatever arrives, the simulator answers in Kingdee's shapes, never crashes."""

from __future__ import annotations

import asyncio
import json

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from erpbridge.sims.kingdee import KingdeeSimApp, KingdeeState, build_app
from erpbridge.sims.kingdee.seed import SeedSize, seed_state

from .conftest import AUTH, FORM

_KEYS = [
    "Model", "FormId", "FieldKeys", "FilterString", "OrderString", "StartRow", "Limit",
    "TopRowCount", "Numbers", "Ids", "Number", "Id", "NeedUpDateFields", "NeedReturnFields",
    "IsDeleteEntry", "IsAutoSubmitAndAudit", "FID", "FNumber", "FName", "FCustId", "FQty",
    "FDate", "FSaleOrderEntry", "FSaleOrderFinance", "FCreateOrgId", "FMaterialId", "FEntryID",
]  # fmt: skip
_OPS = ["Save", "BatchSave", "Draft", "View", "ExecuteBillQuery", "BillQuery", "Submit",
        "Audit", "UnAudit", "CancelAssign", "Delete", "QueryBusinessInfo"]  # fmt: skip
_FORMS = ["BD_Customer", "SAL_SaleOrder", "STK_Inventory", "bd_material", "NOPE", ""]

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 200_000), st.floats(allow_nan=True),
    st.text(max_size=12), st.sampled_from(["CUST00001", "100", "Pcs", "2026-11-02", "A", "C"]),
)  # fmt: skip
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(_KEYS), inner, max_size=5),
    ),
    max_leaves=20,
)


def _app() -> KingdeeSimApp:
    state = KingdeeState()
    seed_state(state, seed=1, size=SeedSize(customers=5, materials=4, orders=5, requisitions=2))
    return build_app(state)


APP = _app()


async def _post(op: str, body: bytes) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=APP), base_url="http://kd"
    ) as http:
        login = await http.post(
            AUTH + "ValidateUser.common.kdsvc",
            json={"parameters": ["66f1a2b3c4d5e6", "erpbridge", "Kd-Sandbox-888", 2052]},
        )
        assert login.json()["LoginResultType"] == 1
        return await http.post(FORM + f"{op}.common.kdsvc", content=body)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    op=st.sampled_from(_OPS),
    form=st.sampled_from(_FORMS),
    data=_json,
    as_string=st.booleans(),
)
def test_any_request_gets_a_kingdee_shaped_answer(
    op: str, form: str, data: object, as_string: bool
) -> None:
    body = json.dumps({"formid": form, "data": json.dumps(data) if as_string else data})

    answer = asyncio.run(_post(op, body.encode()))

    assert answer.status_code == 200
    decoded = answer.json()
    assert "服务器内部错误" not in answer.text, answer.text
    assert isinstance(decoded, list | dict)
