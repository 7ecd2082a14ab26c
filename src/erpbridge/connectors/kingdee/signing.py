"""The signed headers of Kingdee's official SDK (``WebApiClient.BuildHeader``, SDK 8.2.0).

Written from the protocol (reference §1.2), not from the SDK's code: a test compares our
headers with the SDK's own for the same inputs and the same second.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from urllib.parse import quote, urlsplit

__all__ = ["client_secret_of", "sdk_hmac", "signed_headers"]

#: the SDK's built-in XOR key after its ROT13 step (``0054s397p6234378o09pn7q3r5qropr7``).
_XOR_KEY = b"0054f397c6234378b09ca7d3e5debce7"


def sdk_hmac(key: str, message: str) -> str:
    """base64 of the *hex* HMAC-SHA256, as the SDK computes it."""
    digest = hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()
    return base64.b64encode(digest.encode()).decode()


def client_secret_of(app_id: str) -> str:
    """The client secret encoded in the AppId suffix; '' when the AppId has none."""
    parts = app_id.split("_")
    if len(parts) != 2 or len(parts[1]) != 32:
        return ""
    try:
        raw = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        return ""
    return base64.b64encode(bytes(b ^ k for b, k in zip(raw, _XOR_KEY, strict=False))).decode()


def signed_headers(
    *,
    url: str,
    app_id: str,
    app_secret: str,
    acct_id: str,
    username: str,
    lcid: int,
    org_num: int,
    now_s: int,
) -> dict[str, str]:
    """The authentication headers for one POST to ``url`` at Unix time ``now_s``."""
    path = quote(urlsplit(url).path, encoding="utf-8").replace("/", "%2F")
    stamp = str(now_s)
    api_sign = f"POST\n{path}\n\nx-api-nonce:{stamp}\nx-api-timestamp:{stamp}\n"
    app_data = f"{acct_id},{username},{lcid},{org_num}"
    client_id = app_id.split("_")[0] if len(app_id.split("_")) == 2 else ""
    return {
        "X-Api-ClientID": client_id,
        "X-Api-Auth-Version": "2.0",
        "x-api-timestamp": stamp,
        "x-api-nonce": stamp,
        "x-api-signheaders": "x-api-timestamp,x-api-nonce",
        "X-Api-Signature": sdk_hmac(client_secret_of(app_id), api_sign),
        "X-Kd-Appkey": app_id,
        "X-Kd-Appdata": base64.b64encode(app_data.encode()).decode(),
        "X-Kd-Signature": sdk_hmac(app_secret, app_id + app_data),
    }
