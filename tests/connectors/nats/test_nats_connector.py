"""The nats connector against the real NATS JetStream: the same bus semantics as amqp."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pydantic
import pytest

from erpbridge.connectors.nats import NatsConnector, NatsSettings
from erpbridge.spi.errors import NotFoundError, TransientError, ValidationError
from erpbridge.spi.records import WriteMode, WriteOp, WriteOutcome
from erpbridge.spi.registry import ConnectorRegistry
from tests.connectors.nats.conftest import NATS_URL, Bus

DURABLE = "erpbridge_Account"


def _wms(connector: NatsConnector) -> str:
    return connector.settings.objects["Account"].stream or ""


async def _publish_accounts(bus: Bus, count: int) -> None:
    for n in range(count):
        body = json.dumps({"id": f"A{n}", "Name": f"客户{n}"}).encode()
        await bus.js.publish(
            f"{bus.prefix}wms.Account.updated", body, headers={"Nats-Msg-Id": f"m{n}"}
        )


async def test_check_declares_streams_and_consumers(connector: NatsConnector) -> None:
    result = await connector.check()

    assert result.ok, result.reason
    assert result.details[f"consumer {DURABLE}"].startswith("0 waiting, 0 unacked")


async def test_pages_carry_every_waiting_message_in_order(
    connector: NatsConnector, bus: Bus
) -> None:
    await connector.check()
    await _publish_accounts(bus, 5)

    pages = [page async for page in connector.read_changes("Account", None, 2)]

    assert [[r.id for r in p.records] for p in pages] == [["A0", "A1"], ["A2", "A3"], ["A4"]]
    assert pages[0].records[1].version == "m1"
    assert pages[0].records[1].fields == {"id": "A1", "Name": "客户1"}
    assert await bus.waiting(_wms(connector), DURABLE) == 0
    assert await bus.unacked(_wms(connector), DURABLE) == 0


async def test_page_is_acked_only_when_the_next_page_is_asked_for(
    connector: NatsConnector, bus: Bus
) -> None:
    await connector.check()
    await _publish_accounts(bus, 5)

    pages = aiter(connector.read_changes("Account", None, 2))
    first = await anext(pages)
    unacked_while_held = await bus.unacked(_wms(connector), DURABLE)
    await anext(pages)  # the engine committed the first page
    await pages.aclose()  # then stopped before committing the second
    again = [p async for p in connector.read_changes("Account", None, 10)]

    assert [r.id for r in first.records] == ["A0", "A1"]
    assert unacked_while_held == 2
    assert sorted(r.id for p in again for r in p.records) == ["A2", "A3", "A4"]  # nak'ed + rest


async def test_poison_messages_are_errors_with_position_and_parked(
    connector: NatsConnector, bus: Bus
) -> None:
    await connector.check()
    subject = f"{bus.prefix}wms.Account.updated"
    for body, mid in [
        (b'{"id": "A1"}', "good"),
        (b"{not json", "bad-json"),
        (b'{"Name": "no id"}', "no-id"),
    ]:
        await bus.js.publish(subject, body, headers={"Nats-Msg-Id": mid})

    (page,) = [p async for p in connector.read_changes("Account", None, 10)]
    dead = await bus.js.pull_subscribe(
        f"{bus.prefix}dead.letter", stream=f"{bus.prefix.upper()}_DEAD"
    )
    parked = await dead.fetch(10, timeout=2)

    assert [r.id for r in page.records] == ["A1"]
    assert [e.position.split(", ")[2] for e in page.errors] == [
        "message id bad-json",
        "message id no-id",
    ]
    assert page.errors[0].error.system == "nats"
    assert page.errors[1].error.field == "id"
    assert [m.data for m in parked] == [b"{not json", b'{"Name": "no id"}']
    assert "not JSON" in (parked[0].headers or {})["X-Erpbridge-Error"]
    assert await bus.unacked(_wms(connector), DURABLE) == 0  # terminated, not redelivered
    assert await bus.waiting(_wms(connector), DURABLE) == 0


async def test_written_events_are_stored_and_read_back(connector: NatsConnector) -> None:
    ops = [
        WriteOp(WriteMode.CREATE, {"id": "A1", "n": 1}, idempotency_key="k1", ref="a"),
        WriteOp(WriteMode.DELETE, {}, target_id="A2", idempotency_key="k2", ref="b"),
    ]

    results = await connector.write("Account", ops)
    (page,) = [p async for p in connector.read_changes("Echo", None, 10)]

    assert [(r.outcome, r.target_id, r.version) for r in results] == [
        (WriteOutcome.CREATED, "A1", "k1"),
        (WriteOutcome.DELETED, "A2", "k2"),
    ]
    assert [(r.id, r.version, r.deleted) for r in page.records] == [
        ("A1", "k1", False),
        ("A2", "k2", True),
    ]


async def test_republished_event_is_deduplicated_by_the_stream(
    connector: NatsConnector, bus: Bus
) -> None:
    op = WriteOp(WriteMode.CREATE, {"id": "A1"}, idempotency_key="flow:A1:v1")

    first = await connector.write("Account", [op])
    again = await connector.write("Account", [op])  # a retry after a lost answer
    info = await bus.js.stream_info(connector.settings.stream)

    assert first[0].outcome is again[0].outcome is WriteOutcome.CREATED
    assert info.state.messages == 1


async def test_subject_no_stream_captures_fails_transiently(
    settings_for: Callable[..., NatsSettings],
) -> None:
    connector = NatsConnector(settings_for(declare=False))  # so no stream captures our subjects
    try:
        results = await connector.write("Account", [WriteOp(WriteMode.CREATE, {"id": "1"})])
    finally:
        await connector.aclose()

    assert results[0].outcome is WriteOutcome.FAILED
    assert isinstance(results[0].error, TransientError)
    assert "no stream captures" in results[0].error.message


async def test_missing_stream_is_not_found_when_declare_is_off(
    settings_for: Callable[..., NatsSettings],
) -> None:
    connector = NatsConnector(settings_for(declare=False))
    try:
        result = await connector.check()
        with pytest.raises(NotFoundError):
            [p async for p in connector.read_changes("Account", None, 10)]
    finally:
        await connector.aclose()

    assert not result.ok and result.reason.startswith("NotFoundError")


async def test_unreachable_server_is_transient() -> None:
    connector = NatsConnector(NatsSettings(url="nats://127.0.0.1:1", limits={"timeout_s": 1}))

    result = await connector.check()

    assert not result.ok and result.reason.startswith("TransientError"), result.reason


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"url": "nats://u:secret-pw@h:4222"}, "credentials"),
        ({"url": "amqp://h"}, "nats://"),
        ({"url": NATS_URL, "system": "a.b"}, "subject token"),
        ({"url": NATS_URL, "password": "${env:X}"}, "password needs user"),
    ],
)
def test_bad_settings_are_refused_at_load(values: dict[str, object], fragment: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=fragment) as info:
        NatsSettings.model_validate(values)

    assert "secret-pw" not in str(info.value)


async def test_object_without_stream_and_bad_object_names_are_refused(
    connector: NatsConnector,
) -> None:
    with pytest.raises(NotFoundError):
        [p async for p in connector.read_changes("Invoice", None, 10)]
    with pytest.raises(ValidationError):
        await connector.write("Sales.Order", [WriteOp(WriteMode.CREATE, {"id": "1"})])


def test_registry_builds_the_connector() -> None:
    spec = ConnectorRegistry(use_entry_points=False).get("nats")

    connector = spec.create(spec.settings.model_validate({"url": NATS_URL}), None)

    assert isinstance(connector, NatsConnector)


async def test_page_held_by_a_dead_connection_is_redelivered_after_ack_wait(
    settings_for: Callable[..., NatsSettings], bus: Bus
) -> None:
    connector = NatsConnector(settings_for(ack_wait_s=1))
    try:
        await connector.check()
        await _publish_accounts(bus, 2)
        pages = aiter(connector.read_changes("Account", None, 10))
        held = await anext(pages)
        await connector.client.aclose()  # the process "dies": no ack, no nak reaches the server
        with pytest.raises(TransientError):
            await anext(pages)
        again: list[str] = []
        for _ in range(100):  # bounded (~10 s): JetStream redelivers after ack_wait (1 s)
            again += [
                r.id
                for p in [p async for p in connector.read_changes("Account", None, 10)]
                for r in p.records
            ]  # a busy server may redeliver the two in separate reads
            if len(again) >= 2:
                break
            await asyncio.sleep(0.1)
    finally:
        await connector.aclose()

    assert [r.id for r in held.records] == ["A0", "A1"]
    assert again == ["A0", "A1"]
