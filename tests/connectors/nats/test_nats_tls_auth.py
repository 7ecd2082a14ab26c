"""TLS and logins (user/password, token, NKEY, JWT credentials) against a real nats-server.

Each module-scoped server is this machine's ``nats-server`` binary on a free port of
127.0.0.1, with certificates and keys made at test time (tests/connectors/nats/natsd.py).
Skipped, saying why, only when the binary is not installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nkeys
import pydantic
import pytest
import structlog.testing

from erpbridge.connectors.nats import NatsConnector, NatsObject, NatsSettings
from erpbridge.spi.records import WriteMode, WriteOp, WriteOutcome
from erpbridge.spi.secrets import Secret
from tests.connectors.nats.natsd import (
    Certs,
    NatsServer,
    Operator,
    find_nats_server,
    make_certs,
    make_operator,
    new_nkey,
    run_nats_server,
)

BINARY = find_nats_server()
pytestmark = pytest.mark.skipif(
    BINARY is None, reason="no nats-server binary (PATH, /usr/sbin; or set NATS_SERVER_BIN)"
)

PASSWORD = "nats-pw-0123456789"
TOKEN = "nats-token-abcdef0123"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("natsd")


@pytest.fixture(scope="module")
def certs(workdir: Path) -> Certs:
    return make_certs(workdir / "certs")


@pytest.fixture(scope="module")
def user_nkey() -> tuple[str, str]:
    return new_nkey(nkeys.PREFIX_BYTE_USER)


def _tls_block(certs: Certs, *, verify: bool) -> str:
    return (
        f'tls {{ cert_file: "{certs.server_cert}", key_file: "{certs.server_key}", '
        f'ca_file: "{certs.ca}", verify: {"true" if verify else "false"}, timeout: 3 }}\n'
    )


@pytest.fixture(scope="module")
def users_server(workdir: Path, certs: Certs, user_nkey: tuple[str, str]) -> Iterator[NatsServer]:
    """TLS with client certificates required; users by password and by NKEY."""
    assert BINARY is not None
    config = _tls_block(certs, verify=True) + (
        "authorization { users: [\n"
        f'  {{user: erp, password: "{PASSWORD}"}},\n'
        f"  {{nkey: {user_nkey[1]}}}\n"
        "]}\n"
    )
    with run_nats_server(BINARY, workdir / "users", config) as server:
        yield server


@pytest.fixture(scope="module")
def token_server(workdir: Path, certs: Certs) -> Iterator[NatsServer]:
    """TLS (server certificate only) and a token."""
    assert BINARY is not None
    config = _tls_block(certs, verify=False) + f'authorization {{ token: "{TOKEN}" }}\n'
    with run_nats_server(BINARY, workdir / "token", config) as server:
        yield server


@pytest.fixture(scope="module")
def operator() -> Operator:
    return make_operator()


@pytest.fixture(scope="module")
def jwt_server(workdir: Path, certs: Certs, operator: Operator) -> Iterator[NatsServer]:
    """Operator (JWT) mode over TLS: users log in with a credentials file."""
    assert BINARY is not None
    with run_nats_server(
        BINARY, workdir / "jwt", _tls_block(certs, verify=False) + operator.config
    ) as server:
        yield server


def _settings(server: NatsServer, certs: Certs, **values: object) -> NatsSettings:
    tls: dict[str, object] = {"ca_file": str(certs.ca)}
    if values.pop("client_cert", True):
        tls |= {"cert_file": str(certs.client_cert), "key_file": str(certs.client_key)}
    tls |= values.pop("tls", {})  # type: ignore[arg-type]
    return NatsSettings.model_validate(
        {
            "url": server.url,
            "tls": tls,
            "limits": {"timeout_s": 5},
            "objects": {"Account": NatsObject(stream="TLS_IN", subjects=("tlsin.Account.*",))},
            **values,
        }
    )


async def _round_trip(settings: NatsSettings) -> tuple[bool, str, list[WriteOutcome]]:
    """check(), then one event written: what a working login must allow."""
    connector = NatsConnector(settings)
    try:
        result = await connector.check()
        written = []
        if result.ok:
            op = WriteOp(WriteMode.CREATE, {"id": "A1"}, idempotency_key="tls-k1", ref="a")
            written = [r.outcome for r in await connector.write("Account", [op])]
        return result.ok, result.reason, written
    finally:
        await connector.aclose()


async def test_tls_with_a_client_certificate_and_user_password(
    users_server: NatsServer, certs: Certs
) -> None:
    settings = _settings(users_server, certs, user="erp", password=Secret.literal(PASSWORD))

    ok, reason, written = await _round_trip(settings)

    assert ok, reason
    assert written == [WriteOutcome.CREATED]


async def test_an_nkey_seed_logs_in(
    users_server: NatsServer, certs: Certs, user_nkey: tuple[str, str]
) -> None:
    settings = _settings(users_server, certs, nkey_seed=Secret.literal(user_nkey[0]))

    ok, reason, written = await _round_trip(settings)

    assert ok, reason
    assert written == [WriteOutcome.CREATED]


async def test_a_token_logs_in(token_server: NatsServer, certs: Certs) -> None:
    settings = _settings(token_server, certs, client_cert=False, token=Secret.literal(TOKEN))

    ok, reason, _ = await _round_trip(settings)

    assert ok, reason


async def test_a_credentials_file_logs_in_to_an_operator_mode_server(
    jwt_server: NatsServer, certs: Certs, operator: Operator
) -> None:
    settings = _settings(
        jwt_server, certs, client_cert=False, credentials=Secret.literal(operator.creds)
    )

    ok, reason, written = await _round_trip(settings)

    assert ok, reason
    assert written == [WriteOutcome.CREATED]  # the account's JetStream took the event


async def test_credentials_from_an_unknown_account_are_an_auth_error(
    jwt_server: NatsServer, certs: Certs, operator: Operator
) -> None:
    settings = _settings(
        jwt_server, certs, client_cert=False, credentials=Secret.literal(operator.other_creds)
    )

    ok, reason, _ = await _round_trip(settings)

    assert not ok and reason.startswith("AuthError"), reason


@pytest.mark.parametrize(
    ("values", "secret"),
    [
        ({"user": "erp", "password": Secret.literal("wrong-pw-777")}, "wrong-pw-777"),
        (
            {"nkey_seed": Secret.literal(new_nkey(nkeys.PREFIX_BYTE_USER)[0])},
            None,
        ),  # a valid seed the server does not list
        ({"nkey_seed": Secret.literal("SUNOTASEED")}, "SUNOTASEED"),
    ],
)
async def test_refused_logins_are_auth_errors_without_the_secret(
    users_server: NatsServer, certs: Certs, values: dict[str, object], secret: str | None
) -> None:
    with structlog.testing.capture_logs() as logs:
        ok, reason, _ = await _round_trip(_settings(users_server, certs, **values))

    assert not ok and reason.startswith("AuthError"), reason
    if secret is not None:
        assert secret not in reason and secret not in str(logs)


async def test_a_wrong_token_is_an_auth_error(token_server: NatsServer, certs: Certs) -> None:
    settings = _settings(token_server, certs, client_cert=False, token=Secret.literal("nope-123"))

    ok, reason, _ = await _round_trip(settings)

    assert not ok and reason.startswith("AuthError") and "nope-123" not in reason, reason


@pytest.mark.parametrize(
    ("tls", "fragment"),
    [
        ({"ca_file": "OTHER"}, "certificate verify failed"),  # a CA that did not sign it
        ({"server_name": "nats.elsewhere.example"}, "certificate verify failed"),
        ({"ca_file": "/nonexistent/ca.pem"}, "No such file"),
    ],
)
async def test_a_server_we_cannot_verify_is_an_auth_error(
    token_server: NatsServer, certs: Certs, tls: dict[str, str], fragment: str
) -> None:
    if tls.get("ca_file") == "OTHER":
        tls = {"ca_file": str(certs.other_ca)}
    settings = _settings(
        token_server, certs, client_cert=False, token=Secret.literal(TOKEN), tls=tls
    )

    ok, reason, _ = await _round_trip(settings)

    assert not ok and reason.startswith("AuthError") and fragment in reason, reason


async def test_no_client_certificate_where_the_server_requires_one_fails(
    users_server: NatsServer, certs: Certs
) -> None:
    settings = _settings(
        users_server, certs, client_cert=False, user="erp", password=Secret.literal(PASSWORD)
    )

    ok, reason, _ = await _round_trip(settings)

    assert not ok, reason


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"token": "${env:A}", "nkey_seed": "${env:B}"}, "not token and nkey_seed"),
        ({"user": "u", "password": "${env:A}", "credentials": "${env:B}"}, "not user/password"),
        ({"tls": {"cert_file": "/c.pem"}}, "cert_file and key_file go together"),
        ({"nkey_seed": "SUAAAAplain"}, "reference"),
    ],
)
def test_bad_login_settings_are_refused_at_load(values: dict[str, object], fragment: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=fragment) as info:
        NatsSettings.model_validate({"url": "tls://127.0.0.1:4222", **values})

    assert "SUAAAAplain" not in str(info.value)
