"""Every odd answer becomes an spi error with Salesforce's own message; no secret leaks."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from structlog.testing import capture_logs

from erpbridge.connectors.salesforce import SalesforceConnector, SalesforceSettings
from erpbridge.connectors.salesforce.errors import classify_response, classify_result_error
from erpbridge.sims._common.faults import FaultKind, FaultMiddleware
from erpbridge.sims.salesforce.app import SalesforceSim
from erpbridge.spi.errors import (
    AuthError,
    ConflictError,
    ConnectorError,
    NotFoundError,
    RateLimitedError,
    TransientError,
    ValidationError,
)
from erpbridge.spi.records import WriteMode, WriteOp, WriteOutcome
from erpbridge.spi.secrets import Secret

LOGIN_OK = {
    "access_token": "00DSm0000000001!AQsecret-session-value",
    "instance_url": "https://sf.test",
    "id": "https://sf.test/id/00DSm0000000001EAA/005Sm0000000001IAA",
}


def _mock_connector(
    settings: SalesforceSettings, answer: Callable[[httpx.Request], httpx.Response]
) -> SalesforceConnector:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/services/oauth2/token":
            return httpx.Response(200, json=LOGIN_OK)
        return answer(request)

    return SalesforceConnector(settings, httpx.AsyncClient(transport=httpx.MockTransport(handler)))


async def test_throttled_org_raises_rate_limited_with_a_wait(
    connector: SalesforceConnector, faults: FaultMiddleware
) -> None:
    await connector.check()
    faults.force(FaultKind.THROTTLE)
    with pytest.raises(RateLimitedError, match="REQUEST_LIMIT_EXCEEDED") as caught:
        await connector.describe()
    assert caught.value.retry_after_s == 20.0


async def test_daily_api_limit_raises_rate_limited_for_an_hour(
    connector: SalesforceConnector, sim: SalesforceSim
) -> None:
    await connector.check()
    sim.usage.used = sim.usage.max
    with pytest.raises(RateLimitedError, match="TotalRequests") as caught:
        await connector.get("Account", ["001Sm0000000001IAA"])
    assert caught.value.retry_after_s == 3600.0


async def test_html_maintenance_page_raises_transient_with_its_title(
    connector: SalesforceConnector, faults: FaultMiddleware
) -> None:
    await connector.check()
    faults.force(FaultKind.ERROR)
    with pytest.raises(TransientError, match="HTTP 503: Service Unavailable"):
        await connector.describe()


async def test_lost_reply_on_upsert_is_transient_and_a_retry_does_not_duplicate(
    connector: SalesforceConnector, faults: FaultMiddleware, sim: SalesforceSim
) -> None:
    op = WriteOp(WriteMode.UPSERT, {"Name": "Lost"}, key_field="ERP_Customer_Id__c", key_value="L1")
    await connector.check()
    faults.force(FaultKind.LOST_REPLY)
    with pytest.raises(TransientError, match="502"):
        await connector.write("Account", [op])
    retry = await connector.write("Account", [op])
    matches = [r for r in sim.org.records["Account"].values() if r["ERP_Customer_Id__c"] == "L1"]
    assert retry[0].outcome is WriteOutcome.UPDATED
    assert len(matches) == 1


async def test_wrong_credentials_raise_auth_error_on_first_call(
    make_connector: Callable[..., SalesforceConnector],
) -> None:
    connector = make_connector(client_secret=Secret.literal("wrong-secret"))
    with pytest.raises(AuthError, match="invalid_client"):
        await connector.describe()


async def test_malformed_soql_key_field_raises_validation_before_any_call(
    connector: SalesforceConnector,
) -> None:
    with pytest.raises(ValidationError, match="not a Salesforce API name"):
        await connector.find("Account", "Name) OR (Id", ["x"])


async def test_unknown_key_field_raises_validation_with_salesforce_text(
    connector: SalesforceConnector,
) -> None:
    with pytest.raises(ValidationError, match="No such column 'Nope__c'"):
        await connector.find("Account", "Nope__c", ["x"])


@pytest.mark.parametrize(
    ("response", "error", "text"),
    [
        (httpx.Response(200, html="<html><title>Down</title></html>"), ConnectorError, "text/html"),
        (httpx.Response(200, content=b""), ConnectorError, "empty body"),
        (
            httpx.Response(
                200, content=b'{"fields": [', headers={"content-type": "application/json"}
            ),
            ConnectorError,
            "invalid JSON",
        ),
        (httpx.Response(500, content=b""), TransientError, "empty body"),
        (httpx.Response(502, text="upstream broke"), TransientError, "upstream broke"),
        (httpx.Response(429, headers={"Retry-After": "9"}), RateLimitedError, "429"),
        (httpx.Response(200, json={"unexpected": "shape"}), ConnectorError, "without a fields"),
        (httpx.Response(200, json=[1, 2]), ConnectorError, "without a fields"),
    ],
)
async def test_odd_answers_become_spi_errors(
    settings: SalesforceSettings,
    response: httpx.Response,
    error: type[ConnectorError],
    text: str,
) -> None:
    connector = _mock_connector(settings, lambda request: response)
    with pytest.raises(error, match=text):
        await connector.schema("Account")


def test_retry_after_header_wins_over_the_default_wait() -> None:
    error = classify_response(httpx.Response(429, headers={"Retry-After": "9"}))
    assert isinstance(error, RateLimitedError)
    assert error.retry_after_s == 9.0


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("ENTITY_IS_LOCKED", ConflictError),
        ("UNABLE_TO_LOCK_ROW", TransientError),
        ("ENTITY_IS_DELETED", NotFoundError),
        ("INVALID_SESSION_ID", AuthError),
        ("FIELD_CUSTOM_VALIDATION_EXCEPTION", ValidationError),
        ("SOMETHING_NEW", ValidationError),
    ],
)
def test_collection_result_codes_map_to_spi_classes(code: str, cls: type[ConnectorError]) -> None:
    result = {"success": False, "errors": [{"statusCode": code, "message": "m", "fields": []}]}
    assert type(classify_result_error(result, object="Account")) is cls


async def test_secrets_never_reach_logs_errors_or_reprs(
    settings: SalesforceSettings,
) -> None:
    connector = _mock_connector(
        settings,
        lambda request: httpx.Response(
            401, json=[{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}]
        ),
    )
    with capture_logs() as logs, pytest.raises(AuthError) as caught:
        await connector.describe()
    shown = " ".join(
        [
            str(logs),
            str(caught.value),
            str(caught.value.raw),
            repr(connector),
            repr(connector.client),
        ]
    )
    shown += repr(connector.client.session) + repr(settings)
    for secret in (
        LOGIN_OK["access_token"],
        settings.password.reveal(),
        settings.client_secret.reveal() if settings.client_secret else "",
    ):
        assert secret not in shown
