"""The rest connector against a small in-process API: auth, paging, changes, writes, errors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pydantic
import pytest

from erpbridge.connectors.rest import RestConnector, RestSettings
from erpbridge.spi.errors import (
    AuthError,
    ConnectorError,
    NotFoundError,
    RateLimitedError,
    TransientError,
    ValidationError,
)
from erpbridge.spi.records import Cursor, WriteMode, WriteOp, WriteOutcome
from erpbridge.spi.registry import ConnectorRegistry
from erpbridge.spi.secrets import Secret
from tests.connectors.rest.api import T0, ApiState

Connect = Callable[..., RestConnector]


async def _ids(
    connector: RestConnector, page_size: int, cursor: Cursor | None = None
) -> list[list[str]]:
    return [
        [r.id for r in p.records]
        async for p in connector.read_changes("Customer", cursor, page_size)
    ]


@pytest.mark.parametrize("paging", ["offset", "page", "cursor", "link"])
async def test_every_paging_style_reads_every_record_once_in_order(
    connect: Connect, paging: str
) -> None:
    pages = await _ids(connect(paging), 10)

    assert [len(p) for p in pages] in ([10, 10, 5], [10, 10, 5, 0])
    assert [i for p in pages for i in p] == [f"C{n:03d}" for n in range(25)]


async def test_change_filter_starts_at_the_cursor_minus_overlap(connect: Connect) -> None:
    cursor = Cursor(stamp=T0 + timedelta(minutes=20), last_id="C020", overlap=timedelta(minutes=2))

    pages = await _ids(connect("offset"), 10, cursor)

    assert [i for p in pages for i in p] == [f"C{n:03d}" for n in range(18, 25)]


async def test_records_the_server_should_have_filtered_are_dropped(
    connect: Connect, state: ApiState
) -> None:
    state.ignore_filter = True
    cursor = Cursor(stamp=T0 + timedelta(minutes=23), last_id="C023", overlap=timedelta(0))

    pages = await _ids(connect("offset"), 10, cursor)

    assert [i for p in pages for i in p] == ["C023", "C024"]


async def test_sorted_pages_move_the_cursor_each_page(connect: Connect) -> None:
    pages = [p async for p in connect("offset").read_changes("Customer", None, 10)]

    assert [p.cursor.last_id if p.cursor else None for p in pages] == ["C009", "C019", "C024"]
    assert pages[0].records[0].version == T0.isoformat()


async def test_unsorted_api_moves_the_cursor_only_after_a_complete_read(
    connect: Connect,
) -> None:
    connector = connect("offset")
    objects = {
        "Customer": connector.settings.objects["Customer"].model_copy(update={"is_sorted": False})
    }
    unsorted = connect("offset", objects=objects)

    pages = [p async for p in unsorted.read_changes("Customer", None, 10)]

    assert [p.cursor.last_id if p.cursor else None for p in pages] == [None, None, "C024"]


async def test_bad_items_are_read_errors_with_their_position(
    connect: Connect, state: ApiState
) -> None:
    state.customers["C003"]["updated_at"] = "yesterday"
    state.customers["C005"].pop("id")

    (page,) = [p async for p in connect("offset").read_changes("Customer", None, 50)]

    assert len(page.records) == 23
    assert [(e.position, e.error.field) for e in page.errors] == [
        ("/customers page 1 item 4", "id"),
        ("/customers page 1 item 24", "updated_at"),  # the API sorts "yesterday" last
    ]


@pytest.mark.parametrize(
    ("auth", "settings_auth"),
    [
        ("basic", {"type": "basic", "username": "erp", "password": Secret.literal("pw-basic-123")}),
        ("bearer", {"type": "bearer", "token": Secret.literal("tok-static-456")}),
        ("api_key", {"type": "api_key", "key": Secret.literal("key-789")}),
        (
            "oauth2",
            {
                "type": "oauth2",
                "token_url": "/oauth/token",
                "client_id": "cid",
                "client_secret": Secret.literal("csecret-0123"),
            },
        ),
    ],
)
async def test_each_auth_kind_is_accepted(
    connect: Connect, state: ApiState, auth: str, settings_auth: dict[str, object]
) -> None:
    state.auth = auth

    result = await connect("offset", auth=settings_auth).check()
    refused = await connect("offset").check()

    assert result.ok, result.reason
    assert not refused.ok and refused.reason.startswith("AuthError")


async def test_expired_oauth_token_is_refreshed_once(connect: Connect, state: ApiState) -> None:
    state.auth = "oauth2"
    auth = {
        "type": "oauth2",
        "token_url": "/oauth/token",
        "client_id": "cid",
        "client_secret": Secret.literal("csecret-0123"),
    }
    connector = connect("offset", auth=auth)
    await connector.check()
    state.valid_tokens = {"rotated-by-server"}  # the server revoked our token

    records = await connector.get("Customer", ["C001"])

    assert [r.id for r in records] == ["C001"]
    assert state.tokens_issued == 2


async def test_wrong_client_secret_is_an_auth_error_without_the_secret(
    connect: Connect, state: ApiState
) -> None:
    state.auth = "oauth2"
    auth = {
        "type": "oauth2",
        "token_url": "/oauth/token",
        "client_id": "cid",
        "client_secret": Secret.literal("wrong-secret-999"),
    }

    result = await connect("offset", auth=auth).check()

    assert result.reason.startswith("AuthError")
    assert "wrong-secret-999" not in result.reason


async def test_writes_create_update_delete_with_one_result_each(
    connect: Connect, state: ApiState
) -> None:
    ops = [
        WriteOp(
            WriteMode.CREATE, {"name": "新客户", "email": "n@x"}, idempotency_key="k1", ref="a"
        ),
        WriteOp(WriteMode.UPSERT, {"name": "改名"}, target_id="C001", ref="b"),
        WriteOp(WriteMode.DELETE, {}, target_id="C002", ref="c"),
        WriteOp(WriteMode.UPDATE, {"name": "x"}, target_id="C999", ref="d"),
        WriteOp(WriteMode.DELETE, {}, target_id="C999", ref="e"),
    ]

    results = await connect("offset").write("Customer", ops)

    assert [(r.ref, r.outcome) for r in results] == [
        ("a", WriteOutcome.CREATED),
        ("b", WriteOutcome.UPDATED),
        ("c", WriteOutcome.DELETED),
        ("d", WriteOutcome.FAILED),
        ("e", WriteOutcome.DELETED),  # already gone is what a delete wants
    ]
    assert results[0].target_id in state.customers
    assert state.customers["C001"]["name"] == "改名"
    assert "C002" not in state.customers
    assert isinstance(results[3].error, NotFoundError)


async def test_retried_create_sends_the_same_idempotency_key(
    connect: Connect, state: ApiState
) -> None:
    op = WriteOp(WriteMode.CREATE, {"name": "n", "email": "e"}, idempotency_key="flow:1:v1")
    connector = connect("offset")

    first = await connector.write("Customer", [op])
    again = await connector.write("Customer", [op])

    assert first[0].target_id == again[0].target_id
    assert len(state.customers) == 26


@pytest.mark.parametrize(
    ("status", "error_class"),
    [(422, ValidationError), (429, RateLimitedError), (500, TransientError), (409, ConnectorError)],
)
async def test_error_answers_become_their_classes(
    connect: Connect, state: ApiState, status: int, error_class: type[ConnectorError]
) -> None:
    state.fail_next = [status]

    (result,) = await connect("offset").write("Customer", [WriteOp(WriteMode.CREATE, {"n": 1})])

    assert isinstance(result.error, error_class)
    if status == 422:
        assert result.error.field == "email"
    if status == 429:
        assert isinstance(result.error, RateLimitedError) and result.error.retry_after_s == 7


async def test_auth_failure_on_write_stops_the_batch(connect: Connect, state: ApiState) -> None:
    state.auth = "bearer"

    with pytest.raises(AuthError):
        await connect("offset").write("Customer", [WriteOp(WriteMode.CREATE, {"n": 1})])


async def test_failed_list_call_raises_its_class(connect: Connect, state: ApiState) -> None:
    state.fail_next = [503]

    with pytest.raises(TransientError, match="HTTP 503"):
        await _ids(connect("offset"), 10)


async def test_get_skips_missing_ids_and_find_matches_exactly(connect: Connect) -> None:
    connector = connect("offset")

    got = await connector.get("Customer", ["C004", "nope"])
    found = await connector.find("Customer", "email", ["c7@example.com", "none@x"])

    assert [r.id for r in got] == ["C004"]
    assert [r.id for r in found] == ["C007"]


async def test_describe_and_unknown_object(connect: Connect) -> None:
    connector = connect("offset")

    catalog = await connector.describe()

    assert catalog.objects["Customer"].stamp_field == "updated_at"
    with pytest.raises(NotFoundError, match="not configured"):
        await connector.get("Invoice", ["1"])


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"base_url": "ftp://x"}, "http"),
        ({"base_url": "https://u:p@x"}, "credentials"),
        ({"base_url": "https://x", "auth": {"type": "bearer", "token": "plain"}}, "reference"),
        ({"base_url": "https://x", "paging": {"type": "scroll"}}, "paging"),
    ],
)
def test_bad_settings_are_refused_at_load(values: dict[str, object], fragment: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=fragment):
        RestSettings.model_validate(values)


def test_registry_builds_the_connector() -> None:
    spec = ConnectorRegistry(use_entry_points=False).get("rest")

    connector = spec.create(spec.settings.model_validate({"base_url": "https://x"}), None)

    assert isinstance(connector, RestConnector)
