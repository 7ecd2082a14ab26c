"""A connector spec for config and CLI tests: settings only, no I/O.

It exists so that loading, validation and secret handling can be tested without any real
system; engine tests use their own in-test connector with fault injection.
"""

from __future__ import annotations

from erpbridge.spi import ConnectionSettings, ConnectorRegistry, ConnectorSpec, Secret


class FakeSettings(ConnectionSettings):
    base_url: str
    username: str
    password: Secret
    api_version: str = "59.0"


def _refuse(settings: ConnectionSettings, http: object) -> object:
    raise AssertionError("config tests never build a connector")


FAKE_CRM = ConnectorSpec(name="fakecrm", settings=FakeSettings, create=_refuse, kind="crm")  # type: ignore[arg-type]
FAKE_ERP = ConnectorSpec(name="fakeerp", settings=FakeSettings, create=_refuse, kind="erp")  # type: ignore[arg-type]


def fake_registry() -> ConnectorRegistry:
    registry = ConnectorRegistry(builtin={}, use_entry_points=False)
    registry.register(FAKE_CRM)
    registry.register(FAKE_ERP)
    return registry
