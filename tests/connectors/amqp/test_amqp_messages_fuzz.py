"""Fuzz: no message body, however broken, makes the reader raise; it is a record or an error."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from erpbridge.connectors.amqp import AmqpObject
from erpbridge.connectors.amqp.messages import Delivery, decode_delivery
from erpbridge.spi.errors import ValidationError
from erpbridge.spi.records import ReadError, Record

SPEC = AmqpObject(queue="q", version_field="rev", stamp_field="at")
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
KEYED = st.fixed_dictionaries(
    {},
    optional={
        "id": JSON,
        "fields": JSON,
        "version": JSON,
        "stamp": JSON,
        "event": JSON,
        "deleted": JSON,
        "rev": JSON,
        "at": JSON,
    },
)


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=200))
def test_any_bytes_are_a_record_or_a_positioned_error(body: bytes) -> None:
    result = decode_delivery("Account", SPEC, Delivery(body, "queue q, delivery tag 1"))

    assert isinstance(result, Record | ReadError)
    if isinstance(result, ReadError):
        assert isinstance(result.error, ValidationError)
        assert result.error.message.startswith("queue q, delivery tag 1: ")


@settings(max_examples=300, deadline=None)
@given(document=KEYED, routing_key=st.sampled_from(["", "wms.Account.deleted", "x.y.updated"]))
def test_any_json_object_is_a_record_with_an_id_or_an_error(
    document: dict[str, object], routing_key: str
) -> None:
    body = json.dumps(document).encode()

    result = decode_delivery("Account", SPEC, Delivery(body, "p", routing_key, "mid"))

    assert isinstance(result, Record | ReadError)
    if isinstance(result, Record):
        assert result.id != "" and result.version
        assert result.stamp is None or result.stamp.utcoffset() is not None
