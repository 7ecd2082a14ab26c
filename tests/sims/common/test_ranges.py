"""RangeIndex: the keys from a value on are those a filter over every record finds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from erpbridge.sims._common.ranges import RangeIndex

_VALUE = st.none() | st.integers(0, 6)


@given(
    first=st.dictionaries(st.integers(0, 9), _VALUE),
    writes=st.lists(st.tuples(st.integers(0, 9), st.none() | _VALUE)),
    floor=st.integers(-1, 7),
)
def test_keys_from_a_value_on_are_the_records_a_full_scan_finds(
    first: dict[int, int | None], writes: list[tuple[int, int | None]], floor: int
) -> None:
    table = dict(first)
    index = RangeIndex((v, k) for k, v in table.items() if v is not None)
    for key, value in writes:  # value None: the record loses its value or is deleted
        index.move(key, table.get(key), value)
        table[key] = value

    found = index.keys_from(floor)

    assert found == sorted(
        (k for k, v in table.items() if v is not None and v >= floor),
        key=lambda k: (table[k], k),
    )
