"""Salesforce record ids: 15-character case-sensitive form plus a 3-character checksum.

The checksum is Salesforce's published algorithm: for each 5-character chunk, a bit per
upper-case letter, indexed into ``A-Z0-5``. The 18-character form is case-insensitive.
"""

from __future__ import annotations

import re

__all__ = ["ID_PATTERN", "make_id", "to_18"]

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
# digits < upper < lower in ASCII, so fixed-width base62 sorts like the counter.
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ID_PATTERN = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
#: the simulated org's instance/pod characters in every id (positions 4-5).
_POD = "Sm"


def _checksum(id15: str) -> str:
    suffix = ""
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = sum(1 << i for i, c in enumerate(chunk) if "A" <= c <= "Z")
        suffix += _SUFFIX_ALPHABET[bits]
    return suffix


def to_18(record_id: str) -> str:
    """The 18-character form of a 15- or 18-character id (18 ids are returned as given)."""
    if len(record_id) == 15:
        return record_id + _checksum(record_id)
    return record_id


def make_id(prefix: str, number: int) -> str:
    """The 18-character id of the ``number``-th record with key prefix ``prefix``."""
    digits = ""
    n = number
    while n:
        n, r = divmod(n, 62)
        digits = _BASE62[r] + digits
    body = prefix + _POD + digits.rjust(10, "0")
    return to_18(body)
