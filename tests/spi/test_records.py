from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from erpbridge.spi import (
    ConnectorError,
    Cursor,
    RateLimitedError,
    TransientError,
    ValidationError,
    WriteOutcome,
    WriteResult,
)

aware = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@given(aware, st.text(max_size=20), st.floats(min_value=0, max_value=3600))
def test_cursor_json_round_trip(stamp: datetime, last_id: str, overlap_s: float) -> None:
    cursor = Cursor(stamp=stamp, last_id=last_id, overlap=timedelta(seconds=overlap_s))
    assert Cursor.from_json(cursor.to_json()) == cursor


@given(st.lists(st.tuples(aware, st.text(max_size=5)), min_size=1, max_size=30))
def test_cursor_advance_reaches_the_maximum_in_any_order(
    points: list[tuple[datetime, str]],
) -> None:
    cursor = Cursor(stamp=datetime(1999, 1, 1, tzinfo=UTC))
    for stamp, record_id in points:
        cursor = cursor.advance(stamp, record_id)
    assert (cursor.stamp, cursor.last_id) == max(points)


def test_same_stamp_orders_by_id_tie_break() -> None:
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    cursor = Cursor(stamp=stamp, last_id="0015")
    assert cursor.is_after(stamp, "0016")
    assert not cursor.is_after(stamp, "0014")
    assert cursor.read_from == stamp - timedelta(seconds=5)


def test_cursor_normalises_to_utc_and_refuses_naive() -> None:
    shanghai = datetime(2026, 1, 1, 8, tzinfo=timezone(timedelta(hours=8)))
    assert Cursor(stamp=shanghai).stamp == datetime(2026, 1, 1, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="naive"):
        Cursor(stamp=datetime(2026, 1, 1))


def test_retryable_belongs_to_the_error_class() -> None:
    assert TransientError("x").retryable
    assert RateLimitedError("slow down", retry_after_s=3).retry_after_s == 3
    assert RateLimitedError("x").retryable
    assert not ValidationError("bad", field="Name").retryable
    assert (
        str(ConnectorError("boom", system="sap", object="A_SalesOrder")) == "sap:A_SalesOrder: boom"
    )


def test_failed_write_result_needs_an_error() -> None:
    with pytest.raises(ValueError, match="carries an error"):
        WriteResult(ref="1", outcome=WriteOutcome.FAILED)
    with pytest.raises(ValueError, match="carries an error"):
        WriteResult(ref="1", outcome=WriteOutcome.CREATED, error=TransientError("x"))
