"""read_changes against the real RabbitMQ: pages, ack only after the next page, poison."""

from __future__ import annotations

import hashlib
import json

import pytest

from erpbridge.connectors.amqp import AmqpConnector, AmqpObject
from erpbridge.connectors.amqp.messages import Delivery, decode_delivery
from erpbridge.spi.errors import NotFoundError, TransientError, ValidationError
from erpbridge.spi.records import Record
from tests.connectors.amqp.conftest import Broker


def _queue(connector: AmqpConnector) -> str:
    queue = connector.settings.objects["Account"].queue
    assert queue is not None
    return queue


async def _publish_accounts(broker: Broker, queue: str, count: int) -> None:
    for n in range(count):
        body = json.dumps({"id": f"A{n}", "Name": f"客户{n}"}).encode()
        await broker.publish(queue, body, message_id=f"m{n}")


async def test_pages_carry_every_waiting_message_in_order(
    connector: AmqpConnector, broker: Broker
) -> None:
    await connector.check()  # declares the topology
    await _publish_accounts(broker, _queue(connector), 5)

    pages = [page async for page in connector.read_changes("Account", None, 2)]

    assert [[r.id for r in p.records] for p in pages] == [["A0", "A1"], ["A2", "A3"], ["A4"]]
    assert [p.has_more for p in pages] == [True, True, False]
    assert pages[0].records[1].fields == {"id": "A1", "Name": "客户1"}
    assert pages[0].records[1].version == "m1"  # the message id: stable across redeliveries
    assert await broker.waiting(_queue(connector)) == 0


async def test_page_is_acked_only_when_the_next_page_is_asked_for(
    connector: AmqpConnector, broker: Broker
) -> None:
    await connector.check()
    queue = _queue(connector)
    await _publish_accounts(broker, queue, 5)

    pages = aiter(connector.read_changes("Account", None, 2))
    first = await anext(pages)
    ready_while_page_held = await broker.waiting(queue)
    second = await anext(pages)  # the engine committed the first page
    await pages.aclose()  # a crash before the second page is committed
    ready_after_crash = await broker.until_waiting(queue, 3)

    assert [r.id for r in first.records] == ["A0", "A1"]
    assert [r.id for r in second.records] == ["A2", "A3"]
    assert ready_while_page_held == 3  # two delivered and held unacked, none lost
    assert ready_after_crash == 3  # A2, A3 back on the queue, A4 never taken; A0, A1 gone


async def test_uncommitted_page_is_redelivered_with_the_same_versions(
    connector: AmqpConnector, broker: Broker
) -> None:
    await connector.check()
    await _publish_accounts(broker, _queue(connector), 2)

    pages = aiter(connector.read_changes("Account", None, 10))
    before = await anext(pages)
    await pages.aclose()  # the engine failed to commit: nothing acked
    again = [page async for page in connector.read_changes("Account", None, 10)]

    assert [(r.id, r.version) for r in again[0].records] == [
        (r.id, r.version) for r in before.records
    ]


async def test_poison_messages_are_errors_with_position_and_parked_as_dead_letters(
    connector: AmqpConnector, broker: Broker
) -> None:
    await connector.check()
    queue = _queue(connector)
    bodies = [
        (b'{"id": "A1", "Name": "ok"}', "good-1"),
        (b"{not json", "bad-json"),
        (b'{"Name": "no id"}', "no-id"),
        (b"[1, 2]", "an-array"),
        (b"\xff\xfe", "not-utf8"),
        (b'{"id": "A2", "Name": "ok too"}', "good-2"),
    ]
    for body, mid in bodies:
        await broker.publish(queue, body, message_id=mid)

    pages = [page async for page in connector.read_changes("Account", None, 10)]
    parked = await broker.drain(connector.settings.dead_letter_queue)

    (page,) = pages
    assert [r.id for r in page.records] == ["A1", "A2"]
    assert [e.position.split(", ")[1] for e in page.errors] == [
        "message id bad-json",
        "message id no-id",
        "message id an-array",
        "message id not-utf8",
    ]
    assert all(isinstance(e.error, ValidationError) for e in page.errors)
    assert "not JSON" in page.errors[0].error.message
    assert page.errors[1].error.field == "id"
    assert page.errors[0].error.raw == "{not json"
    assert [m.message_id for m in parked] == ["bad-json", "no-id", "an-array", "not-utf8"]
    assert parked[0].body == b"{not json"
    assert "not JSON" in str((parked[0].headers or {})["x-erpbridge-error"])
    assert str((parked[1].headers or {})["x-erpbridge-queue"]) == queue
    assert await broker.waiting(queue) == 0  # never back on the queue


async def test_envelope_gives_version_stamp_and_delete(
    connector: AmqpConnector, broker: Broker
) -> None:
    await connector.check()
    envelope = {
        "id": "A9",
        "event": "deleted",
        "version": "v7",
        "stamp": "2026-11-25T08:00:00+08:00",
        "fields": {"Name": "gone"},
    }
    await broker.publish(_queue(connector), json.dumps(envelope).encode(), message_id="x")

    (page,) = [p async for p in connector.read_changes("Account", None, 10)]

    (record,) = page.records
    assert (record.id, record.version, record.deleted) == ("A9", "v7", True)
    assert record.stamp is not None and record.stamp.isoformat() == "2026-11-25T00:00:00+00:00"
    assert record.fields == {"Name": "gone"}
    assert page.cursor is not None and page.cursor.stamp == record.stamp


async def test_naive_stamp_is_a_per_message_error(connector: AmqpConnector, broker: Broker) -> None:
    await connector.check()
    envelope = {"id": "A1", "stamp": "2026-11-25T08:00:00", "fields": {}}
    await broker.publish(_queue(connector), json.dumps(envelope).encode(), message_id="naive")

    (page,) = [p async for p in connector.read_changes("Account", None, 10)]

    assert page.records == []
    assert page.errors[0].error.field == "stamp"
    assert "no time zone" in page.errors[0].error.message


def test_message_without_message_id_gets_a_stable_body_hash_version() -> None:
    body = json.dumps({"id": "A1"}).encode()
    delivery = Delivery(body, "queue q, delivery tag 7")

    first = decode_delivery("Account", AmqpObject(queue="q"), delivery)
    again = decode_delivery("Account", AmqpObject(queue="q"), delivery)

    assert isinstance(first, Record) and isinstance(again, Record)
    assert first.version == again.version == "sha256:" + hashlib.sha256(body).hexdigest()[:32]


def test_flat_body_uses_configured_id_version_and_stamp_fields() -> None:
    spec = AmqpObject(queue="q", id_field="FNumber", version_field="rev", stamp_field="at")
    body = json.dumps({"FNumber": 42, "rev": 3, "at": "2026-11-25T10:00:00Z"}).encode()

    record = decode_delivery("Account", spec, Delivery(body, "q", "wms.Account.updated", "m"))

    assert isinstance(record, Record)
    assert (record.id, record.version, record.deleted) == ("42", "3", False)
    assert record.stamp is not None and record.stamp.hour == 10


async def test_empty_queue_gives_no_page(connector: AmqpConnector) -> None:
    await connector.check()

    pages = [p async for p in connector.read_changes("Account", None, 10)]

    assert pages == []


async def test_read_limit_ends_a_read_while_messages_remain(
    settings_for: object, broker: Broker
) -> None:
    settings = settings_for(read_limit=3)  # type: ignore[operator]
    connector = AmqpConnector(settings)
    try:
        await connector.check()
        await _publish_accounts(broker, _queue(connector), 5)

        pages = [p async for p in connector.read_changes("Account", None, 2)]
    finally:
        await connector.aclose()

    assert [len(p.records) for p in pages] == [2, 1]
    assert pages[-1].has_more is False
    assert await broker.waiting(_queue(connector)) == 2


async def test_object_without_queue_is_not_found(connector: AmqpConnector) -> None:
    with pytest.raises(NotFoundError, match="no queue configured"):
        [p async for p in connector.read_changes("Invoice", None, 10)]


async def test_missing_queue_is_not_found_when_declare_is_off(
    settings_for: object, broker: Broker
) -> None:
    connector = AmqpConnector(settings_for(declare=False))  # type: ignore[operator]
    try:
        with pytest.raises(NotFoundError, match="NOT_FOUND"):
            [p async for p in connector.read_changes("Account", None, 10)]
    finally:
        await connector.aclose()


async def test_connection_lost_while_a_page_is_held_redelivers_it(
    connector: AmqpConnector, broker: Broker
) -> None:
    await connector.check()
    queue = _queue(connector)
    await _publish_accounts(broker, queue, 3)
    pages = aiter(connector.read_changes("Account", None, 2))
    held = await anext(pages)

    await connector.client.aclose()  # the broker connection drops before the ack
    with pytest.raises(TransientError):
        await anext(pages)
    again = [p async for p in connector.read_changes("Account", None, 10)]

    assert [r.id for r in held.records] == ["A0", "A1"]
    assert sorted(r.id for p in again for r in p.records) == ["A0", "A1", "A2"]
