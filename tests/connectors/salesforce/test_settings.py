"""Connection settings are checked at load: references for secrets, no unknown keys."""

from __future__ import annotations

import pydantic
import pytest

from erpbridge.connectors.salesforce import SalesforceSettings
from erpbridge.spi.secrets import SecretResolver

BASE = {
    "username": "integration@example.com",
    "password": "${env:SF_PASSWORD}",
    "client_id": "key",
    "client_secret": "${env:SF_SECRET}",
}


def _load(**changes: object) -> SalesforceSettings:
    resolver = SecretResolver(environ={"SF_PASSWORD": "pw-value", "SF_SECRET": "secret-value"})
    return SalesforceSettings.model_validate({**BASE, **changes}, context={"secrets": resolver})


def test_jwt_audience_follows_the_login_host() -> None:
    production = _load(auth="jwt", private_key="${env:SF_SECRET}")
    sandbox = _load(
        auth="jwt", private_key="${env:SF_SECRET}", base_url="https://test.salesforce.com"
    )
    assert production.audience == "https://login.salesforce.com"
    assert sandbox.audience == "https://test.salesforce.com"


def test_valid_settings_resolve_secret_references() -> None:
    settings = _load()
    assert settings.password.reveal() == "pw-value"
    assert "pw-value" not in repr(settings)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"password": "hunter2-plain"}, "a secret must be a reference"),
        ({"client_id": None}, "needs client_id and client_secret"),
        ({"auth": "jwt"}, "needs client_id and private_key"),
        ({"auth": "magic"}, "oauth_password"),
        ({"base_url": "login.salesforce.com"}, "must start with https://"),
        ({"api_version": "v59.0"}, "pattern"),
        ({"org_id": "not-an-org"}, "pattern"),
        ({"passwrd": "${env:X}"}, "Extra inputs are not permitted"),
        ({"password": "${env:NOT_SET_ANYWHERE}"}, "does not resolve"),
    ],
)
def test_bad_settings_are_refused_with_a_reason(changes: dict[str, object], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message) as caught:
        _load(**changes)
    assert "hunter2-plain" not in str(caught.value)
