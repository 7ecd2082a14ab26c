"""write against the real RabbitMQ: events with confirms; nack, return and timeout fail."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal

from erpbridge.connectors.amqp import AmqpConnector, AmqpSettings
from erpbridge.spi.errors import TransientError, ValidationError
from erpbridge.spi.records import WriteMode, WriteOp, WriteOutcome
from tests.connectors.amqp.conftest import Broker


async def _subscriber(broker: Broker, exchange: str, pattern: str, **arguments: object) -> str:
    """A peer's queue bound to ``exchange`` for ``pattern``."""
    name = broker.name(f"sub{len(broker.queues)}")
    queue = await broker.channel.declare_queue(name, arguments=arguments or None)
    await queue.bind(exchange, routing_key=pattern)
    return name


async def test_confirmed_events_are_routed_by_system_object_and_event(
    connector: AmqpConnector, broker: Broker
) -> None:
    await connector.check()
    queue = await _subscriber(broker, connector.settings.exchange, "crm.Account.*")
    ops = [
        WriteOp(
            WriteMode.CREATE, {"id": "A1", "Name": "华北机械"}, idempotency_key="f:1:v1", ref="j1"
        ),
        WriteOp(
            WriteMode.UPDATE, {"Name": "x", "Limit": Decimal("10.50")}, target_id="A2", ref="j2"
        ),
        WriteOp(WriteMode.UPSERT, {"Name": "y"}, key_field="Code", key_value="C3", ref="j3"),
        WriteOp(WriteMode.DELETE, {}, target_id="A4", ref="j4"),
    ]

    results = await connector.write("Account", ops)
    received = await broker.drain(queue)

    assert [(r.ref, r.outcome, r.target_id) for r in results] == [
        ("j1", WriteOutcome.CREATED, "A1"),
        ("j2", WriteOutcome.UPDATED, "A2"),
        ("j3", WriteOutcome.CREATED, "C3"),
        ("j4", WriteOutcome.DELETED, "A4"),
    ]
    assert results[0].version == "f:1:v1"
    by_key = {m.routing_key: m for m in received}
    assert (
        sorted(by_key)
        == [
            "crm.Account.created",
            "crm.Account.deleted",
            "crm.Account.updated",
        ]
        and len(received) == 4
    )
    created = next(m for m in received if m.message_id == "f:1:v1")
    document = json.loads(created.body)
    assert document["fields"] == {"id": "A1", "Name": "华北机械"}
    assert (document["system"], document["object"], document["event"]) == (
        "crm",
        "Account",
        "created",
    )
    updated = json.loads(by_key["crm.Account.updated"].body)
    assert updated["fields"]["Limit"] == "10.50"  # decimals exact, as text


async def test_published_events_read_back_as_records_through_a_bound_queue(
    connector: AmqpConnector,
) -> None:
    ops = [
        WriteOp(WriteMode.CREATE, {"id": f"A{n}", "n": n}, idempotency_key=f"k{n}")
        for n in range(3)
    ]

    results = await connector.write("Account", ops)  # the object's queue binds crm.Account.*
    (page,) = [p async for p in connector.read_changes("Account", None, 10)]

    assert all(r.outcome is WriteOutcome.CREATED for r in results)
    assert [(r.id, r.version, r.fields) for r in page.records] == [
        (f"A{n}", f"k{n}", {"id": f"A{n}", "n": n}) for n in range(3)
    ]


async def test_broker_nack_is_a_transient_failure_for_that_record_only(
    connector: AmqpConnector, broker: Broker
) -> None:
    await connector.check()
    # A queue in reject-publish overflow: RabbitMQ nacks what it cannot hold.
    await _subscriber(
        broker,
        connector.settings.exchange,
        "crm.Order.*",
        **{"x-max-length": 1, "x-overflow": "reject-publish"},
    )
    first = await connector.write("Order", [WriteOp(WriteMode.CREATE, {"id": "O1"}, ref="a")])

    second = await connector.write("Order", [WriteOp(WriteMode.CREATE, {"id": "O2"}, ref="b")])

    assert first[0].outcome is WriteOutcome.CREATED
    assert second[0].outcome is WriteOutcome.FAILED
    assert isinstance(second[0].error, TransientError)
    assert "Nack" in second[0].error.message


async def test_unroutable_mandatory_event_fails_transiently(
    settings_for: Callable[..., AmqpSettings],
) -> None:
    connector = AmqpConnector(settings_for(mandatory=True))
    try:
        results = await connector.write("Invoice", [WriteOp(WriteMode.CREATE, {"id": "I1"})])
    finally:
        await connector.aclose()

    assert results[0].outcome is WriteOutcome.FAILED
    assert isinstance(results[0].error, TransientError)
    assert "no queue is bound for routing key crm.Invoice.created" in results[0].error.message


async def test_missing_confirm_within_timeout_fails_transiently(
    settings_for: Callable[..., AmqpSettings],
) -> None:
    connector = AmqpConnector(settings_for(confirm_timeout_s=1e-9))
    try:
        results = await connector.write("Account", [WriteOp(WriteMode.CREATE, {"id": "A1"})])
    finally:
        await connector.aclose()

    assert results[0].outcome is WriteOutcome.FAILED
    assert isinstance(results[0].error, TransientError)
    assert "no publisher confirm" in results[0].error.message


async def test_unencodable_field_fails_its_record_and_the_rest_is_published(
    connector: AmqpConnector,
) -> None:
    ops = [
        WriteOp(WriteMode.CREATE, {"id": "A1", "blob": object()}, ref="bad"),
        WriteOp(WriteMode.CREATE, {"id": "A2"}, ref="good"),
        WriteOp(WriteMode.DELETE, {}, ref="no-id"),
    ]

    results = await connector.write("Account", ops)

    assert [r.outcome for r in results] == [
        WriteOutcome.FAILED,
        WriteOutcome.CREATED,
        WriteOutcome.FAILED,
    ]
    assert isinstance(results[0].error, ValidationError)
    assert "JSON" in results[0].error.message
    assert results[2].error is not None and "needs the record id" in results[2].error.message


async def test_object_that_is_not_one_routing_key_word_is_refused(
    connector: AmqpConnector,
) -> None:
    try:
        await connector.write("Sales.Order", [WriteOp(WriteMode.CREATE, {"id": "1"})])
    except ValidationError as exc:
        error: ValidationError | None = exc
    else:
        error = None

    assert error is not None and "routing-key word" in error.message


async def test_create_without_id_gets_a_stable_id_from_the_job(connector: AmqpConnector) -> None:
    op = WriteOp(WriteMode.CREATE, {"Name": "n"}, idempotency_key="flow:7:v1")

    first = await connector.write("Account", [op])
    again = await connector.write("Account", [op])  # a retry after a lost answer

    assert first[0].target_id == again[0].target_id
    assert first[0].target_id is not None and len(first[0].target_id) == 36
