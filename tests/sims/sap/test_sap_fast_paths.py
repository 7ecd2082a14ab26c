"""The simulator's cheaper paths answer exactly what the plain ones did (no wire change)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from erpbridge.sims._common.persist import DocumentStore
from erpbridge.sims.sap.batch import handle_batch
from erpbridge.sims.sap.filter import parse_filter, plan_filter
from erpbridge.sims.sap.model import SERVICES
from erpbridge.sims.sap.seed import SeedSize, seed_state
from erpbridge.sims.sap.service import ODataRequest, ODataService, etag_of
from erpbridge.sims.sap.state import SapState
from erpbridge.sims.sap.wire import encode_json, encode_row

_SETS = [s for service in SERVICES.values() for s in service.sets]
_STAMPS = st.datetimes(
    min_value=datetime(1990, 1, 1),
    max_value=datetime(2090, 1, 1),
    timezones=st.sampled_from([UTC, None]),
).map(lambda d: d if d.tzinfo else d.replace(tzinfo=UTC))


def _value_for(kind: str) -> st.SearchStrategy[object]:
    if kind in ("Edm.Decimal",):
        return st.decimals(allow_nan=False, allow_infinity=False, places=3)
    if kind in ("Edm.DateTime", "Edm.DateTimeOffset"):
        return _STAMPS
    if kind == "Edm.Time":
        return st.times()
    if kind == "Edm.Boolean":
        return st.booleans()
    if kind.startswith("Edm.Int"):
        return st.integers(-(2**40), 2**40)
    return st.text(max_size=12)


@given(st.data())
def test_encode_row_equals_encode_json_of_each_property(data: st.DataObject) -> None:
    entity_set = data.draw(st.sampled_from(_SETS))
    row = {
        p.name: data.draw(st.none() | _value_for(p.type), label=p.name) for p in entity_set.props
    }
    select = data.draw(
        st.none() | st.frozensets(st.sampled_from([p.name for p in entity_set.props]))
    )

    encoded = encode_row(entity_set, row, select)

    expected = {
        p.name: encode_json(p, row[p.name])
        for p in entity_set.props
        if select is None or p.name in select
    }
    assert list(encoded.items()) == list(expected.items())


@given(_STAMPS)
def test_etag_of_a_change_stamp_quotes_like_urllib(stamp: datetime) -> None:
    orders = SERVICES["API_SALES_ORDER_SRV"].set_by_name["A_SalesOrder"]

    etag = etag_of(orders, {"LastChangeDateTime": stamp})

    text = stamp.isoformat().replace("+00:00", "Z")
    assert etag == f"W/\"datetimeoffset'{quote(text, safe='')}'\""


def test_etag_of_a_stamp_with_an_offset_quotes_the_plus_sign() -> None:
    orders = SERVICES["API_SALES_ORDER_SRV"].set_by_name["A_SalesOrder"]
    stamp = datetime(2026, 11, 26, 9, 30, tzinfo=UTC).astimezone(ZoneInfo("Asia/Shanghai"))

    etag = etag_of(orders, {"LastChangeDateTime": stamp})

    assert etag == f"W/\"datetimeoffset'{quote(stamp.isoformat(), safe='')}'\""


_ORDERS = SERVICES["API_SALES_ORDER_SRV"].set_by_name["A_SalesOrder"]
_BASE = datetime(2026, 1, 1, tzinfo=UTC)


@given(
    op=st.sampled_from(["eq", "ne", "gt", "ge", "lt", "le"]),
    stamps=st.lists(st.none() | st.integers(0, 5), min_size=1, max_size=8),
    pivot=st.integers(0, 5),
    amount=st.integers(0, 5),
)
def test_filter_against_a_literal_answers_as_the_generic_comparison(
    op: str, stamps: list[int | None], pivot: int, amount: int
) -> None:
    rows = [
        {
            "LastChangeDateTime": None if s is None else _BASE + timedelta(seconds=s),
            "TotalNetAmount": None if s is None else Decimal(s),
            "SalesOrder": None if s is None else str(s),
        }
        for s in stamps
    ]
    literal = (_BASE + timedelta(seconds=pivot)).isoformat().replace("+00:00", "Z")
    fast = [
        parse_filter(_ORDERS, f"LastChangeDateTime {op} datetimeoffset'{literal}'"),
        parse_filter(_ORDERS, f"TotalNetAmount {op} {amount}M"),
        parse_filter(_ORDERS, f"SalesOrder {op} '{amount}'"),
    ]
    # a literal on the left is not specialised: the generic comparison, mirrored
    mirror = {"eq": "eq", "ne": "ne", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}[op]
    generic = [
        parse_filter(_ORDERS, f"datetimeoffset'{literal}' {mirror} LastChangeDateTime"),
        parse_filter(_ORDERS, f"{amount}M {mirror} TotalNetAmount"),
        parse_filter(_ORDERS, f"'{amount}' {mirror} SalesOrder"),
    ]

    for quick, plain in zip(fast, generic, strict=True):
        assert [quick(r) for r in rows] == [plain(r) for r in rows]


def test_filter_null_and_boolean_literals_keep_their_meaning() -> None:
    rows = [{"SalesOrder": "1", "PurchaseOrderByCustomer": None}, {"SalesOrder": "2"}]

    found = parse_filter(_ORDERS, "PurchaseOrderByCustomer eq null and not (SalesOrder eq '2')")

    assert [found(r) for r in rows] == [True, False]


def _batch_body(count: int) -> bytes:
    parts = []
    for n in range(count):
        order = (
            '{"SalesOrderType":"OR","SalesOrganization":"1710","DistributionChannel":"10",'
            '"OrganizationDivision":"00","SoldToParty":"%s","PurchaseOrderByCustomer":"FAST-%d",'
            '"to_Item":[{"Material":"%s","RequestedQuantity":"2"}]}'
        )
        parts.append(
            "--cs\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
            "POST A_SalesOrder HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
            + order % ("{customer}", n, "{material}")
            + "\r\n"
        )
    changeset = "".join(parts) + "--cs--"
    return (
        "--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n" + changeset + "\r\n--b--\r\n"
    ).encode()


def test_a_batchs_changesets_are_persisted_together_and_survive_a_restart(
    tmp_path: Path,
) -> None:
    state = SapState(DocumentStore(tmp_path / "sap.db"))
    seed_state(state, size=SeedSize(partners=2, products=2, orders=0))
    customer = state.rows("A_Customer")[0]["Customer"]
    material = state.rows("A_Product")[0]["Product"]
    body = _batch_body(3).replace(b"{customer}", str(customer).encode())
    body = body.replace(b"{material}", str(material).encode())
    service = ODataService(state)
    outer = ODataRequest(
        "POST",
        SERVICES["API_SALES_ORDER_SRV"],
        "$batch",
        {},
        {"content-type": "multipart/mixed; boundary=b"},
        body,
        "http://sap.test/sap/opu/odata/sap/API_SALES_ORDER_SRV/",
    )

    answer = handle_batch(state, outer, service.handle)

    assert answer.body.count(b"HTTP/1.1 201 Created") == 3
    restarted = SapState(DocumentStore(tmp_path / "sap.db"))
    assert restarted.load()
    made = {r["PurchaseOrderByCustomer"] for r in restarted.rows("A_SalesOrder")}
    assert {"FAST-0", "FAST-1", "FAST-2"} <= made
    assert restarted.counters["SalesOrder"] == state.counters["SalesOrder"]


# --- reads from a date on (FilterPlan.floor, SapState.rows_from) ---------------------------

_MIRRORED = {"eq": "eq", "ne": "ne", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}


def _stamp_literal(seconds: int) -> str:
    text = (_BASE + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")
    return f"datetimeoffset'{text}'"


@st.composite
def _conditions(draw: st.DrawFn, depth: int = 2) -> str:
    """A random ``$filter`` over two date properties and the key, nested and/or/not."""
    if depth > 0 and draw(st.booleans()):
        joiner = draw(st.sampled_from(["and", "or", "not"]))
        left = draw(_conditions(depth - 1))
        if joiner == "not":
            return f"not ({left})"
        return f"({left}) {joiner} ({draw(_conditions(depth - 1))})"
    op = draw(st.sampled_from(list(_MIRRORED)))
    prop = draw(st.sampled_from(["LastChangeDateTime", "CreationDate", "SalesOrder"]))
    if prop == "SalesOrder":
        return f"SalesOrder {op} '{draw(st.integers(0, 9))}'"
    literal = _stamp_literal(draw(st.integers(-1, 10)))
    if draw(st.booleans()):
        return f"{literal} {_MIRRORED[op]} {prop}"
    return f"{prop} {op} {literal}"


_ORDER_ROW = st.fixed_dictionaries(
    {
        "SalesOrder": st.integers(0, 9).map(str),
        "LastChangeDateTime": st.none()
        | st.integers(0, 9).map(lambda s: _BASE + timedelta(seconds=s)),
        "CreationDate": st.none() | st.integers(0, 9).map(lambda s: _BASE + timedelta(seconds=s)),
    }
)


def _write(state: SapState, rows: list[dict[str, object]], removed: list[str]) -> None:
    with state.transaction():
        for row in rows:
            state.put("A_SalesOrder", dict(row))  # type: ignore[arg-type]  # test rows
        for number in removed:
            state.remove("A_SalesOrder", (number,))


@given(
    first=st.lists(_ORDER_ROW, max_size=12),
    later=st.lists(_ORDER_ROW, max_size=6),
    removed=st.lists(st.integers(0, 9).map(str), max_size=3),
    rolled_back=st.lists(_ORDER_ROW, max_size=4),
    filters=st.lists(_conditions(), min_size=1, max_size=6),
)
def test_a_read_from_a_date_on_finds_what_reading_every_row_finds(
    first: list[dict[str, object]],
    later: list[dict[str, object]],
    removed: list[str],
    rolled_back: list[dict[str, object]],
    filters: list[str],
) -> None:
    state = SapState()
    _write(state, first, [])
    for prop in ("LastChangeDateTime", "CreationDate"):  # build the indexes, then move rows
        state.rows_from("A_SalesOrder", prop, _BASE)
    _write(state, later, removed)
    try:
        with state.transaction():
            for row in rolled_back:
                state.put("A_SalesOrder", dict(row))  # type: ignore[arg-type]  # test rows
            raise RuntimeError("roll back")
    except RuntimeError:
        pass

    for text in filters:
        plan = plan_filter(_ORDERS, text)
        every = [r for r in state.rows("A_SalesOrder") if plan.predicate(r)]
        if plan.floor is None:
            continue
        candidates = state.rows_from("A_SalesOrder", plan.floor.prop, plan.floor.value)
        assert [r for r in candidates if plan.predicate(r)] == every, text


def test_the_connectors_poll_filters_read_from_their_stamp_on() -> None:
    stamp = _stamp_literal(5)
    bounded = {
        f"LastChangeDateTime ge {stamp}": 5,
        f"(LastChangeDateTime gt {stamp} or (LastChangeDateTime eq {stamp} and SalesOrder gt '7'))": 5,
        f"SoldToParty eq 'X' and LastChangeDateTime gte {stamp}": 5,  # pyodata's __range
        f"{stamp} le LastChangeDateTime and LastChangeDateTime le {_stamp_literal(9)}": 5,
        f"LastChangeDateTime ge {_stamp_literal(2)} and LastChangeDateTime gt {stamp}": 5,
        f"LastChangeDateTime gt {stamp} or LastChangeDateTime eq {_stamp_literal(3)}": 3,
    }
    unbounded = [
        f"LastChangeDateTime le {stamp}",
        f"not (LastChangeDateTime lt {stamp})",  # not a plan worth making: read everything
        f"LastChangeDateTime ge {stamp} or SalesOrder eq '1'",
        f"LastChangeDateTime ge {stamp} or CreationDate ge {stamp}",
        f"LastChangeDateTime ne {stamp}",
    ]

    for text, seconds in bounded.items():
        floor = plan_filter(_ORDERS, text).floor
        assert floor is not None, text
        assert (floor.prop, floor.value) == (
            "LastChangeDateTime",
            _BASE + timedelta(seconds=seconds),
        ), text
    for text in unbounded:
        assert plan_filter(_ORDERS, text).floor is None, text
