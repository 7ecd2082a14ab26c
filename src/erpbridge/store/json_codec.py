"""How the store turns JSON columns (job snapshots, payloads, attempts) to text and back.

orjson, because a job's snapshot and payload are encoded and decoded on every intake,
claim and finish, and the standard library's encoder was a tenth of the hub's CPU in the
end-to-end benchmark (docs/performance.md). Anything orjson refuses (an integer wider
than 64 bits, an old row holding ``NaN``) goes through the standard library as before,
so no value that was storable before stops being storable.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["dumps", "loads"]

_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> str:
    """JSON text of ``value`` (UTF-8 characters as they are, no ASCII escapes)."""
    try:
        return orjson.dumps(value, option=_OPTIONS).decode("utf-8")
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value, ensure_ascii=False)


def loads(text: str | bytes) -> Any:
    """The value of JSON ``text``."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
