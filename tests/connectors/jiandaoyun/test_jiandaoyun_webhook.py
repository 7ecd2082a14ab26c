"""数据推送 into the connector: the simulator pushes to a receiver that calls
``parse_webhook``; the signature is also recomputed here as the official demo does."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from erpbridge.connectors.jiandaoyun import JiandaoyunConnector
from erpbridge.sims.jiandaoyun import JdySimApp, JdyState, Pusher, RateLimiter, build_app
from erpbridge.spi import AuthError, Change, ChangeKind, Secret, ValidationError, WriteMode, WriteOp

from .conftest import CUSTOMER, PUSH_SECRET, make_settings


class HubReceiver:
    """What the hub's ``/hooks/<connection>`` does: parse, answer 401/400/200."""

    def __init__(self, connector: JiandaoyunConnector) -> None:
        self.connector = connector
        self.changes: list[Change] = []
        self.statuses: list[int] = []
        self.raw: list[tuple[dict[str, str], dict[str, str], bytes]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        body = await request.body()
        query = {k: v[0] for k, v in parse_qs(urlsplit(str(request.url)).query).items()}
        headers = dict(request.headers)
        self.raw.append((query, headers, body))
        try:
            self.changes += self.connector.parse_webhook(headers, body, query)
            status = 200
        except AuthError:
            status = 401
        except ValidationError:
            status = 400
        self.statuses.append(status)
        await PlainTextResponse("success", status_code=status)(scope, receive, send)


def pushing_sim(state: JdyState, receiver: HubReceiver, secret: str = PUSH_SECRET) -> JdySimApp:
    from erpbridge.sims.jiandaoyun import PushConfig

    pusher = Pusher(
        PushConfig(url="http://hub.test/hooks/jdy", secret=secret),
        transport=httpx.ASGITransport(app=receiver),
        retry_delays_s=(0.0, 0.0, 0.0),
    )
    return build_app(state, pusher=pusher, limiter=RateLimiter(enabled=False))


async def test_pushed_create_update_delete_become_changes(jdy_state: JdyState) -> None:
    async with httpx.AsyncClient() as unused:
        receiver = HubReceiver(JiandaoyunConnector(make_settings(), unused))
    sim = pushing_sim(jdy_state, receiver)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim)) as http:
        writer = JiandaoyunConnector(make_settings(), http)
        [created] = await writer.write(
            CUSTOMER, [WriteOp(WriteMode.CREATE, {"客户编号": "H1", "客户名称": "推送客户"})]
        )
        await writer.write(
            CUSTOMER,
            [
                WriteOp(
                    WriteMode.UPDATE, {"客户名称": "推送客户（新）"}, target_id=created.target_id
                )
            ],
        )
        await writer.write(CUSTOMER, [WriteOp(WriteMode.DELETE, {}, target_id=created.target_id)])
        await sim.pusher.drain()
    kinds = [(c.kind, c.object, c.record_id) for c in receiver.changes]
    assert receiver.statuses == [
        200,
        200,
    ]  # a single create and update push; the delete was a batch
    assert kinds == [(ChangeKind.UPSERT, CUSTOMER, created.target_id)] * 2
    # Pushes may arrive in any order; the later version is the update.
    older, newer = sorted(receiver.changes, key=lambda c: str(c.version))
    assert newer.record is not None
    assert newer.record.fields["_widget_1615777000102"] == "推送客户（新）"
    assert older.version != newer.version


async def test_a_single_delete_push_is_a_delete_change(jdy_state: JdyState) -> None:
    async with httpx.AsyncClient() as unused:
        receiver = HubReceiver(JiandaoyunConnector(make_settings(), unused))
    sim = pushing_sim(jdy_state, receiver)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim), base_url="http://jdy.test/api/v5"
    ) as http:
        first = next(iter(jdy_state.records[CUSTOMER]))
        answer = await http.post(
            "/app/entry/data/delete",
            json={"app_id": "6405f3a1c2b4d50007a10000", "entry_id": CUSTOMER, "data_id": first},
            headers={"Authorization": f"Bearer {make_settings().api_key.reveal()}"},
        )
        assert answer.status_code == 200
        await sim.pusher.drain()
    [change] = receiver.changes
    assert (change.kind, change.record_id) == (ChangeKind.DELETE, first)
    assert change.record is not None and change.record.deleted
    assert str(change.version).startswith("removed:")


async def test_signature_matches_the_official_demo_formula(jdy_state: JdyState) -> None:
    async with httpx.AsyncClient() as unused:
        receiver = HubReceiver(JiandaoyunConnector(make_settings(), unused))
    sim = pushing_sim(jdy_state, receiver)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim)) as http:
        writer = JiandaoyunConnector(make_settings(), http)
        await writer.write(CUSTOMER, [WriteOp(WriteMode.CREATE, {"客户编号": "H2"})])
        await sim.pusher.drain()
    [(query, headers, body)] = receiver.raw
    text = ":".join([query["nonce"], body.decode("utf-8"), PUSH_SECRET, query["timestamp"]])
    assert headers["x-jdy-signature"] == hashlib.sha1(text.encode("utf-8")).hexdigest()  # noqa: S324


async def test_a_push_signed_with_another_secret_is_refused_every_time(jdy_state: JdyState) -> None:
    async with httpx.AsyncClient() as unused:
        receiver = HubReceiver(JiandaoyunConnector(make_settings(), unused))
    sim = pushing_sim(jdy_state, receiver, secret="someone-elses-secret")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim)) as http:
        writer = JiandaoyunConnector(make_settings(), http)
        await writer.write(CUSTOMER, [WriteOp(WriteMode.CREATE, {"客户编号": "H3"})])
        await sim.pusher.drain()
    assert receiver.statuses == [401] * 4
    assert receiver.changes == []


# --- parse_webhook on hand-made requests --------------------------------------------------


def signed(
    body: bytes, secret: str = PUSH_SECRET, timestamp: str = "1772330400", nonce: str = "0f5ade"
) -> tuple[dict[str, str], dict[str, str]]:
    text = ":".join([nonce, body.decode("utf-8"), secret, timestamp])
    signature = hashlib.sha1(text.encode("utf-8")).hexdigest()  # noqa: S324
    return {"X-JDY-Signature": signature, "X-JDY-DeliverId": "d1"}, {
        "nonce": nonce,
        "timestamp": timestamp,
    }


RECORD = {
    "_id": "5fd1d2c3a1b2c3d4e5f60001",
    "appId": "6405f3a1c2b4d50007a10000",
    "entryId": CUSTOMER,
    "updateTime": "2026-03-01T02:00:00.000Z",
}


@pytest.fixture
async def receiver_connector() -> JiandaoyunConnector:
    async with httpx.AsyncClient() as http:
        return JiandaoyunConnector(make_settings(), http, clock=lambda: 1772330460.0)


def test_a_tampered_body_is_refused(receiver_connector: JiandaoyunConnector) -> None:
    body = json.dumps({"op": "data_create", "data": RECORD}).encode()
    headers, query = signed(body)
    with pytest.raises(AuthError, match="does not match"):
        receiver_connector.parse_webhook(
            headers, body.replace(b"data_create", b"data_update"), query
        )


def test_missing_signature_or_query_is_refused(receiver_connector: JiandaoyunConnector) -> None:
    body = json.dumps({"op": "data_create", "data": RECORD}).encode()
    headers, query = signed(body)
    with pytest.raises(AuthError, match="without X-JDY-Signature"):
        receiver_connector.parse_webhook({}, body, query)
    with pytest.raises(AuthError, match="nonce and timestamp"):
        receiver_connector.parse_webhook(headers, body, {})


def test_query_may_come_in_the_erpbridge_header(receiver_connector: JiandaoyunConnector) -> None:
    body = json.dumps({"op": "data_update", "data": RECORD}, ensure_ascii=False).encode()
    headers, query = signed(body)
    headers["x-erpbridge-query-string"] = f"timestamp={query['timestamp']}&nonce={query['nonce']}"
    [change] = receiver_connector.parse_webhook(headers, body)
    assert (change.kind, change.record_id, change.version) == (
        ChangeKind.UPSERT,
        RECORD["_id"],
        RECORD["updateTime"],
    )


def test_unknown_op_gives_no_change(receiver_connector: JiandaoyunConnector) -> None:
    body = json.dumps({"op": "data_recover", "data": RECORD}).encode()
    headers, query = signed(body)
    assert receiver_connector.parse_webhook(headers, body, query) == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"data": {}}',
        b'{"op": "data_create", "data": {"_id": "x"}}',
        b'{"op": "data_create", "data": {"entryId": "e"}}',
    ],
    ids=["not-json", "array", "no-op", "no-entry", "no-id"],
)
def test_signed_but_malformed_body_is_a_validation_error(
    receiver_connector: JiandaoyunConnector, body: bytes
) -> None:
    headers, query = signed(body)
    with pytest.raises(ValidationError):
        receiver_connector.parse_webhook(headers, body, query)


async def test_an_old_push_is_refused_when_an_age_limit_is_set(http: httpx.AsyncClient) -> None:
    connector = JiandaoyunConnector(
        make_settings(push_max_age_s=300), http, clock=lambda: 1772331000.0
    )
    body = json.dumps({"op": "data_create", "data": RECORD}).encode()
    headers, query = signed(body)
    with pytest.raises(AuthError, match="old"):
        connector.parse_webhook(headers, body, query)


async def test_without_a_push_secret_every_push_is_refused(http: httpx.AsyncClient) -> None:
    connector = JiandaoyunConnector(make_settings(push_secret=None), http)
    body = json.dumps({"op": "data_create", "data": RECORD}).encode()
    headers, query = signed(body)
    with pytest.raises(AuthError, match="no push_secret"):
        connector.parse_webhook(headers, body, query)


def test_the_secret_never_appears_in_the_error(receiver_connector: JiandaoyunConnector) -> None:
    body = json.dumps({"op": "data_create", "data": RECORD}).encode()
    headers, query = signed(body, secret="wrong")
    with pytest.raises(AuthError) as caught:
        receiver_connector.parse_webhook(headers, body, query)
    assert PUSH_SECRET not in str(caught.value) and headers["X-JDY-Signature"] not in str(
        caught.value
    )


def test_settings_refuse_a_literal_secret() -> None:
    with pytest.raises(Exception, match="reference"):
        make_settings(push_secret="plain-text-secret")
    assert isinstance(make_settings().push_secret, Secret)


#: parse_webhook does no I/O, so one connector serves every example.
_FUZZ_RECEIVER = JiandaoyunConnector(
    make_settings(push_max_age_s=300), httpx.AsyncClient(), clock=lambda: 1772330460.0
)


@settings(max_examples=150, deadline=None)
@given(
    body=st.binary(max_size=200)
    | st.builds(
        lambda v: json.dumps(v).encode(),
        st.dictionaries(
            st.sampled_from(["op", "data", "x"]),
            st.none()
            | st.text(max_size=5)
            | st.dictionaries(
                st.sampled_from(["_id", "entryId", "updateTime"]),
                st.text(max_size=5) | st.integers(),
            ),
            max_size=3,
        ),
    ),
    nonce=st.text(max_size=6),
    timestamp=st.text(max_size=12),
    sign_it=st.booleans(),
)
def test_any_push_is_parsed_or_refused_with_a_spi_error(
    body: bytes, nonce: str, timestamp: str, sign_it: bool
) -> None:
    connector = _FUZZ_RECEIVER
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    signature = (
        hashlib.sha1(":".join([nonce, text, PUSH_SECRET, timestamp]).encode()).hexdigest()  # noqa: S324
        if sign_it
        else "0" * 40
    )
    try:
        changes = connector.parse_webhook(
            {"X-JDY-Signature": signature}, body, {"nonce": nonce, "timestamp": timestamp}
        )
    except (AuthError, ValidationError):
        return
    assert all(isinstance(c, Change) for c in changes)
