"""The YonBIP connector's event subscription (webhook.py) and 请购单 object: deliveries the
simulator's publisher seals are verified, decrypted and turned into "id changed" changes;
tampered, foreign or malformed ones are refused with a clear class."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from erpbridge.connectors.yonbip import YonBipConnector
from erpbridge.connectors.yonbip.webhook import decrypt
from erpbridge.sims.yonbip import SANDBOX_APP_KEY, SANDBOX_APP_SECRET, BipState
from erpbridge.sims.yonbip.events import seal
from erpbridge.spi import AuthError, ValidationError, WriteMode, WriteOp, WriteOutcome
from erpbridge.spi.records import ChangeKind

from .conftest import settings

OBJECTS = ("merchant", "voucherorder", "applyorder")


@pytest.fixture
def events(http: httpx.AsyncClient) -> YonBipConnector:
    return YonBipConnector(settings(objects=OBJECTS), http)


def _delivery(
    message: dict[str, object], key: str = SANDBOX_APP_KEY, secret: str = SANDBOX_APP_SECRET
) -> bytes:
    return json.dumps(seal(key, secret, json.dumps(message, ensure_ascii=False))).encode()


def test_an_event_is_an_id_changed_signal_versioned_by_its_event_id(
    events: YonBipConnector,
) -> None:
    body = _delivery(
        {"type": "pu_applyorder_audit", "eventId": "e-1", "timestamp": 1767225600000,
         "tenantId": "k8x2m4q7", "id": 2446326816231999, "code": "QG-1", "status": 1,
         "pubts": "2026-01-01 08:00:05"}
    )  # fmt: skip
    [change] = events.parse_webhook({}, body)
    assert (change.object, change.record_id, change.version) == (
        "applyorder", "2446326816231999", "event:e-1",
    )  # fmt: skip
    assert change.record is None and change.kind is ChangeKind.UPSERT
    # Stamped by the document's pubts (China time), the clock a poll of the list reads.
    assert change.stamp == datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
    # Other shells of the document id: a sales order event's BILL_INFO.billId; without a
    # pubts the change has no stamp (not the send time: another clock).
    order = _delivery({"type": "SALE_AUDITORDER_NOTIFY_SENT", "eventId": "e-2",
                       "timestamp": 1767225600000,
                       "BILL_INFO": {"billId": 77, "billCode": "SO1"}})  # fmt: skip
    [order_change] = events.parse_webhook({}, order)
    assert (order_change.record_id, order_change.stamp) == ("77", None)


def test_test_events_and_objects_not_read_are_acknowledged_without_changes(
    events: YonBipConnector,
) -> None:
    assert events.parse_webhook({}, _delivery({"type": "CHECK_URL", "eventId": "c"})) == []
    assert events.parse_webhook({}, _delivery({"type": "DEPT_ADD", "id": 5})) == []
    assert events.parse_webhook({}, _delivery({"type": "st_purchaseorder_audit", "id": 5})) == []


def test_tampered_foreign_or_malformed_deliveries_are_refused(events: YonBipConnector) -> None:
    good = json.loads(_delivery({"type": "pu_applyorder_save", "id": 1}))
    tampered = {**good, "nonce": good["nonce"] + "x"}
    with pytest.raises(AuthError, match="signature"):
        events.parse_webhook({}, json.dumps(tampered).encode())
    other_app = _delivery({"type": "pu_applyorder_save", "id": 1}, key="someone-else")
    with pytest.raises(AuthError, match="appKey"):
        events.parse_webhook({}, other_app)
    wrong_secret = _delivery({"type": "pu_applyorder_save", "id": 1}, secret="0" * 32)
    with pytest.raises(AuthError):
        events.parse_webhook({}, wrong_secret)
    with pytest.raises(AuthError, match="encrypt"):
        events.parse_webhook({}, json.dumps({"signature": "s", "timestamp": 1}).encode())
    for body in (b"not json", b"[1]"):
        with pytest.raises(ValidationError):
            events.parse_webhook({}, body)
    with pytest.raises(ValidationError, match="id"):
        events.parse_webhook({}, _delivery({"type": "pu_applyorder_save", "code": "QG-1"}))


def test_the_answer_is_an_encrypted_success(events: YonBipConnector) -> None:
    status, content_type, body = events.webhook_ack()
    reply = json.loads(body)
    assert (status, content_type) == (200, "application/json")
    assert decrypt(SANDBOX_APP_KEY, SANDBOX_APP_SECRET, reply["encrypt"]) == "success"


async def test_requisition_is_saved_and_read_by_id_but_not_looked_up_by_code(
    events: YonBipConnector, bip_state: BipState
) -> None:
    fields = {
        "code": "QG-C1",
        "bustype": "A25001",
        "org_code": "991",
        "vouchdate": "2026-11-05 00:00:00",
        "applyOrders": [{"product_cCode": "WL00002", "qty": 4}],
    }
    op = WriteOp(
        WriteMode.CREATE, fields, key_field="code", key_value="QG-C1", idempotency_key="r1"
    )
    [made] = await events.write("applyorder", [op])
    [again] = await events.write("applyorder", [op])  # a retry: the same resubmitCheckKey
    assert made.outcome is WriteOutcome.CREATED and again.target_id == made.target_id
    [record] = await events.get("applyorder", [str(made.target_id), "1"])
    assert record.fields["code"] == "QG-C1" and record.fields["status"] == 0
    assert await events.find("applyorder", "code", ["QG-C1"]) == []  # not looked up
    other = WriteOp(
        WriteMode.CREATE, fields, key_field="code", key_value="QG-C1", idempotency_key="r2"
    )
    [refused] = await events.write("applyorder", [other])
    assert isinstance(refused.error, ValidationError) and refused.error.hint is not None
    update = WriteOp(
        WriteMode.UPDATE, {**fields, "memo": "改"}, target_id=made.target_id, idempotency_key="r3"
    )
    [changed] = await events.write("applyorder", [update])
    assert changed.outcome is WriteOutcome.UPDATED
    assert bip_state.get("applyorder", int(str(made.target_id)))["memo"] == "改"  # type: ignore[index]
