"""The simulator's cheaper paths answer exactly what the plain ones did (no wire change)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest.mock import patch

import httpx
from hypothesis import given
from hypothesis import strategies as st

from erpbridge.connectors.kingdee import KingdeeConnector, KingdeeSettings
from erpbridge.connectors.kingdee.cursor import after_filter, and_filters, quote, to_server_text
from erpbridge.sims._common.persist import DocumentStore
from erpbridge.sims.kingdee import (
    SANDBOX_ACCT_ID,
    SANDBOX_APP_ID,
    SANDBOX_APP_SECRET,
    SANDBOX_USER,
    KingdeeState,
    build_app,
)
from erpbridge.sims.kingdee.filter import parse_filter
from erpbridge.sims.kingdee.forms import FORMS, FieldKind
from erpbridge.sims.kingdee.query import BillQuery
from erpbridge.sims.kingdee.rules import Rules, SaveOptions
from erpbridge.sims.kingdee.seed import SeedSize, seed_state
from erpbridge.sims.kingdee.wire import BusinessError
from erpbridge.spi.records import Cursor, WriteMode, WriteOp
from erpbridge.spi.secrets import Secret

from .conftest import StepClock

_ORDERS = FORMS["sal_saleorder"]
_SETTINGS = KingdeeSettings(
    base_url="http://kd.test/k3cloud/",
    acct_id=SANDBOX_ACCT_ID,
    username=SANDBOX_USER,
    app_id=SANDBOX_APP_ID,
    app_secret=Secret.literal(SANDBOX_APP_SECRET),
)
_BASE = datetime(2026, 1, 1)


def _text(seconds: int, fmt: str = "%Y-%m-%dT%H:%M:%S.%f") -> str:
    return (_BASE + timedelta(seconds=seconds)).strftime(fmt)


# --- reads from a date on (Filter.floor, KingdeeState.rows_from) ---------------------------

#: stored stamps: the stored form, and texts a full scan compares as text all the same (a
#: space for the T, a lower-case t), and values no date literal compares with (null, a number)
_STAMP = (
    st.none()
    | st.integers(0, 5).map(_text)
    | st.integers(0, 5).map(lambda s: _text(s, "%Y-%m-%d %H:%M:%S"))
    | st.integers(0, 5).map(lambda s: _text(s).replace("T", "t"))
    | st.integers(0, 5)
)
_DATE_FIELDS = ("FModifyDate", "FCreateDate", "FDate")

_LINE = st.fixed_dictionaries({"FEntryID": st.integers(1, 99), "FEntryNote": st.sampled_from("ab")})

_EMPTY_ORDER: dict[str, object] = {f.key: None for f in _ORDERS.fields}
_ORDER_ROW = st.fixed_dictionaries(
    {
        "FID": st.integers(1, 6),
        "FBillNo": st.integers(0, 9).map(lambda n: f"XSDD{n:06d}"),
        "FDocumentStatus": st.sampled_from("ABC"),
        "FCustId": st.none() | st.integers(1, 3),
        "FModifyDate": _STAMP,
        "FCreateDate": _STAMP,
        "FDate": st.none() | st.integers(0, 3).map(lambda s: _text(s * 86400)),
        "FSaleOrderEntry": st.lists(_LINE, max_size=2),
    }
).map(lambda row: {**_EMPTY_ORDER, **row})


def _literal(draw: st.DrawFn) -> str:
    seconds = draw(st.integers(-1, 6))
    fmt = draw(st.sampled_from(["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%d"]))
    return quote(_text(seconds, fmt))


@st.composite
def _conditions(draw: st.DrawFn, depth: int = 2) -> str:
    """A random FilterString over two date fields, a date, a reference path's date, text and
    an entry field, nested AND/OR/NOT."""
    if depth > 0 and draw(st.booleans()):
        joiner = draw(st.sampled_from(["AND", "OR", "NOT"]))
        left = draw(_conditions(depth - 1))
        if joiner == "NOT":
            return f"NOT ({left})"
        return f"({left}) {joiner} ({draw(_conditions(depth - 1))})"
    keys = ["FModifyDate", "fmodifydate", "FCreateDate", "FDate", "FCustId.FModifyDate"]
    key = draw(st.sampled_from([*keys, "FBillNo", "FSaleOrderEntry_FEntryID", "FID"]))
    if key == "FID":  # by internal id (a page's lines), as numbers, texts or not integers
        ids = draw(st.lists(st.sampled_from(["1", "2", "5", "'3'", "2.0", "2.5", "9"]), min_size=1))
        shape = draw(st.sampled_from(["IN", "NOT IN", "=", ">"]))
        if shape in ("=", ">"):
            return f"FID {shape} {ids[0]}"
        return f"FID {shape} ({', '.join(ids)})"
    if key == "FBillNo":
        op = draw(st.sampled_from(["=", ">=", "<"]))
        return f"FBillNo {op} 'XSDD00000{draw(st.integers(0, 9))}'"
    if key == "FSaleOrderEntry_FEntryID":
        return f"{key} > {draw(st.integers(0, 99))}"
    shape = draw(st.sampled_from(["op", "op", "op", "between", "not between", "null", "in"]))
    if shape == "op":
        op = draw(st.sampled_from(["=", "<>", "!=", ">", ">=", "<", "<="]))
        return f"{key} {op} {_literal(draw)}"
    if shape in ("between", "not between"):
        return f"{key} {shape.upper()} {_literal(draw)} AND {_literal(draw)}"
    if shape == "null":
        return f"{key} IS {draw(st.sampled_from(['NULL', 'NOT NULL']))}"
    return f"{key} IN ({_literal(draw)}, {_literal(draw)})"


_QUERY = st.fixed_dictionaries(
    {
        "FieldKeys": st.sampled_from(
            ["FID,FBillNo,FModifyDate", "FID,FModifyDate,FSaleOrderEntry_FEntryID,FEntryNote"]
        ),
        "OrderString": st.sampled_from(["", "FModifyDate ASC, FID ASC", "FCreateDate DESC"]),
        "StartRow": st.integers(0, 2),
        "Limit": st.integers(0, 4),
    }
)


def _answer(state: KingdeeState, data: dict[str, object]) -> object:
    """The rows of an ExecuteBillQuery, or the error it ends in."""
    try:
        return BillQuery(state).run(data)[1]
    except Exception as exc:  # noqa: BLE001 - the same error is part of the same answer
        return repr(exc)


def _full_scan(state: KingdeeState, data: dict[str, object]) -> object:
    """The answer read from every record, as before the indexes."""
    with (
        patch.object(state, "rows_from", lambda form, field, floor: state.rows(form)),
        patch.object(state, "rows_by_id", lambda form, ids: state.rows(form)),
    ):
        return _answer(state, data)


@given(
    customers=st.lists(_STAMP, min_size=3, max_size=3),
    first=st.lists(_ORDER_ROW, max_size=10),
    later=st.lists(_ORDER_ROW, max_size=8),
    removed=st.lists(st.integers(1, 6), max_size=3),
    refused=st.lists(st.integers(1, 6), max_size=2),
    filters=st.lists(_conditions(), min_size=3, max_size=8),
    query=_QUERY,
)
def test_a_read_from_a_date_on_finds_what_reading_every_row_finds(
    customers: list[object],
    first: list[dict[str, object]],
    later: list[dict[str, object]],
    removed: list[int],
    refused: list[int],
    filters: list[str],
    query: dict[str, object],
) -> None:
    state = KingdeeState()
    for pk, stamp in enumerate(customers, start=1):
        state.put(FORMS["bd_customer"], {"FCUSTID": pk, "FNumber": f"C{pk}", "FModifyDate": stamp})
    for row in first:
        state.put(_ORDERS, dict(row))
    for field in _DATE_FIELDS:  # build the indexes, then move rows
        state.rows_from(_ORDERS, field, "")
    for row in later:
        state.put(_ORDERS, dict(row))
    for pk in removed:
        state.remove(_ORDERS, pk)
    for pk in refused:  # a Save refused midway (bad status, missing fields) leaves no trace
        with contextlib.suppress(BusinessError):
            Rules(state).save(_ORDERS, {"FID": pk, "FNote": "x"}, SaveOptions.parse({}))

    for field in _DATE_FIELDS:
        for floor in ("", _text(2).casefold(), _text(5, "%Y-%m-%d %H:%M:%S")):
            every = state.rows(_ORDERS)
            text = [r for r in every if isinstance(v := r[field], str) and v.casefold() >= floor]
            assert state.rows_from(_ORDERS, field, floor) == text, (field, floor)
    for text in filters:
        data = {"FormId": "SAL_SaleOrder", "FilterString": text, **query}
        assert _answer(state, data) == _full_scan(state, data), text


def _typer(name: str) -> FieldKind | None:
    loc = _ORDERS.locate(name)
    return None if loc is None else loc.field.kind


def test_the_connectors_poll_filters_read_from_their_stamp_on() -> None:
    since = datetime(2026, 1, 1, tzinfo=UTC)  # 08:00 server time (UTC+8)
    start = f"FModifyDate >= {quote(to_server_text(since, 480))}"
    page = after_filter("FModifyDate", "FID", "2026-01-01T08:00:05.12", 7)  # a rendered stamp
    bounded = {
        and_filters(start, None, None): "2026-01-01t08:00:00.000000",  # first page
        and_filters(start, "FDocumentStatus = 'C'", None): "2026-01-01t08:00:00.000000",
        and_filters(start, None, page): "2026-01-01t08:00:05.120000",  # next page
        and_filters(None, None, page): "2026-01-01t08:00:05.120000",  # a full read's next page
        "FModifyDate BETWEEN '2026-01-01' AND '2026-02-01'": "2026-01-01t00:00:00.000000",
        "fmodifydate = '2026-01-03' OR FModifyDate > '2026-01-02'": "2026-01-02t00:00:00.000000",
    }
    unbounded = [
        "FModifyDate <= '2026-01-01'",
        "FModifyDate < '2026-01-01' OR FModifyDate >= '2026-01-02'",
        "NOT (FModifyDate < '2026-01-01')",
        "FModifyDate NOT BETWEEN '2026-01-01' AND '2026-02-01'",
        "FModifyDate >= '2026-01-01' OR FBillNo = 'XSDD000001'",
        "FModifyDate >= '2026-01-01' OR FCreateDate >= '2026-01-01'",
        "FModifyDate <> '2026-01-01'",
        "FID IN (1,2)",  # the lines of a page
        "FBillNo >= '2026-01-01'",  # text, not a date
    ]

    for text, value in bounded.items():
        floor = parse_filter(text, _typer).floor
        assert floor is not None, text
        assert (floor.key, floor.value) == ("fmodifydate", value), text
    for text in unbounded:
        assert parse_filter(text, _typer).floor is None, text


def test_a_filter_naming_internal_ids_looks_them_up() -> None:
    named = {
        "FID IN (7, 8)": {7, 8},  # the lines of a page (connector: read_lines)
        "FID = 7 AND FDocumentStatus = 'C'": {7},
        "FID = 7 OR FID IN ('8', 9)": {7, 8, 9},
        "FModifyDate >= '2026-01-01' AND FID IN (7)": {7},
    }
    unnamed = ["FID NOT IN (7)", "FID > 7", "FID = 7 OR FBillNo = 'X'", "NOT (FID = 7)"]

    for text, ids in named.items():
        lookup = parse_filter(text, _typer).lookup
        assert lookup is not None, text
        assert (lookup.key, lookup.values) == ("fid", ids), text
    for text in unnamed:
        lookup = parse_filter(text, _typer).lookup
        assert lookup is None or lookup.key != "fid", text


async def test_a_connector_poll_reads_only_the_records_changed_since_its_cursor() -> None:
    clock = StepClock(datetime(2026, 11, 2, 8, 0, tzinfo=UTC))
    state = KingdeeState(clock=clock)
    seed_state(state, seed=3, size=SeedSize(customers=30, materials=4, orders=3, requisitions=1))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(state))) as http:
        kingdee = KingdeeConnector(_SETTINGS, http)
        await kingdee.describe()
        clock.advance(60)
        since = clock.now
        ops = [
            WriteOp(WriteMode.CREATE, {"FName": f"新客户{i}", "FCreateOrgId": "100"})
            for i in range(3)
        ]
        created = [r.target_id for r in await kingdee.write("BD_Customer", ops)]
        cursor = Cursor(stamp=since, overlap=timedelta(0))

        with (
            patch.object(state, "rows", wraps=state.rows) as every,
            patch.object(state, "rows_from", wraps=state.rows_from) as ranged,
        ):
            found = [
                r.id
                async for page in kingdee.read_changes("BD_Customer", cursor, page_size=1)
                for r in page.records
            ]

    assert found == created and len(state.tables["BD_Customer"]) > 30
    assert not every.called  # no page read the whole form
    assert {c.args[1] for c in ranged.call_args_list} == {"FModifyDate"}


def test_a_restarted_simulator_reads_from_a_date_on_what_it_stored(tmp_path: Path) -> None:
    clock = StepClock(datetime(2026, 11, 2, 8, 0, tzinfo=UTC))
    state = KingdeeState(DocumentStore(tmp_path / "kd.db"), clock=clock)
    seed_state(state, seed=5, size=SeedSize(customers=8, materials=4, orders=10, requisitions=2))
    restarted = KingdeeState(DocumentStore(tmp_path / "kd.db"), clock=clock)
    assert restarted.load()
    middle = sorted(str(r["FModifyDate"]) for r in restarted.rows(_ORDERS))[5]

    for text in (f"FModifyDate >= '{middle}'", after_filter("FModifyDate", "FID", middle, 1)):
        data = {"FormId": "SAL_SaleOrder", "FieldKeys": "FID,FModifyDate", "FilterString": text}
        assert BillQuery(restarted).run(data)[1] == _full_scan(restarted, data)


async def test_a_connector_poll_of_orders_reads_their_lines_by_id() -> None:
    clock = StepClock(datetime(2026, 11, 2, 8, 0, tzinfo=UTC))
    state = KingdeeState(clock=clock)
    seed_state(state, seed=3, size=SeedSize(customers=5, materials=4, orders=6, requisitions=1))
    cursor = Cursor(stamp=datetime(2000, 1, 1, tzinfo=UTC), overlap=timedelta(0))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(state))) as http:
        kingdee = KingdeeConnector(_SETTINGS, http)
        await kingdee.describe()
        with (
            patch.object(state, "rows", wraps=state.rows) as every,
            patch.object(state, "rows_by_id", wraps=state.rows_by_id) as by_id,
        ):
            orders = [
                r
                async for page in kingdee.read_changes("SAL_SaleOrder", cursor, page_size=4)
                for r in page.records
            ]

    assert len(orders) == 6 and all(r.fields.get("FSaleOrderEntry") for r in orders)
    assert not every.called  # neither the headers nor their lines read the whole form
    assert by_id.call_count == 2  # one lines query per page
