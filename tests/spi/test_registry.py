from __future__ import annotations

import pytest

from erpbridge.spi import ConfigError, ConnectorRegistry
from tests.fakes import FAKE_CRM, fake_registry


def test_registered_connector_is_found() -> None:
    assert fake_registry().get("fakecrm") is FAKE_CRM


def test_unknown_connector_gets_did_you_mean() -> None:
    with pytest.raises(
        ConfigError, match="unknown connector type 'fakecmr'; did you mean 'fakecrm'"
    ):
        fake_registry().get("fakecmr")


def test_builtin_path_that_fails_to_import_is_a_config_error() -> None:
    registry = ConnectorRegistry(
        builtin={"ghost": "erpbridge.connectors.ghost:SPEC"}, use_entry_points=False
    )
    with pytest.raises(ConfigError, match="connector 'ghost' failed to load"):
        registry.get("ghost")


def test_builtin_attribute_must_be_a_spec() -> None:
    registry = ConnectorRegistry(
        builtin={"odd": "erpbridge.spi.errors:ConfigError"}, use_entry_points=False
    )
    with pytest.raises(ConfigError, match="does not export a ConnectorSpec"):
        registry.get("odd")


def test_every_builtin_connector_loads() -> None:
    registry = ConnectorRegistry(use_entry_points=False)
    for name in registry.names():
        spec = registry.get(name)
        assert spec.name == name
