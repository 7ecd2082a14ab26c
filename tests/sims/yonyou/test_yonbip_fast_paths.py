"""The YonBIP simulator's cheaper paths answer exactly what the plain ones did (no wire change)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from erpbridge.connectors.yonbip import YonBipConnector, YonBipSettings
from erpbridge.connectors.yonbip.cursor import from_server_text
from erpbridge.sims._common.persist import DocumentStore
from erpbridge.sims.yonbip import SANDBOX_APP_KEY, SANDBOX_APP_SECRET, BipState, build_app
from erpbridge.sims.yonbip.applyorder import ApplyOrderApi
from erpbridge.sims.yonbip.credit import CreditApi
from erpbridge.sims.yonbip.merchant import MerchantApi
from erpbridge.sims.yonbip.orders import OrderApi
from erpbridge.sims.yonbip.products import ProductApi
from erpbridge.sims.yonbip.query import OPS, field_test, parse_conditions, stamp_floor
from erpbridge.sims.yonbip.seed import SeedSize, seed_state
from erpbridge.sims.yonbip.state import Row
from erpbridge.sims.yonbip.wire import ApiError
from erpbridge.spi.records import Cursor
from erpbridge.spi.secrets import Secret

from .conftest import StepClock

_NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


class _EveryRow(BipState):
    """The state as it was: every list reads and tests the whole table."""

    def rows_from(self, table: str, floor: str | None) -> list[Row]:
        return self.rows(table)


# --- reads from a stamp on (stamp_floor, BipState.rows_from) ------------------------------

_STAMPS = [f"2026-11-02 16:00:0{n}" for n in range(6)]
#: pubts as stored: stamps, null, and what a list still compares as text (numbers, "")
_PUBTS = st.none() | st.sampled_from(_STAMPS) | st.sampled_from(["", "2026-11-02", 7, 3.5, True])
_VALUE = (
    st.none()
    | st.sampled_from(_STAMPS)
    | st.sampled_from(["", "2026-11-02 16", "KH1", "1", 0, 1, 2, 7, 20261102])
    | st.lists(st.sampled_from([*_STAMPS[:3], "KH1", 1]), max_size=2)
)
_TABLES = ("merchant", "product", "voucherorder", "credit", "applyorder")


@st.composite
def _row(draw: st.DrawFn) -> Row:
    """A record any list can read: each list looks at the fields it knows."""
    ident = draw(st.integers(1, 9))
    line = {"id": 100 + ident, "product": draw(st.sampled_from([1, 2])), "qty": 1}
    return {
        "id": ident,
        "code": draw(st.sampled_from(["KH1", "KH2", "UO-1"])),
        "name": {"zh_CN": draw(st.sampled_from(["华强", "华为", "中兴"]))},
        "pubts": draw(_PUBTS),
        "status": draw(st.integers(0, 2)),
        "bustype": draw(st.sampled_from(["A25001", "B"])),
        "vouchdate": draw(st.sampled_from(["2026-11-01 00:00:00", "2026-11-03 00:00:00"])),
        "customerId": draw(st.sampled_from([1, 2])),
        "orderDetails": draw(st.lists(st.just(line), max_size=2)),
        "applyOrders": draw(st.lists(st.just(line), max_size=2)),
    }


_WRITE = st.tuples(st.sampled_from(_TABLES), _row()) | st.tuples(
    st.sampled_from(_TABLES), st.integers(1, 9)
)


def _apply(states: list[BipState], writes: list[tuple[str, Row | int]]) -> None:
    for table, what in writes:
        for state in states:
            if isinstance(what, int):
                state.remove(table, what)
            else:
                state.put(table, what)


#: a stamp as a poll sends it, or anything else a list accepts (or refuses)
_SINCE = st.sampled_from(_STAMPS) | _VALUE


@st.composite
def _any_condition(draw: st.DrawFn) -> dict[str, object]:
    cond: dict[str, object] = {
        "field": draw(st.sampled_from(["pubts", "id", "code", "status", "customerId", "x"])),
        "op": draw(st.sampled_from([*OPS, "bogus"])),
        "value1": draw(_VALUE),
    }
    if draw(st.booleans()):
        cond["value2"] = draw(_VALUE)
    return cond


#: ``pubts`` from a stamp on, as the connector's polls ask (and its relatives)
_POLL_CONDITION = st.fixed_dictionaries(
    {
        "field": st.just("pubts"),
        "op": st.sampled_from(["egt", "gt", "eq", "between", "elt"]),
        "value1": _SINCE,
        "value2": st.sampled_from(_STAMPS),
    }
)


_ORDERS = st.lists(
    st.fixed_dictionaries(
        {
            "field": st.sampled_from(["pubts", "id", "code", "status"]),
            "order": st.sampled_from(["asc", "desc"]),
        }
    ),
    max_size=2,
)


@st.composite
def _body(draw: st.DrawFn) -> dict[str, object]:
    """A list request: paging, conditions, orders and each list's own parameters."""
    body: dict[str, object] = {
        "pageIndex": draw(st.integers(1, 3)),
        "pageSize": draw(st.integers(1, 4)),
    }
    optional = {
        "simpleVOs": st.lists(_POLL_CONDITION | _any_condition(), max_size=3),
        "queryOrders": _ORDERS,
        "isSum": st.booleans(),
        "pubts": _SINCE,  # merchant/newlist: changed at or after
        "beganTime": _SINCE,  # product list: pubts from
        "endTime": _SINCE,  # product list: pubts up to
        "code": st.sampled_from(["KH1", "UO-1", ""]),
        "name": st.sampled_from(["华", "中兴"]),
        "bustype": st.sampled_from(["A25001", "B"]),
        "product": st.sampled_from([1, 2, "1"]),
        "open_vouchdate_begin": st.sampled_from(["2026-11-02", ""]),
    }
    for name, values in optional.items():
        if draw(st.booleans()):
            body[name] = draw(values)
    if draw(st.booleans()):  # a poll: each list asked from a stamp on, as the connector does
        since = draw(st.sampled_from(_STAMPS))
        body["pubts"] = body["beganTime"] = since
        vos = body.get("simpleVOs")
        others = vos if isinstance(vos, list) else []
        body["simpleVOs"] = [{"field": "pubts", "op": "egt", "value1": since}, *others]
    return body


_Api = Callable[[BipState, Mapping[str, object]], object]
_APIS: list[_Api] = [
    lambda s, b: MerchantApi(s).newlist(b),
    lambda s, b: ProductApi(s).list_page(b),
    lambda s, b: OrderApi(s).list_page(b),
    lambda s, b: CreditApi(s).list_page(b),
    lambda s, b: ApplyOrderApi(s, lambda _event, _row: None).list_page(b),
]


def _answer(api: _Api, state: BipState, body: Mapping[str, object]) -> object:
    try:
        return api(state, body)
    except ApiError as exc:
        return ("refused", exc.code, exc.message)


@given(
    first=st.lists(st.tuples(st.sampled_from(_TABLES), _row()), max_size=20),
    later=st.lists(_WRITE, max_size=10),
    bodies=st.lists(_body(), min_size=1, max_size=4),
)
def test_a_list_from_a_stamp_on_answers_what_reading_every_record_answers(
    first: list[tuple[str, Row | int]],
    later: list[tuple[str, Row | int]],
    bodies: list[dict[str, object]],
) -> None:
    fast, every = BipState(clock=lambda: _NOW), _EveryRow(clock=lambda: _NOW)
    _apply([fast, every], first)
    for table in _TABLES:  # build the indexes, then move, add and delete records
        fast.rows_from(table, "")
    _apply([fast, every], later)

    for body in bodies:
        for api in _APIS:
            assert _answer(api, fast, body) == _answer(api, every, body), body


def test_a_state_loaded_from_its_store_reads_from_a_stamp_as_it_wrote(tmp_path: Path) -> None:
    written = BipState(DocumentStore(tmp_path / "bip.db"), clock=lambda: _NOW)
    for n, stamp in enumerate([_STAMPS[3], None, _STAMPS[1], _STAMPS[4], _STAMPS[3]], start=1):
        written.put("merchant", {"id": n, "code": f"KH{n}", "pubts": stamp})
    written.rows_from("merchant", _STAMPS[0])  # an index built before the load is not kept
    written.put("merchant", {"id": 2, "code": "KH2", "pubts": _STAMPS[5]})

    loaded = BipState(DocumentStore(tmp_path / "bip.db"), clock=lambda: _NOW)
    loaded.rows_from("merchant", _STAMPS[0])
    assert loaded.load()

    assert [r["id"] for r in loaded.rows_from("merchant", _STAMPS[3])] == [1, 2, 4, 5]
    assert loaded.rows_from("merchant", _STAMPS[3]) == written.rows_from("merchant", _STAMPS[3])


# --- which requests read from a stamp on ---------------------------------------------------


def test_the_connectors_poll_conditions_bound_pubts_from_below() -> None:
    stamp, later = _STAMPS[2], _STAMPS[4]
    fields = ("id", "code", "pubts", "vouchdate", "status")

    def vos(*conds: tuple[str, str, object]) -> list[dict[str, object]]:
        return [{"field": f, "op": op, "value1": v, "value2": later} for f, op, v in conds]

    bounded = {
        # voucherorder/list and the credit list: simpleVOs pubts egt <start>
        "egt": (parse_conditions(vos(("pubts", "egt", stamp)), fields), stamp),
        # applyorder/list: pubts gt <start - 1 s> (the doc lists no egt)
        "gt": (parse_conditions(vos(("pubts", "gt", stamp)), fields), stamp),
        # merchant/newlist "pubts", product list "beganTime" (and "endTime")
        "merchant": ([field_test("pubts", "egt", stamp)], stamp),
        "product": ([field_test("pubts", "egt", stamp), field_test("pubts", "elt", later)], stamp),
        "with others": (
            parse_conditions(vos(("status", "eq", 1), ("pubts", "egt", stamp)), fields),
            stamp,
        ),
        "the greater": (
            parse_conditions(vos(("pubts", "egt", stamp), ("pubts", "gt", later)), fields),
            later,
        ),
        "between": (parse_conditions(vos(("pubts", "between", stamp)), fields), stamp),
        "eq": (parse_conditions(vos(("pubts", "eq", stamp)), fields), stamp),
    }
    unbounded = {
        "no condition": [],
        "upper bound": [field_test("pubts", "elt", later)],
        "lt": parse_conditions(vos(("pubts", "lt", later)), fields),
        "neq": parse_conditions(vos(("pubts", "neq", stamp)), fields),
        "nin": parse_conditions(vos(("pubts", "nin", [stamp])), fields),
        "like": parse_conditions(vos(("pubts", "like", stamp)), fields),
        "isnotnull": parse_conditions(vos(("pubts", "isnotnull", stamp)), fields),
        "a number compares otherwise": parse_conditions(vos(("pubts", "egt", 2026)), fields),
        "another field": parse_conditions(vos(("vouchdate", "egt", stamp)), fields),
        "not a condition": [lambda r: str(r.get("pubts")) >= stamp],
    }

    for name, (tests, floor) in bounded.items():
        assert stamp_floor(tests) == floor, name
    for name, tests in unbounded.items():
        assert stamp_floor(tests) is None, name


ROOT = "http://bip.test"


@pytest.fixture
async def polled() -> AsyncIterator[tuple[BipState, YonBipConnector]]:
    clock = StepClock(_NOW)
    state = BipState(clock=clock)
    seed_state(state, seed=3, size=SeedSize(customers=12, materials=8, orders=15))
    requisitions = ApplyOrderApi(state, lambda _event, _row: None)
    for n in range(6):
        clock.advance(1)
        line = {"product_cCode": "WL00001", "qty": n + 1}
        data = {"bustype": "A25001", "org_code": "991", "vouchdate": "2026-11-02"}
        requisitions.single_save(
            {"data": {**data, "_status": "Insert", "applyOrders": [line]}}, "t"
        )
    settings = YonBipSettings.model_validate(
        {
            "gateway_url": ROOT + "/iuap-api-gateway",
            "token_url": ROOT + "/iuap-api-auth",
            "app_key": SANDBOX_APP_KEY,
            "app_secret": Secret.literal(SANDBOX_APP_SECRET),
            "objects": ["merchant", "product", "voucherorder", "credit", "applyorder"],
        }
    )
    transport = httpx.ASGITransport(app=build_app(state, base_url=ROOT))
    async with httpx.AsyncClient(transport=transport, base_url=ROOT) as http:
        yield state, YonBipConnector(settings, http)


@pytest.mark.parametrize("obj", ["merchant", "product", "voucherorder", "credit", "applyorder"])
async def test_a_poll_from_a_cursor_never_reads_the_whole_table(
    polled: tuple[BipState, YonBipConnector], obj: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, connector = polled
    table = obj
    stamps = sorted(str(r["pubts"]) for r in state.rows(table))
    start = stamps[len(stamps) // 2] if stamps else _STAMPS[0]
    since = from_server_text(start, 480)
    assert since is not None
    floors: list[str | None] = []
    whole: list[str] = []
    rows_from, rows = state.rows_from, state.rows

    def spy_rows_from(name: str, floor: str | None) -> list[Row]:
        if name == table:
            floors.append(floor)
        return rows_from(name, floor)

    def spy_rows(name: str) -> list[Row]:
        whole.append(name)
        return rows(name)

    monkeypatch.setattr(state, "rows_from", spy_rows_from)
    monkeypatch.setattr(state, "rows", spy_rows)
    cursor = Cursor(stamp=since, overlap=timedelta(0))

    read = [r async for page in connector.read_changes(obj, cursor, 2) for r in page.records]

    assert floors and all(f is not None for f in floors), floors
    assert table not in whole
    assert len(read) == sum(1 for s in stamps if s >= start)
