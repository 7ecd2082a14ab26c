from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import sqlalchemy as sa

from erpbridge.engine.enqueue import enqueue_changes
from erpbridge.spi.records import Change, Record
from erpbridge.store import json_codec, open_store
from erpbridge.store.schema import jobs


def test_values_orjson_refuses_are_still_written() -> None:
    wide = 2**70  # wider than 64 bits: orjson refuses it, the standard library writes it
    assert json.loads(json_codec.dumps({"n": wide})) == {"n": wide}


def test_text_is_written_as_it_is_without_ascii_escapes() -> None:
    assert json_codec.dumps({"name": "客户"}) == '{"name":"客户"}'


def test_old_rows_with_nan_still_read() -> None:
    assert math.isnan(json_codec.loads('{"x": NaN}')["x"])


def test_a_snapshot_goes_into_the_store_and_comes_back_equal(store_url: str) -> None:
    fields = {"n": 2**70, "name": "客户", "lines": [{"q": 1, "note": None}], "empty": None}
    record = Record(object="Order", id="O1", fields=fields, version="1")
    store = open_store(store_url)
    with store.begin() as conn:
        enqueue_changes(conn, "f", [Change.of(record)], "webhook", datetime.now(UTC))
    with store.connect() as conn:
        snapshot = conn.execute(sa.select(jobs.c.source_snapshot)).scalar_one()
    store.dispose()
    assert snapshot["fields"] == fields
