"""Outbound messages: the simulator sends them on change; the connector verifies and parses."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from erpbridge.connectors.salesforce import SalesforceConnector
from erpbridge.connectors.salesforce.webhook import ACK_RESPONSE
from erpbridge.sims.salesforce.app import SalesforceSim
from erpbridge.sims.salesforce.outbound import OutboundConfig
from erpbridge.spi.errors import AuthError, ValidationError
from erpbridge.spi.records import ChangeKind, WriteMode, WriteOp

XML = {"Content-Type": "text/xml; charset=utf-8"}


def _receiver(bodies: list[bytes]) -> Starlette:
    async def hook(request: Request) -> Response:
        bodies.append(await request.body())
        return Response(ACK_RESPONSE, media_type="text/xml")

    return Starlette(routes=[Route("/hooks/salesforce", hook, methods=["POST"])])


async def _delivered_body(connector: SalesforceConnector, sim: SalesforceSim) -> bytes:
    bodies: list[bytes] = []
    sim.outbound.transport = httpx.ASGITransport(app=_receiver(bodies))
    sim.outbound.configure(
        [OutboundConfig("http://hub.test/hooks/salesforce", "Account", ("Name", "SystemModstamp"))]
    )
    await connector.write("Account", [WriteOp(WriteMode.CREATE, {"Name": "推送测试"})])
    await sim.outbound.drain()
    assert sim.outbound.delivered == 1
    return bodies[0]


async def test_change_in_the_org_arrives_as_a_verified_change(
    connector: SalesforceConnector, sim: SalesforceSim
) -> None:
    body = await _delivered_body(connector, sim)
    changes = connector.parse_webhook(XML, body)
    [change] = changes
    row = sim.org.records["Account"][change.record_id]
    assert (change.object, change.kind) == ("Account", ChangeKind.UPSERT)
    assert row["Name"] == "推送测试"
    assert change.version == row["SystemModstamp"]  # same text as a poll gives
    assert b"Z</sf:SystemModstamp>" in body  # the SOAP message itself uses xsd:dateTime
    assert change.stamp is not None


def test_ack_is_the_soap_answer_salesforce_waits_for(connector: SalesforceConnector) -> None:
    status, content_type, body = connector.webhook_ack()
    assert (status, content_type.split(";")[0]) == (200, "text/xml")
    assert b"<Ack>true</Ack>" in body


async def test_message_from_another_org_is_refused(
    connector: SalesforceConnector, sim: SalesforceSim
) -> None:
    body = await _delivered_body(connector, sim)
    forged = body.replace(b"00DSm0000000001", b"00DXx0000000009")
    with pytest.raises(AuthError, match="expected 00DSm0000000001"):
        connector.parse_webhook(XML, forged)


async def test_without_an_org_id_messages_are_refused(
    connector: SalesforceConnector, sim: SalesforceSim
) -> None:
    body = await _delivered_body(connector, sim)
    unverified = SalesforceConnector(
        connector.settings.model_copy(update={"org_id": None}), connector.client.http
    )
    with pytest.raises(AuthError, match="no org_id"):
        unverified.parse_webhook(XML, body)


@pytest.mark.parametrize(
    ("headers", "body", "message"),
    [
        (XML, b"<not-closed", "not well-formed"),
        (XML, b"<a/>", "no notifications"),
        ({"Content-Type": "application/json"}, b"{}", "text/xml expected"),
        (XML, b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', "DOCTYPE"),
    ],
)
def test_bad_bodies_are_validation_errors(
    connector: SalesforceConnector, headers: dict[str, str], body: bytes, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        connector.parse_webhook(headers, body)


async def test_receiver_that_does_not_ack_gets_the_message_again(
    connector: SalesforceConnector, sim: SalesforceSim
) -> None:
    answers = iter(
        [Response("nope", status_code=500), Response(ACK_RESPONSE, media_type="text/xml")]
    )

    async def flaky(request: Request) -> Response:
        return next(answers)

    sim.outbound.transport = httpx.ASGITransport(
        app=Starlette(routes=[Route("/h", flaky, methods=["POST"])])
    )
    sim.outbound.backoff_s = 0.0
    sim.outbound.configure([OutboundConfig("http://hub.test/h", "Account")])
    await connector.write("Account", [WriteOp(WriteMode.CREATE, {"Name": "retry me"})])
    await sim.outbound.drain()
    assert (sim.outbound.delivered, sim.outbound.failed) == (1, 0)
