"""The Oracle simulator's cheaper paths answer exactly what the plain ones did (no wire change)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from erpbridge.connectors.oracle import OracleConnector, OracleSettings
from erpbridge.connectors.oracle.cursor import after_filter, parse_stamp, start_filter
from erpbridge.sims._common.persist import DocumentStore
from erpbridge.sims.oracle import SANDBOX_PASSWORD, SANDBOX_USER, build_app
from erpbridge.sims.oracle.filter import plan_q
from erpbridge.sims.oracle.model import RESOURCES
from erpbridge.sims.oracle.query import QueryError, format_stamp
from erpbridge.sims.oracle.seed import SeedSize, seed_state
from erpbridge.sims.oracle.service import Call, OracleService
from erpbridge.sims.oracle.state import OracleState, Row
from erpbridge.spi.records import Cursor
from erpbridge.spi.secrets import Secret

from .conftest import StepClock

_ORDERS = RESOURCES["salesOrdersForOrderHub"]
#: another resource written alongside: its writes must not move the orders' index
_OTHER = "purchaseRequisitions"
_BASE = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
_CST = timezone(timedelta(hours=8))


class _EveryRow(OracleState):
    """The state as it was: every filter reads and tests the whole table."""

    def rows_from(self, resource: str, attr: str, floor: str) -> list[tuple[str, Row]]:
        return self.rows(resource)


def _stamp(ms: int) -> str:
    return format_stamp(_BASE + timedelta(milliseconds=ms))


# --- reads from a stamp on (QueryPlan.floor, OracleState.rows_from) -----------------------

#: stored stamps, null, and what a comparison with a stamp text never (or oddly) matches
_STORED = (
    st.none()
    | st.integers(0, 5).map(_stamp)
    | st.sampled_from(["", "2026-03-02", "2026-03-02T08:00:00Z", 5, 5.0, True, ["x"]])
)
_ROW = st.fixed_dictionaries(
    {
        "HeaderId": st.none() | st.integers(1, 4),
        "StatusCode": st.none() | st.sampled_from(["OPEN", "CLOSED"]),
        "LastUpdateDate": _STORED,
        "CreationDate": _STORED,
    }
)
#: table keys in an order that is not the text order ("10" after "9", "x" last)
_KEY = st.sampled_from(["7", "8", "9", "10", "11", "100", "x"])
_RESOURCE = st.sampled_from([_ORDERS.name, _ORDERS.name, _OTHER])
_PUT = st.tuples(_RESOURCE, _KEY, _ROW)
_WRITE = _PUT | st.tuples(_RESOURCE, _KEY)


def _literal(draw: st.DrawFn, attr: str) -> str:
    if attr in ("LastUpdateDate", "CreationDate"):
        ms = draw(st.integers(-1, 6))
        moment = _BASE + timedelta(milliseconds=ms)
        return draw(
            st.sampled_from(
                [
                    f"'{format_stamp(moment)}'",
                    f"'{moment.isoformat().replace('+00:00', 'Z')}'",
                    f"'{moment.astimezone(_CST).isoformat()}'",
                    "'2026-03-02'",
                ]
            )
        )
    if attr == "HeaderId":
        return str(draw(st.integers(0, 5)))
    return draw(st.sampled_from(["'OPEN'", "'CLOSED'", "'O''PEN'"]))


_ATTRS = ["LastUpdateDate", "LastUpdateDate", "CreationDate", "HeaderId", "StatusCode"]


@st.composite
def _cond(draw: st.DrawFn) -> str:
    attr = draw(st.sampled_from(_ATTRS))
    form = draw(st.sampled_from(["op", "op", "op", "between", "in", "like", "null"]))
    if form == "op":
        op = draw(st.sampled_from(["=", "!=", "<>", ">", ">=", ">=", "<", "<="]))
        return f"{attr} {op} {_literal(draw, attr)}"
    if form == "between":
        return f"{attr} BETWEEN {_literal(draw, attr)} AND {_literal(draw, attr)}"
    if form == "in":
        negate = draw(st.sampled_from(["", "NOT "]))
        return f"{attr} {negate}IN ({_literal(draw, attr)}, {_literal(draw, attr)})"
    if form == "like":
        negate = draw(st.sampled_from(["", "NOT "]))
        return f"{attr} {negate}LIKE '{draw(st.sampled_from(['2026%', '%.003%', 'OP_N']))}'"
    return f"{attr} IS {draw(st.sampled_from(['', 'NOT ']))}NULL"


@st.composite
def _expression(draw: st.DrawFn, depth: int = 2) -> str:
    """A random version-2+ ``q``: conditions nested in and/or, with or without parentheses."""
    if depth == 0 or draw(st.booleans()):
        return draw(_cond())
    left, right = draw(_expression(depth - 1)), draw(_expression(depth - 1))
    joiner = draw(st.sampled_from(["and", "or", "AND", "OR"]))
    if draw(st.booleans()):
        return f"({left}) {joiner} ({right})"
    return f"{left} {joiner} {right}"


@st.composite
def _qbe(draw: st.DrawFn) -> str:
    """A random version-1 ``q``: and-ed ``Attr<op>value`` conditions."""
    conds = []
    for _ in range(draw(st.integers(1, 3))):
        attr = draw(st.sampled_from(_ATTRS))
        op = draw(st.sampled_from(["=", "!=", ">", ">=", "<", "<="]))
        conds.append(f"{attr}{op}{_literal(draw, attr).strip(chr(39))}")
    return ";".join(conds)


@st.composite
def _poll(draw: st.DrawFn) -> str:
    """The connector's poll filters (cursor.py), at random stamps, alone or with more."""
    stamp = _literal(draw, "LastUpdateDate")
    poll = draw(
        st.sampled_from(
            [
                f"LastUpdateDate >= {stamp}",
                f"(LastUpdateDate > {stamp} or (LastUpdateDate = {stamp} and HeaderId > 2))",
            ]
        )
    )
    if draw(st.booleans()):
        return poll
    return f"{poll} {draw(st.sampled_from(['and', 'or']))} ({draw(_expression())})"


_FILTER = (
    st.tuples(st.just(4), _poll())
    | st.tuples(st.just(4), _expression())
    | st.tuples(st.just(1), _qbe())
)
_PAGE = st.fixed_dictionaries(
    {
        "limit": st.sampled_from(["1", "2", "25"]),
        "offset": st.sampled_from(["0", "1", "3"]),
        "totalResults": st.sampled_from(["true", "false"]),
    },
    optional={"orderBy": st.sampled_from(["LastUpdateDate:desc", "HeaderId,CreationDate:asc"])},
)


_Write = tuple[str, str, Row] | tuple[str, str]


def _write(states: list[OracleState], writes: list[_Write]) -> None:
    for state in states:
        with state.transaction():
            for write in writes:
                if len(write) == 2:
                    state.remove(write[0], write[1])
                else:
                    state.put(write[0], write[1], dict(write[2]))


def _answer(service: OracleService, version: int, q: str, page: dict[str, str]) -> object:
    call = Call(
        "GET", f"/{_ORDERS.name}", {"q": q, **page}, {}, "http://x", framework_version=version
    )
    try:
        answer = service.handle(call)
    except (QueryError, TypeError) as exc:  # TypeError: orderBy over mixed types
        return (type(exc), str(exc))
    return (answer.status, answer.body)


@given(
    first=st.lists(_PUT, max_size=10),
    later=st.lists(_WRITE, max_size=6),
    rolled_back=st.lists(_WRITE, min_size=1, max_size=4),
    filters=st.lists(st.tuples(_FILTER, _PAGE), min_size=1, max_size=5),
)
def test_a_read_from_a_stamp_on_finds_what_reading_every_record_finds(
    first: list[_Write],
    later: list[_Write],
    rolled_back: list[_Write],
    filters: list[tuple[tuple[int, str], dict[str, str]]],
) -> None:
    fast, every = OracleState(), _EveryRow()
    _write([fast, every], first)
    for attr in ("LastUpdateDate", "CreationDate"):  # build the indexes, then move records
        for resource in (_ORDERS.name, _OTHER):
            fast.rows_from(resource, attr, "")
    _write([fast, every], later)
    for state in (fast, every):
        with pytest.raises(RuntimeError), state.transaction():
            _write([state], rolled_back)
            raise RuntimeError("roll back")

    for (version, text), page in filters:
        try:
            plan = plan_q(text, _ORDERS.attr, framework_version=version)
        except QueryError:
            continue
        all_rows = [(k, r) for k, r in fast.rows(_ORDERS.name) if plan.predicate(r)]
        if plan.floor is not None:
            found = fast.rows_from(_ORDERS.name, plan.floor.attr, plan.floor.value)
            assert [(k, r) for k, r in found if plan.predicate(r)] == all_rows, text
        answers = [_answer(OracleService(s), version, text, page) for s in (fast, every)]
        assert answers[0] == answers[1], text


def test_a_state_loaded_from_its_store_reads_from_a_stamp_as_it_wrote(tmp_path: Path) -> None:
    written = OracleState(DocumentStore(tmp_path / "fusion.db"))
    stamps = [_stamp(3), None, _stamp(1), _stamp(4), _stamp(3), 7]
    _write([written], [(_ORDERS.name, str(n), {"LastUpdateDate": s}) for n, s in enumerate(stamps)])
    written.rows_from(_ORDERS.name, "LastUpdateDate", "")
    _write([written], [(_ORDERS.name, "1", {"LastUpdateDate": _stamp(5)}), (_ORDERS.name, "0")])

    loaded = OracleState(DocumentStore(tmp_path / "fusion.db"))
    loaded.rows_from(_ORDERS.name, "LastUpdateDate", "")  # built before the load: kept current
    assert loaded.load()

    found = loaded.rows_from(_ORDERS.name, "LastUpdateDate", _stamp(3))
    assert [k for k, _ in found] == ["1", "3", "4"]
    assert found == written.rows_from(_ORDERS.name, "LastUpdateDate", _stamp(3))


# --- which filters read from a stamp on ------------------------------------------------------


def test_the_connectors_poll_filters_read_from_their_stamp_on() -> None:
    read_from = _BASE + timedelta(milliseconds=5)
    stamp, later = _stamp(5), _stamp(9)
    bounded = {
        start_filter(read_from): stamp,  # the first page
        after_filter(stamp, "HeaderId", "300100571000007"): stamp,  # each next page
        after_filter(stamp, "OrderNumber", "SO-1'2"): stamp,  # a quoted id
        f"StatusCode = 'OPEN' and LastUpdateDate > '{stamp}'": stamp,
        f"LastUpdateDate BETWEEN '{stamp}' AND '{later}'": stamp,
        f"LastUpdateDate >= '{_stamp(2)}' and (LastUpdateDate > '{stamp}')": stamp,
        f"LastUpdateDate > '{stamp}' or LastUpdateDate = '{later}'": stamp,
        "LastUpdateDate >= '2026-03-02T16:00:00.005+08:00'": stamp,  # normalised to UTC
    }
    unbounded = [
        f"LastUpdateDate <= '{stamp}'",
        f"LastUpdateDate < '{stamp}'",
        f"LastUpdateDate != '{stamp}'",
        f"LastUpdateDate NOT IN ('{stamp}')",
        f"LastUpdateDate LIKE '{stamp[:4]}%'",
        "LastUpdateDate IS NOT NULL",
        f"LastUpdateDate >= '{stamp}' or StatusCode = 'OPEN'",  # or across attributes
        f"LastUpdateDate >= '{stamp}' or CreationDate >= '{stamp}'",
        "HeaderId > 5",
    ]

    for text, floor in bounded.items():
        plan = plan_q(text, _ORDERS.attr, framework_version=4)
        assert plan.floor is not None, text
        assert (plan.floor.attr, plan.floor.value) == ("LastUpdateDate", floor), text
    for text in unbounded:
        assert plan_q(text, _ORDERS.attr, framework_version=4).floor is None, text
    qbe = plan_q(f"StatusCode=OPEN;LastUpdateDate>={stamp}", _ORDERS.attr, framework_version=1)
    assert qbe.floor is not None and (qbe.floor.attr, qbe.floor.value) == ("LastUpdateDate", stamp)
    assert plan_q(f"LastUpdateDate<={stamp}", _ORDERS.attr, framework_version=1).floor is None


@pytest.fixture
async def polled() -> AsyncIterator[tuple[OracleState, OracleConnector]]:
    state = OracleState(clock=StepClock(_BASE))
    seed_state(state, seed=3, size=SeedSize(accounts=8, items=10, orders=45, requisitions=6))
    settings = OracleSettings(
        base_url="http://fusion.test",
        username=SANDBOX_USER,
        password=Secret.literal(SANDBOX_PASSWORD),
    )
    transport = httpx.ASGITransport(app=build_app(state))
    async with httpx.AsyncClient(transport=transport) as http:
        connector = OracleConnector(settings, http)
        yield state, connector
        await connector.aclose()


@pytest.mark.parametrize("obj", ["salesOrdersForOrderHub", "onhandQuantityDetails"])
async def test_a_poll_from_a_cursor_never_reads_the_whole_table(
    polled: tuple[OracleState, OracleConnector], obj: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, connector = polled
    stamps = sorted(str(r["LastUpdateDate"]) for _, r in state.rows(obj))
    start = stamps[len(stamps) // 2]
    since = parse_stamp(start)
    assert since is not None
    floors: list[tuple[str, str]] = []
    whole: list[str] = []
    rows_from, rows = state.rows_from, state.rows

    def spy_rows_from(resource: str, attr: str, floor: str) -> list[tuple[str, Row]]:
        floors.append((attr, floor))
        return rows_from(resource, attr, floor)

    def spy_rows(resource: str) -> list[tuple[str, Row]]:
        whole.append(resource)
        return rows(resource)

    monkeypatch.setattr(state, "rows_from", spy_rows_from)
    monkeypatch.setattr(state, "rows", spy_rows)
    cursor = Cursor(stamp=since, overlap=timedelta(0))

    read = [r async for page in connector.read_changes(obj, cursor, 3) for r in page.records]

    assert len(floors) > 2 and {attr for attr, _ in floors} == {"LastUpdateDate"}
    assert floors[0][1] == start
    assert obj not in whole
    assert len(read) == sum(1 for s in stamps if s >= start)
