"""A private nats-server for TLS and login tests: certificates, NKEYs and JWTs made here.

The shared server on :4222 has no TLS and no users, so these tests start their own
``nats-server`` on a free port of 127.0.0.1 with a config written at test time: a
throw-away CA, server and client certificates (``cryptography``), user NKEYs and, for
operator (JWT) mode, operator, account and user JWTs signed with NKEYs as ``nsc`` would.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import ipaddress
import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nkeys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Certs", "NatsServer", "find_nats_server", "make_certs", "new_nkey", "run_nats_server"]


def find_nats_server() -> str | None:
    """The nats-server binary: ``$NATS_SERVER_BIN``, else on PATH, else /usr/sbin."""
    for candidate in (os.environ.get("NATS_SERVER_BIN"), shutil.which("nats-server")):
        if candidate and Path(candidate).is_file():
            return candidate
    for folder in ("/usr/sbin", "/usr/local/sbin", "/usr/local/bin"):
        path = Path(folder) / "nats-server"
        if path.is_file():
            return str(path)
    return None


@dataclass(frozen=True)
class Certs:
    """PEM files: the CA, the server's certificate and key, a client's certificate and key."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed nothing here: trusting it must fail


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _ca(folder: Path, name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey, Path]:
    key = _key()
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    path = folder / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key, path


def _leaf(
    folder: Path,
    name: str,
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    usage: x509.ObjectIdentifier,
) -> tuple[Path, Path]:
    key = _key()
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(ca[0].subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if usage == ExtendedKeyUsageOID.SERVER_AUTH:
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca[1], hashes.SHA256())
    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key_path, key)
    return cert_path, key_path


def make_certs(folder: Path) -> Certs:
    """A CA, a server certificate for localhost and 127.0.0.1, a client certificate."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key, ca_path = _ca(folder, "test-ca")
    _, _, other = _ca(folder, "other-ca")
    server = _leaf(folder, "server", (ca_cert, ca_key), ExtendedKeyUsageOID.SERVER_AUTH)
    client = _leaf(folder, "client", (ca_cert, ca_key), ExtendedKeyUsageOID.CLIENT_AUTH)
    return Certs(ca_path, server[0], server[1], client[0], client[1], other)


def new_nkey(prefix: int) -> tuple[str, str]:
    """A fresh NKEY: (seed, public key), e.g. ``prefix=nkeys.PREFIX_BYTE_USER``."""
    seed = nkeys.encode_seed(secrets.token_bytes(32), prefix).decode()
    pair = nkeys.from_seed(bytearray(seed.encode()))
    return seed, pair.public_key.decode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_jwt(issuer_seed: str, subject: str, name: str, nats_claims: dict[str, object]) -> str:
    """A NATS JWT (``alg: ed25519-nkey``) about ``subject``, signed by ``issuer_seed``."""
    issuer = nkeys.from_seed(bytearray(issuer_seed.encode()))
    claims = {
        "jti": base64.b32encode(secrets.token_bytes(20)).decode().rstrip("="),
        "iat": int(time.time()) - 60,
        "iss": issuer.public_key.decode(),
        "name": name,
        "sub": subject,
        "nats": {**nats_claims, "version": 2},
    }
    head = _b64(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
    body = _b64(json.dumps(claims).encode())
    signature = issuer.sign(f"{head}.{body}".encode())
    return f"{head}.{body}.{_b64(signature)}"


@dataclass(frozen=True)
class Operator:
    """Operator mode: the config lines for the server and a user's credentials file text."""

    config: str
    creds: str
    other_creds: str  # a user signed by an account the server does not know


def make_operator() -> Operator:
    """Operator, account (JetStream on) and user JWTs, as ``nsc`` would make them."""
    op_seed, op_pub = new_nkey(nkeys.PREFIX_BYTE_OPERATOR)
    acc_seed, acc_pub = new_nkey(nkeys.PREFIX_BYTE_ACCOUNT)
    operator = sign_jwt(op_seed, op_pub, "test-op", {"type": "operator"})
    unlimited = {k: -1 for k in ("subs", "data", "payload", "imports", "exports", "conn", "leaf")}
    jetstream = {k: -1 for k in ("mem_storage", "disk_storage", "streams", "consumer")}
    account = sign_jwt(
        op_seed,
        acc_pub,
        "erp",
        {"type": "account", "limits": {**unlimited, **jetstream, "wildcards": True}},
    )
    # JetStream in operator mode needs a system account for its internal subscriptions.
    _, sys_pub = new_nkey(nkeys.PREFIX_BYTE_ACCOUNT)
    system = sign_jwt(op_seed, sys_pub, "SYS", {"type": "account", "limits": unlimited})
    config = (
        f"operator: {operator}\n"
        f"system_account: {sys_pub}\n"
        "resolver: MEMORY\n"
        f"resolver_preload: {{\n  {acc_pub}: {account}\n  {sys_pub}: {system}\n}}\n"
    )
    return Operator(config, _creds(acc_seed), _creds(new_nkey(nkeys.PREFIX_BYTE_ACCOUNT)[0]))


def _creds(account_seed: str) -> str:
    user_seed, user_pub = new_nkey(nkeys.PREFIX_BYTE_USER)
    user = sign_jwt(
        account_seed,
        user_pub,
        "erpbridge",
        {"type": "user", "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1},
    )
    return (
        "-----BEGIN NATS USER JWT-----\n"
        f"{user}\n"
        "------END NATS USER JWT------\n\n"
        "-----BEGIN USER NKEY SEED-----\n"
        f"{user_seed}\n"
        "------END USER NKEY SEED------\n"
    )


@dataclass(frozen=True)
class NatsServer:
    """A running private server."""

    port: int

    @property
    def url(self) -> str:
        """``tls://127.0.0.1:<port>``."""
        return f"tls://127.0.0.1:{self.port}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def run_nats_server(binary: str, folder: Path, config: str) -> Iterator[NatsServer]:
    """Start ``binary`` with ``config`` (plus listen and JetStream lines) until the block ends.

    Raises:
        RuntimeError: the server did not start listening within 10 s (its log attached).
    """
    folder.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    conf = folder / "nats.conf"
    conf.write_text(
        f"listen: 127.0.0.1:{port}\n"
        f'jetstream {{ store_dir: "{folder / "js"}", max_memory_store: 64MB, '
        "max_file_store: 256MB }\n" + config,
        encoding="utf-8",
    )
    log = folder / "nats.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603 - the test's own server binary and config
            [binary, "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nats-server did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.05)
        yield NatsServer(port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
