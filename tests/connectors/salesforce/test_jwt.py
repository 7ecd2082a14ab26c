"""JWT bearer flow: the connector signs its own assertion; the simulator checks it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from erpbridge.connectors.salesforce import SalesforceConnector, SalesforceSettings
from erpbridge.connectors.salesforce.client import jwt_assertion
from erpbridge.sims.salesforce import build_app
from erpbridge.sims.salesforce.jwt_bearer import app_key_file
from erpbridge.sims.salesforce.seed import SeedSize
from erpbridge.spi.errors import AuthError
from erpbridge.spi.secrets import Secret

from .conftest import SIM_URL


@pytest.fixture
def jwt_org(tmp_path: Path) -> tuple[httpx.AsyncClient, Path]:
    app, _ = build_app(tmp_path, size=SeedSize.small(), base_url=SIM_URL, jwt_key=True)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app)), app_key_file(tmp_path)


async def test_jwt_login_with_the_connected_app_key(
    jwt_org: tuple[httpx.AsyncClient, Path], settings: SalesforceSettings
) -> None:
    http, key_file = jwt_org
    chosen = settings.model_copy(
        update={"auth": "jwt", "private_key": Secret(f"${{file:{key_file}}}")}
    )
    async with http:
        result = await SalesforceConnector(chosen, http).check()
    assert result.ok, result.reason


async def test_jwt_for_another_audience_is_refused(
    jwt_org: tuple[httpx.AsyncClient, Path], settings: SalesforceSettings
) -> None:
    http, key_file = jwt_org
    chosen = settings.model_copy(
        update={
            "auth": "jwt",
            "private_key": Secret(f"${{file:{key_file}}}"),
            "jwt_audience": "https://elsewhere.example",
        }
    )
    async with http:
        result = await SalesforceConnector(chosen, http).check()
    assert not result.ok
    assert "audience is invalid" in result.reason


def test_a_non_rsa_key_is_refused_without_showing_it() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(AuthError, match="must be an RSA key") as caught:
        jwt_assertion(pem, issuer="i", subject="s", audience="a")
    assert "PRIVATE KEY" not in str(caught.value)


def test_garbage_key_is_refused_without_showing_it() -> None:
    with pytest.raises(AuthError, match="not a readable PEM") as caught:
        jwt_assertion("-----BEGIN nonsense", issuer="i", subject="s", audience="a")
    assert "nonsense" not in str(caught.value)
