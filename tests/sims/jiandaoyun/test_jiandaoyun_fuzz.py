"""Bad input never gets a traceback: random bodies to every endpoint get 200 or the
product's 400 ``{"code", "msg"}``, never a 500."""

from __future__ import annotations

import asyncio
import json

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from erpbridge.sims.jiandaoyun import (
    SANDBOX_API_KEY,
    JdyState,
    RateLimiter,
    SeedSize,
    build_app,
    seed_state,
)
from erpbridge.sims.jiandaoyun.handlers import HANDLERS

from .conftest import APP_ID, CUSTOMER, SALES_ORDER

_STATE = JdyState()
seed_state(_STATE, seed=1, size=SeedSize(customers=3, orders=3, tickets=1))
_APP = build_app(_STATE, limiter=RateLimiter(enabled=False))

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_widget = st.sampled_from(
    [
        "_widget_1615777000101",
        "_widget_1615777000109",
        "_widget_1615777000111",
        "_widget_1615777000106",
        "_widget_1615777000305",
        "_widget_1615777000104",
        "updateTime",
        "x",
    ]
)
_body = st.fixed_dictionaries(
    {"app_id": st.just(APP_ID), "entry_id": st.sampled_from([CUSTOMER, SALES_ORDER])},
    optional={
        "data_id": _json,
        "data_ids": _json,
        "limit": _json,
        "fields": _json,
        "filter": _json
        | st.fixed_dictionaries(
            {
                "rel": _json,
                "cond": st.lists(
                    st.fixed_dictionaries(
                        {
                            "field": _widget,
                            "method": st.sampled_from(
                                [
                                    "eq",
                                    "ne",
                                    "in",
                                    "nin",
                                    "range",
                                    "empty",
                                    "not_empty",
                                    "like",
                                    "bogus",
                                ]
                            ),
                            "value": _json,
                        }
                    ),
                    max_size=3,
                ),
            }
        ),
        "data": _json
        | st.dictionaries(_widget, st.fixed_dictionaries({"value": _json}), max_size=3),
        "data_list": st.lists(
            st.dictionaries(_widget, st.fixed_dictionaries({"value": _json}), max_size=3),
            max_size=3,
        )
        | _json,
        "transaction_id": _json,
        "is_start_workflow": _json,
    },
)


async def _post(path: str, body: dict[str, object]) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=_APP), base_url="http://jdy.test"
    ) as http:
        return await http.post(
            f"/api/v5/{path}",
            content=json.dumps(body),
            headers={"Authorization": f"Bearer {SANDBOX_API_KEY}"},
        )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(sorted(HANDLERS)), body=_body)
def test_random_bodies_get_200_or_the_products_error_shape(
    path: str, body: dict[str, object]
) -> None:
    answer = asyncio.run(_post(path, body))
    assert answer.status_code in (200, 400), answer.text
    if answer.status_code == 400:
        error = answer.json()
        assert set(error) == {"code", "msg"} and isinstance(error["code"], int) and error["msg"]
