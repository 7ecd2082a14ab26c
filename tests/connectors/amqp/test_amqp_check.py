"""check, describe, settings and the registry entry, against the real RabbitMQ."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pydantic
import pytest
from structlog.testing import capture_logs

from erpbridge.connectors.amqp import AmqpConnector, AmqpObject, AmqpSettings
from erpbridge.spi.registry import ConnectorRegistry
from erpbridge.spi.schema import FieldType
from erpbridge.spi.secrets import Secret
from tests.connectors.amqp.conftest import AMQP_URL, Broker


async def test_check_declares_and_reports_the_queues(
    connector: AmqpConnector, broker: Broker
) -> None:
    result = await connector.check()

    queue = connector.settings.objects["Account"].queue
    assert result.ok, result.reason
    assert result.details[f"queue {queue}"] == "0 waiting, 0 consumers (Account)"
    assert await broker.waiting(connector.settings.dead_letter_queue) == 0  # declared


async def test_check_with_a_wrong_password_is_an_auth_failure_without_the_password(
    settings_for: Callable[..., AmqpSettings],
) -> None:
    connector = AmqpConnector(settings_for(password=Secret.literal("wrong-pass-4711")))
    try:
        with capture_logs() as logs:
            result = await connector.check()
    finally:
        await connector.aclose()

    assert not result.ok
    assert result.reason.startswith("AuthError"), result.reason
    assert "wrong-pass-4711" not in result.reason + repr(logs)


async def test_check_names_the_missing_exchange_when_declare_is_off(
    settings_for: Callable[..., AmqpSettings],
) -> None:
    connector = AmqpConnector(settings_for(declare=False))
    try:
        result = await connector.check()
    finally:
        await connector.aclose()

    assert not result.ok
    assert result.reason.startswith("NotFoundError")
    assert connector.settings.exchange in result.reason


async def test_check_on_a_closed_port_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = AmqpSettings(url=f"amqp://guest@127.0.0.1:{port}/", limits={"timeout_s": 2})
    connector = AmqpConnector(settings)

    result = await connector.check()

    assert not result.ok
    assert result.reason.startswith("TransientError"), result.reason


async def test_describe_lists_configured_objects_and_fields() -> None:
    settings = AmqpSettings(
        url=AMQP_URL,
        objects={
            "Order": AmqpObject(queue="q", id_field="No", fields={"Total": FieldType.DECIMAL})
        },
    )

    catalog = await AmqpConnector(settings).describe()

    order = catalog.objects["Order"]
    assert order.id_field == "No"
    assert [(f.name, f.type) for f in order.fields] == [
        ("No", FieldType.STRING),
        ("Total", FieldType.DECIMAL),
    ]


def test_password_in_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        AmqpSettings(url="amqp://guest:s3cret-pw@127.0.0.1/")

    assert "must not hold a password" in str(info.value)
    assert "s3cret-pw" not in str(info.value)


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"url": "http://host/"}, "amqp://"),
        ({"url": AMQP_URL, "system": "crm.erp"}, "routing-key word"),
        ({"url": AMQP_URL, "objects": {"A.B": {"queue": "q"}}}, "routing-key word"),
        ({"url": AMQP_URL, "password": "plain"}, "reference"),
        ({"url": AMQP_URL, "exchnage": "x"}, "extra"),
    ],
)
def test_bad_settings_are_refused_at_load(values: dict[str, object], fragment: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=fragment):
        AmqpSettings.model_validate(values)


def test_registry_builds_the_connector() -> None:
    spec = ConnectorRegistry(use_entry_points=False).get("amqp")

    connector = spec.create(spec.settings.model_validate({"url": AMQP_URL}), None)

    assert isinstance(connector, AmqpConnector)
    assert connector.system == "amqp"


async def test_check_on_an_unknown_virtual_host_is_an_auth_failure(
    settings_for: Callable[..., AmqpSettings],
) -> None:
    connector = AmqpConnector(settings_for(url=AMQP_URL.rstrip("/") + "/no-such-vhost"))
    try:
        result = await connector.check()
    finally:
        await connector.aclose()

    assert not result.ok
    assert result.reason.startswith("AuthError")
    assert "no-such-vhost" in result.reason
