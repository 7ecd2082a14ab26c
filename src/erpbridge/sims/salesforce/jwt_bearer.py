"""OAuth 2.0 JWT bearer flow: the connected app's certificate and assertion checks.

Copied behaviour (Salesforce help "OAuth 2.0 JWT Bearer Flow for Server-to-Server
Integration"): the client POSTs ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``
and ``assertion=<JWT>`` signed RS256 with the key whose certificate is uploaded to the
connected app; claims ``iss`` = consumer key, ``sub`` = username, ``aud`` = the login host
(``https://login.salesforce.com`` or ``https://test.salesforce.com``; the simulator also
accepts its own URL), ``exp`` in the future (Salesforce allows up to 3 minutes ahead;
the simulator only checks it has not passed). Refusals are 400 ``invalid_grant`` (or
``invalid_client_id`` for an unknown issuer); exact descriptions are UNSURE.

The sandbox makes the connected app's RSA key pair at first start (``connected_app.key``
in the simulator's data directory; its path is ``private_key_file`` in the ports file).
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = ["AUDIENCES", "JwtRefusedError", "app_key_file", "ensure_app_key", "verify_assertion"]

AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


class JwtRefusedError(Exception):
    """The assertion is refused: ``error`` and ``description`` as the token endpoint says."""

    def __init__(self, error: str, description: str) -> None:
        self.error, self.description = error, description
        super().__init__(f"{error}: {description}")


def app_key_file(data_dir: Path) -> Path:
    """Where the connected app's private key lives in a simulator's data directory."""
    return data_dir / "connected_app.key"


def ensure_app_key(data_dir: Path) -> rsa.RSAPublicKey:
    """The connected app's public key; the key pair is made on first use (kept on restart)."""
    path = app_key_file(data_dir)
    if not path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        path.chmod(0o600)
    private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(private, rsa.RSAPrivateKey):
        raise TypeError(f"{path} is not an RSA key")
    return private.public_key()


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_assertion(
    assertion: str, key: rsa.RSAPublicKey, *, consumer_key: str, base_url: str
) -> str:
    """The ``sub`` (username) of a valid assertion.

    Raises:
        JwtRefusedError: malformed, badly signed, wrong issuer/audience, or expired.
    """
    parts = assertion.split(".")
    if len(parts) != 3:
        raise JwtRefusedError("invalid_grant", "invalid assertion")
    try:
        header = json.loads(_b64(parts[0]))
        claims = json.loads(_b64(parts[1]))
        signature = _b64(parts[2])
    except (ValueError, UnicodeDecodeError):
        raise JwtRefusedError("invalid_grant", "invalid assertion") from None
    if not isinstance(header, dict) or header.get("alg") != "RS256" or not isinstance(claims, dict):
        raise JwtRefusedError("invalid_grant", "invalid assertion")
    try:
        key.verify(
            signature, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature:
        raise JwtRefusedError("invalid_grant", "invalid assertion") from None
    if claims.get("iss") != consumer_key:
        raise JwtRefusedError("invalid_client_id", "client identifier invalid")
    if claims.get("aud") not in (*AUDIENCES, base_url.rstrip("/")):
        raise JwtRefusedError("invalid_grant", "audience is invalid")
    try:
        expires = float(claims.get("exp", 0))  # simple-salesforce sends it as a string
    except (TypeError, ValueError):
        expires = 0.0
    if expires <= time.time():
        raise JwtRefusedError("invalid_grant", "expired authorization code")
    return str(claims.get("sub", ""))
