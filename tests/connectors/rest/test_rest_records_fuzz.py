"""Fuzz: no list item, however odd, makes the reader raise; it is a record or an error."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from erpbridge.connectors.rest.records import record_of
from erpbridge.connectors.rest.settings import RestObject
from erpbridge.spi.records import ReadError, Record

SPEC = RestObject(path="/x", stamp_field="updated_at")
VALUE = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
ITEM = st.fixed_dictionaries({}, optional={"id": VALUE, "updated_at": VALUE, "name": VALUE})


@settings(max_examples=400, deadline=None)
@given(item=ITEM | VALUE | st.lists(VALUE, max_size=3))
def test_any_item_is_a_record_or_a_positioned_error(item: object) -> None:
    result = record_of("Customer", SPEC, item, "/x page 1 item 0")

    assert isinstance(result, Record | ReadError)
    if isinstance(result, Record):
        assert result.stamp is None or result.stamp.utcoffset() is not None
    else:
        assert result.error.message.startswith("/x page 1 item 0: ")
