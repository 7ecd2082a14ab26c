"""The simulator's cheaper paths answer exactly what the plain ones did (no wire change)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest.mock import patch

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from erpbridge.connectors.jiandaoyun import JiandaoyunConnector, JiandaoyunSettings
from erpbridge.connectors.jiandaoyun.cursor import stamp_filter
from erpbridge.sims._common.persist import DocumentStore
from erpbridge.sims.jiandaoyun import (
    SANDBOX_API_KEY,
    JdyState,
    Pusher,
    RateLimiter,
    SeedSize,
    build_app,
    seed_state,
)
from erpbridge.sims.jiandaoyun.errors import JdyError
from erpbridge.sims.jiandaoyun.filters import FilterPlan, Floor, compile_filter
from erpbridge.sims.jiandaoyun.handlers import Call, data_batch_create
from erpbridge.sims.jiandaoyun.state import Record
from erpbridge.sims.jiandaoyun.values import format_time
from erpbridge.sims.jiandaoyun.widgets import APP, find_entry
from erpbridge.spi import Secret
from erpbridge.spi.records import Cursor, WriteMode, WriteOp

from .conftest import APP_ID, CUST_CODE, CUST_CREDIT, CUST_SINCE, CUSTOMER, StepClock

_ENTRY = find_entry(APP, CUSTOMER)
assert _ENTRY is not None
_BASE = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
_DATETIMES = ("updateTime", "createTime", CUST_SINCE)


def _stamp(ms: int) -> str:
    return format_time(_BASE + timedelta(milliseconds=ms))


# --- reads from a stamp on (FilterPlan.floor, JdyState.scan) -------------------------------

#: stored values of a datetime widget: the stored form, and values no bound holds for
#: (null, a text that is not a stamp, a number); ``updateTime``/``createTime`` are the
#: state's own, one per write (a batch shares one)
_SINCE = (
    st.none()
    | st.integers(0, 30).map(_stamp)
    | st.sampled_from(["", "2026-03-02 08:00:00.010", "late"])
    | st.integers(0, 30)
)

#: a datetime operand as a client writes it: the stored form, epoch ms, Beijing time without
#: a zone (all turned into the stored form before comparing)
_WHEN = (
    st.integers(-1, 30).map(_stamp)
    | st.integers(-1, 30).map(lambda ms: int((_BASE.timestamp()) * 1000) + ms)
    | st.integers(-1, 30).map(
        lambda ms: (_BASE + timedelta(hours=8, milliseconds=ms)).strftime("%Y-%m-%dT%H:%M:%S.%f")
    )
)


@st.composite
def _condition(draw: st.DrawFn) -> dict[str, object]:
    field = draw(st.sampled_from([*_DATETIMES, *_DATETIMES, CUST_CODE, CUST_CREDIT]))
    if field == CUST_CODE:
        method = draw(st.sampled_from(["eq", "ne", "in", "like", "empty"]))
        return {"field": field, "method": method, "value": [draw(st.sampled_from("abc"))]}
    if field == CUST_CREDIT:
        return {"field": field, "method": "range", "value": [draw(st.integers(0, 3)), None]}
    method = draw(st.sampled_from(["range", "range", "range", "eq", "ne", "empty", "not_empty"]))
    if method == "range":
        low = draw(st.none() | _WHEN)
        return {"field": field, "method": method, "value": [low, draw(st.none() | _WHEN)]}
    return {"field": field, "method": method, "value": [draw(_WHEN)]}


_FILTER = st.fixed_dictionaries(
    {"rel": st.sampled_from(["and", "or"]), "cond": st.lists(_condition(), max_size=3)}
)

_ROW = st.fixed_dictionaries({CUST_SINCE: _SINCE, CUST_CODE: st.sampled_from("abc")})


def _pages(state: JdyState, plan: FilterPlan, limit: int) -> list[list[Record]]:
    """``data/list`` pages as a reader walks them: each after the last ``_id`` of the one
    before, until a short page."""
    pages: list[list[Record]] = []
    after = ""
    while True:
        page: list[Record] = []
        for record in state.scan(_ENTRY, after, plan):  # type: ignore[arg-type]  # found above
            page.append(record)
            if len(page) >= limit:
                break
        pages.append(page)
        if len(page) < limit:
            return pages
        after = str(page[-1]["_id"])


@given(
    first=st.lists(st.lists(_ROW, min_size=1, max_size=3), max_size=5),
    updates=st.lists(st.tuples(st.lists(st.integers(0, 11), max_size=3), _SINCE), max_size=5),
    deletes=st.lists(st.integers(0, 11), max_size=3),
    filters=st.lists(_FILTER, min_size=3, max_size=8),
    limit=st.integers(1, 4),
)
def test_a_read_from_a_stamp_on_finds_what_reading_every_record_finds(
    first: list[list[dict[str, object]]],
    updates: list[tuple[list[int], object]],
    deletes: list[int],
    filters: list[dict[str, object]],
    limit: int,
) -> None:
    entry = _ENTRY
    assert entry is not None
    state = JdyState(clock=StepClock(_BASE))
    ids = [
        str(r["_id"])
        for batch in first
        for r in state.create(entry, batch, creator="integration", notify=False)
    ]
    for field in _DATETIMES:  # build the indexes, then move records
        list(state.scan(entry, "", FilterPlan(None, Floor(field, ""))))
    for picks, since in updates:
        chosen = [ids[i % len(ids)] for i in picks] if ids else []
        state.update(entry, chosen, {CUST_SINCE: since}, updater="integration", notify=False)
    state.delete(entry, [ids[i % len(ids)] for i in deletes] if ids else [], notify=False)
    bad = {"data_list": [{CUST_CODE: {"value": "d"}}, {CUST_CREDIT: {"value": "many"}}]}
    with pytest.raises(JdyError):  # all or nothing: the good record is not written either
        data_batch_create(Call(state, {"app_id": APP_ID, "entry_id": CUSTOMER, **bad}, None))

    every = list(state.scan(entry, "", FilterPlan(None)))
    for field in _DATETIMES:
        for floor in ("", _stamp(3), _stamp(12), "2026-03-02 08:00:00.010"):
            text = [r for r in every if isinstance(v := r.get(field), str) and v >= floor]
            assert list(state.scan(entry, "", FilterPlan(None, Floor(field, floor)))) == text
    for spec in filters:
        plan = compile_filter(entry, spec)
        assert _pages(state, plan, limit) == _pages(state, FilterPlan(plan.predicate), limit), spec


def test_the_connectors_poll_filters_read_from_their_stamp_on() -> None:
    entry = _ENTRY
    assert entry is not None
    since = _BASE + timedelta(milliseconds=5)
    cursor = Cursor(stamp=since, overlap=timedelta(seconds=2))
    read_from = format_time(cursor.read_from)

    def cond(field: str, method: str, *value: object) -> dict[str, object]:
        return {"field": field, "method": method, "value": list(value)}

    def where(rel: str, *conds: dict[str, object]) -> dict[str, object]:
        return {"rel": rel, "cond": list(conds)}

    bounded = {
        "poll": (stamp_filter("updateTime", cursor), ("updateTime", read_from)),
        "poll by a widget": (stamp_filter(CUST_SINCE, cursor), (CUST_SINCE, read_from)),
        "find by a datetime": (
            where("and", cond(CUST_SINCE, "eq", _stamp(7))),
            (CUST_SINCE, _stamp(7)),
        ),
        "and": (
            where(
                "and",
                cond(CUST_CODE, "in", "a"),
                cond("updateTime", "range", _stamp(3), None),
                cond("updateTime", "range", _stamp(9), _stamp(20)),
            ),
            ("updateTime", _stamp(9)),
        ),
        "or on one field": (
            where(
                "or",
                cond("updateTime", "range", _stamp(9), None),
                cond("updateTime", "eq", _stamp(4)),
            ),
            ("updateTime", _stamp(4)),
        ),
    }
    unbounded = [
        stamp_filter("updateTime", None),  # a first read: everything
        where("and", cond(CUST_CODE, "in", "a", "b")),  # find by a text key
        where("and", cond("updateTime", "range", None, _stamp(9))),
        where("and", cond("updateTime", "ne", _stamp(9))),
        where("and", cond("updateTime", "not_empty")),
        where("and", cond(CUST_CREDIT, "range", 5, None)),  # a number, not a stamp
        where("or", cond("updateTime", "range", _stamp(9), None), cond(CUST_CODE, "eq", "a")),
        where(
            "or",
            cond("updateTime", "range", _stamp(9), None),
            cond("createTime", "range", _stamp(9), None),
        ),
        where("and"),
    ]

    for name, (spec, (field, value)) in bounded.items():
        assert compile_filter(entry, spec).floor == Floor(field, value), name
    for spec in unbounded:
        assert compile_filter(entry, spec).floor is None, spec


async def test_a_connector_poll_reads_only_from_its_cursor_on() -> None:
    clock = StepClock(_BASE)
    state = JdyState(clock=clock)
    seed_state(state, seed=11, size=SeedSize(customers=30, contacts_per_customer=1, orders=2))
    app = build_app(state, pusher=Pusher(retry_delays_s=(0.0,)), limiter=RateLimiter(enabled=False))
    settings = JiandaoyunSettings.model_validate(
        {
            "base_url": "http://jdy.test",
            "api_key": Secret.literal(SANDBOX_API_KEY),
            "app_id": APP_ID,
            "push_secret": Secret.literal("s"),
        }
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        connector = JiandaoyunConnector(settings, http)
        clock.now += timedelta(seconds=1)
        since = clock.now
        ops = [WriteOp(WriteMode.CREATE, {CUST_CODE: f"N{i}"}, ref=str(i)) for i in range(3)]
        created = [r.target_id for r in await connector.write(CUSTOMER, ops)]
        cursor = Cursor(stamp=since, overlap=timedelta(0))

        with patch.object(state, "scan", wraps=state.scan) as scan:
            found = [
                r.id
                async for page in connector.read_changes(CUSTOMER, cursor, page_size=1)
                for r in page.records
            ]

    assert found == created and len(state.records[CUSTOMER]) > 30
    floors = {c.args[2].floor for c in scan.call_args_list}
    assert floors == {Floor("updateTime", format_time(since))}


def test_a_restarted_simulator_reads_from_a_stamp_on_what_it_stored(tmp_path: Path) -> None:
    entry = _ENTRY
    assert entry is not None
    state = JdyState(store=DocumentStore(tmp_path / "jdy.db"), clock=StepClock(_BASE))
    seed_state(state, seed=5, size=SeedSize(customers=12, contacts_per_customer=1, orders=2))
    restarted = JdyState(store=DocumentStore(tmp_path / "jdy.db"))
    assert restarted.load()
    middle = sorted(str(r["updateTime"]) for r in restarted.records[CUSTOMER].values())[6]

    for cond in ({"method": "range", "value": [middle, None]}, {"method": "eq", "value": [middle]}):
        plan = compile_filter(entry, {"cond": [{"field": "updateTime", **cond}]})
        assert plan.floor is not None
        assert _pages(restarted, plan, 2) == _pages(restarted, FilterPlan(plan.predicate), 2)
