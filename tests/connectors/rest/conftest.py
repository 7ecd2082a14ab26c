"""Fixtures: the test API in-process and rest connectors talking to it over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from erpbridge.connectors.rest import RestConnector, RestSettings
from tests.connectors.rest.api import ApiState, build_api

BASE_URL = "http://api.test"


@pytest.fixture
def state() -> ApiState:
    """The API's data and knobs; 25 customers, one per minute."""
    api = ApiState()
    api.seed(25)
    return api


@pytest.fixture
async def http(state: ApiState) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client whose transport is the test API (no network)."""
    transport = httpx.ASGITransport(app=build_api(state))
    async with httpx.AsyncClient(transport=transport, timeout=5) as client:
        yield client


@pytest.fixture
def connect(http: httpx.AsyncClient) -> Callable[..., RestConnector]:
    """A connector on the test API; keyword arguments override the settings."""

    def make(paging: str = "offset", **overrides: object) -> RestConnector:
        values: dict[str, object] = {
            "base_url": BASE_URL,
            "paging": {"type": paging},
            "objects": {
                "Customer": {
                    "path": "/customers/by-cursor" if paging == "cursor" else "/customers",
                    "item_path": "/customers/{id}",
                    "item_record_path": "data",
                    "stamp_field": "updated_at",
                    "change_filter": "updated_since",
                    "is_sorted": True,
                }
            },
        }
        if paging == "cursor":
            values["paging"] = {"type": "cursor", "cursor_path": "meta.next"}
        values.update(overrides)
        return RestConnector(RestSettings.model_validate(values), http)

    return make
