"""The self-built app token signature (reference §B1, the vendor's 获取 access_token doc).

``signature = URLEncode(Base64(HmacSHA256(appSecret, msg)))`` where ``msg`` is every
parameter's name and value, sorted by name, concatenated, ``signature`` left out:
``"appKey" + appKey + "timestamp" + timestamp``. The URL encoding is the query string's
own: the connector hands the base64 text to httpx as a parameter value, which encodes it
once (``+`` → ``%2B``), so the server decodes exactly the base64.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

__all__ = ["signature"]


def signature(params: Mapping[str, str], app_secret: str) -> str:
    """The base64 HmacSHA256 over the sorted ``name+value`` pairs (not yet URL-encoded)."""
    message = "".join(f"{k}{params[k]}" for k in sorted(params) if k != "signature")
    digest = hmac.new(app_secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode("ascii")
